"""How a pasted mask looks: random colours or prints that keep the template's shading, lit and blurred as the
photo is; and `synthesize`, which puts one mask on one face."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facemask.tools.synthesis.geometry import Keypoints, choose_template, face_points, mask_quad
from facemask.tools.synthesis.templates import Template
from facemask.tools.synthesis.warp import warp_template


def _gray(bgr: np.ndarray) -> np.ndarray:
    return bgr @ np.array([0.114, 0.587, 0.299], np.float32)


def _shading(bgr: np.ndarray, alpha: np.ndarray, contrast: float) -> np.ndarray:
    """The template's brightness relative to its mean (pleats, folds, seams), with its contrast scaled."""
    gray = _gray(bgr)
    inside = alpha > 0.5
    mean = float(gray[inside].mean()) if inside.any() else float(gray.mean())
    shade = gray / max(mean, 0.02)
    return np.clip(1 + (shade - 1) * contrast, 0.15, 2.0)[:, :, None]


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random mask colour (BGR 0..1): a third achromatic (white, grey, black), the rest any hue."""
    if rng.random() < 0.35:
        level = rng.choice([rng.uniform(0.75, 0.97), rng.uniform(0.35, 0.75), rng.uniform(0.06, 0.3)])
        return np.full(3, level, np.float32)
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(50, 230), rng.integers(80, 245)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32) / 255


def _tiled_texture(texture: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Tile `texture` over `shape` with a random scale (2 to 5 repeats across) and offset."""
    th, tw = shape
    repeat = rng.uniform(1.5, 4.0)
    scale = tw / repeat / texture.shape[1]
    tile = cv2.resize(texture, (max(4, round(texture.shape[1] * scale)), max(4, round(texture.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        tile = cv2.rotate(tile, cv2.ROTATE_90_CLOCKWISE)
    reps = (th // tile.shape[0] + 2, tw // tile.shape[1] + 2, 1)
    big = np.tile(tile, reps)
    oy, ox = int(rng.integers(tile.shape[0])), int(rng.integers(tile.shape[1]))
    return big[oy:oy + th, ox:ox + tw].astype(np.float32) / 255


def restyle(template: Template, rng: np.random.Generator, textures: Sequence[np.ndarray] = (),
            texture_p: float = 0.4, keep_p: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """The template's colours changed, keeping its shading: (float BGR 0..1, alpha 0..1).

    The templates come in few colours (white, light blue, green, black); real masks are any colour or printed.
    With probability `texture_p` a print texture is multiplied in; otherwise the mask gets a random colour, or
    (probability `keep_p`) keeps its own. Either way the template's own brightness pattern is multiplied back,
    so the mask still shows its pleats and folds.
    """
    bgr = template.image[:, :, :3].astype(np.float32) / 255
    alpha = template.image[:, :, 3].astype(np.float32) / 255
    if textures and rng.random() < texture_p:
        texture = textures[int(rng.integers(len(textures)))]
        base = _tiled_texture(texture, alpha.shape, rng)
        bgr = base * _shading(bgr, alpha, rng.uniform(0.6, 0.9))
    elif rng.random() >= keep_p:
        bgr = random_colour(rng) * _shading(bgr, alpha, rng.uniform(0.7, 1.0))
    return np.clip(bgr * _roundness(template, rng), 0.0, 1.0), alpha


def _roundness(template: Template, rng: np.random.Generator) -> np.ndarray:
    """A brightness falloff towards the mask's sides plus a light coming from one side (HxWx1).

    A mask wraps round the face, so its sides face away from the light; flat templates pasted as they are look
    like stickers. The falloff is quadratic in the distance from the b-e line, relative to the anchors' reach.
    """
    h, w = template.image.shape[:2]
    a, b, c, _, e, _ = template.anchors
    centre = (b[0] + e[0]) / 2
    xs = np.arange(w, dtype=np.float32)
    reach = np.where(xs < centre, max(centre - a[0], 1.0), max(c[0] - centre, 1.0))
    t = np.clip((xs - centre) / reach, -1.5, 1.5)
    profile = 1 - rng.uniform(0.05, 0.3) * t * t + rng.uniform(-0.12, 0.12) * t
    return np.broadcast_to(profile[None, :, None], (h, w, 1)).astype(np.float32)


def blur_sigma(face: np.ndarray) -> float:
    """How blurred the photo is, as the Gaussian sigma (px) that would blur a sharp face crop as much.

    A freshly warped template is sharper than most crops (small, upscaled, JPEG'd faces); a sharp mask on a soft
    face is a cue the classifier could learn instead of the mask. The ratio of mean |Laplacian| to mean gradient
    falls as 1/sigma: ~0.35 for sharp crops, ~0.1 after a sigma-1 blur (measured on crops of this dataset).
    """
    gray = _gray(face.astype(np.float32))
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    gradient = float(np.sqrt(gx * gx + gy * gy).mean())
    if gradient < 1e-6:
        return 0.0
    ratio = float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean()) / gradient
    return float(np.clip(0.1 / max(ratio, 1e-3), 0.0, 2.5))


def _match_lighting(mask: np.ndarray, alpha: np.ndarray, face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken or brighten the mask as the photo is lit, then jitter its contrast and brightness.

    A white mask stays white only in a well-lit photo. The light is estimated from both the face region the
    mask covers (skin is ~0.55 gray when well lit) and the crop's bright end (its 95th percentile), so that
    dark skin alone does not darken the mask as much as a dark photo does.
    """
    gray = _gray(face)
    inside = alpha > 0.5
    skin = float(gray[inside].mean()) if inside.sum() >= 10 else float(gray.mean())
    bright = float(np.percentile(gray, 95))
    light = float(np.clip(np.sqrt(max(skin, 0.02) / 0.55 * max(bright, 0.02) / 0.85), 0.3, 1.2))
    mask = mask * light ** rng.uniform(0.6, 1.0)
    mean = float(_gray(mask)[inside].mean()) if inside.any() else 0.5
    mask = (mask - mean) * rng.uniform(0.85, 1.1) + mean + rng.normal(0.0, 0.03)
    return np.clip(mask, 0.0, 1.0)


def paste_mask_alpha(face_bgr: np.ndarray, template: Template, targets: np.ndarray, rng: np.random.Generator,
                     textures: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
    """`paste_mask`, also returning the mask's coverage (float 0..1 per pixel): tests and checks need it."""
    face = face_bgr.astype(np.float32) / 255
    bgr, alpha = restyle(template, rng, textures)
    warped, cover = warp_template(bgr, alpha, template.anchors, targets, face.shape)
    warped = _match_lighting(warped, cover, face, rng)
    blur = blur_sigma(face) * rng.uniform(0.8, 1.25)
    if blur > 0.35:
        warped = cv2.GaussianBlur(warped, (0, 0), blur)
    warped = np.clip(warped + rng.normal(0.0, rng.uniform(0.0, 0.015), warped.shape).astype(np.float32), 0, 1)
    cover = cv2.GaussianBlur(cover, (0, 0), max(blur, rng.uniform(0.4, 0.7)))  # a soft edge, as soft as the photo
    out = face * (1 - cover[:, :, None]) + warped * cover[:, :, None]
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8), cover


def paste_mask(face_bgr: np.ndarray, template: Template, targets: np.ndarray, rng: np.random.Generator,
               textures: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Warp `template` (restyled at random) onto `face_bgr` so its anchors land on `targets`; same shape, uint8."""
    return paste_mask_alpha(face_bgr, template, targets, rng, textures)[0]


def synthesize(face_bgr: np.ndarray, keypoints: Keypoints, kind: str, templates: Sequence[Template],
               rng: np.random.Generator, textures: Sequence[np.ndarray] = ()) -> np.ndarray:
    """One face with a random mask worn as `kind` says ("correct", "nose_out" or "chin")."""
    points = face_points(keypoints, face_bgr.shape)
    targets = mask_quad(points, kind, rng)
    template = choose_template(templates, points.yaw, rng)
    return paste_mask(face_bgr, template, targets, rng, textures)


def visible_fraction(targets: np.ndarray, shape: Sequence[int]) -> float:
    """How much of the mask outline a..c, f..d lies inside the image (0..1)."""
    outline = np.asarray(targets, np.float32)[[0, 1, 2, 5, 4, 3]]
    area = cv2.contourArea(outline)
    if area <= 0:
        return 0.0
    h, w = int(shape[0]), int(shape[1])
    clipped, _ = cv2.intersectConvexConvex(outline, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
    if clipped > 0:
        return float(min(1.0, clipped / area))
    canvas = np.zeros((h, w), np.uint8)  # the outline need not be convex: count pixels instead
    cv2.fillPoly(canvas, [np.round(outline).astype(np.int32)], 1)
    return float(min(1.0, canvas.sum() / area))
