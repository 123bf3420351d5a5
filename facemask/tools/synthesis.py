"""Paste masks onto real unmasked faces, worn correctly and incorrectly, to enlarge the scarce mask classes.

Real crops of incorrectly worn masks are few (a few hundred) and mostly of one or two mask styles, so the
classifier has little to learn "nose out" or "mask on the chin" from, and may learn "light blue = mask" instead.
This module takes real `without_mask` crops, finds five facial landmarks (MTCNN), and warps mask templates
(MaskTheFace's, with six anchor points each) onto them in three ways:

- `correct`: top edge at the nose bridge, bottom under the chin (nose and mouth covered) -> `with_mask`;
- `nose_out`: top edge just below the nose tip (nostrils visible) -> `incorrect_mask`;
- `chin`: top edge below the mouth, mask bunched on the chin and neck -> `incorrect_mask`;

with random templates, colours, printed textures, lighting and slight pose jitter. Because every synthetic
variant of a face comes from the same photo, only faces of the manifest's `train` split are used: validation
and test stay real photos, so the scores measure what the product sees.

Run `python -m facemask.tools.synthesis --help` for the command line.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import json
import os
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facemask.errors import FacemaskError
from facemask.files import atomic_path, write_json
from facemask.images import read_image
from facemask.tools.sheets import contact_sheet

KINDS = ("correct", "nose_out", "chin")
KIND_CLASS = {"correct": "with_mask", "nose_out": "incorrect_mask", "chin": "incorrect_mask"}
ANCHOR_NAMES = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
SOURCE = "synthetic"  # the manifest's `source` for rows this module writes; reruns replace exactly these
PREFIX = "synth_"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "class", "split", "source", "source_image", "box", "synthetic")
CACHE_NAME = ".synth_landmarks.json"
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
EXCLUDED_FAMILIES = ("gas",)  # gas masks / respirators are not what the product calls a face mask
TEXTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
JPEG_QUALITY = 95  # as the dataset importer writes crops: synthetic ones must not differ in compression

# Geometry, in units of the eye distance D unless noted (measured on real faces; see face_points).
BRIDGE = 0.3  # the nose bridge lies this fraction of the way from the eye midpoint to the nose tip
CHIN_PER_NOSE_MOUTH = 1.35  # mouth-to-chin drop, as a multiple of the nose-to-mouth drop ...
CHIN_PER_EYE = 0.62  # ... and as a multiple of D; the chin estimate averages the two
CHEEK_OUT = 0.52  # face side at cheek height: this far outside each eye
JAW_OUT = 0.42  # face side at mouth height: this far outside each mouth corner
MAX_YAW = 0.45  # beyond this (near profile) MTCNN's keypoints are unreliable and no template fits: skipped
YAW_SIDE = 0.18  # nose offset from the eye midpoint (in D) beyond which the left/right templates are used
JITTER = 0.035  # standard deviation of the target-point jitter, clipped at two of it
MIN_VISIBLE = 0.5  # a sample whose mask outline is less than this much inside the crop is not written

Keypoints = dict[str, tuple[float, float]]
LandmarkFn = Callable[[np.ndarray], "Keypoints | None"]


# ------------------------------------------------------------------------------------------ templates


@dataclass(frozen=True)
class Template:
    """A mask image with transparency and its six anchors: a, b, c along the top edge, d, e, f along the bottom."""

    name: str
    family: str  # the name without _left/_right: the same mask seen from another side
    view: str  # "front", "left" (mask centre towards image-left: face turned to image-left) or "right"
    image: np.ndarray  # HxWx4 BGRA uint8
    anchors: np.ndarray  # 6x2 float32, template pixels, in the order a..f


def _view(name: str) -> tuple[str, str]:
    for view in ("left", "right"):
        if name.endswith(f"_{view}"):
            return name[: -len(view) - 1], view
    return name, "front"


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, scale


def parse_masks_cfg(text: str) -> dict[str, dict[str, object]]:
    """Parse MaskTheFace's masks.cfg: {section: {"template": path, "anchors": 6x2 array}}.

    Sections without a template (`[empty]`, `[inpaint]`) or without all six anchors are left out; `;` lines are
    comments (the cfg keeps an old N95_left that way).
    """
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    cfg.read_string(text)
    out: dict[str, dict[str, object]] = {}
    for name in cfg.sections():
        section = cfg[name]
        if "template" not in section or not all(key in section for key in ANCHOR_NAMES):
            continue
        anchors = np.array([[float(v) for v in section[key].split(",")] for key in ANCHOR_NAMES], np.float32)
        out[name] = {"template": section["template"].strip(), "anchors": anchors}
    return out


def load_templates(folder: str | Path, exclude: Sequence[str] = EXCLUDED_FAMILIES,
                   max_side: int = 400) -> list[Template]:
    """Read `folder/masks.cfg` and the RGBA images in `folder/templates/`.

    The cfg's paths say `masks/templates/x.png` (MaskTheFace's layout): only the file name is used. Images are
    shrunk to `max_side` (anchors scaled with them) since crops are at most 256 px: smaller templates warp faster
    and alias less.
    """
    folder = Path(folder)
    entries = parse_masks_cfg((folder / "masks.cfg").read_text(encoding="utf-8"))
    templates = []
    for name, entry in entries.items():
        family, view = _view(name)
        if any(family.lower().startswith(prefix.lower()) for prefix in exclude):
            continue
        path = folder / "templates" / Path(str(entry["template"])).name
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] != 4:
            print(f"warning: {path}: missing or not an RGBA image; template {name} skipped", file=sys.stderr)
            continue
        image, scale = _shrink(image, max_side)
        anchors = np.asarray(entry["anchors"], np.float32) * scale
        templates.append(Template(name, family, view, image, anchors))
    return templates


def load_textures(folder: str | Path, max_side: int = 512) -> list[np.ndarray]:
    """Every image under `folder` (e.g. mask-templates/textures/*/*) as BGR uint8; transparent parts become white."""
    textures = []
    folder = Path(folder)
    if not folder.is_dir():
        return textures
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in TEXTURE_SUFFIXES:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            alpha = image[:, :, 3:].astype(np.float32) / 255
            image = (image[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
        textures.append(_shrink(image, max_side)[0])
    return textures


# ------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class FacePoints:
    """Landmarks in a face-aligned frame, so that mask geometry is the same for any roll.

    The frame's origin is the eye midpoint, `u` runs along the eye line (image-left to image-right) and `v` down
    the face; coordinates are in pixels. `x_at`/`left_at`/`right_at` give the face's centre line and sides at a
    height y, which is what the mask outline hugs.
    """

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    eye_dist: float
    roll: float  # degrees, positive when the eye line runs downwards to the image right
    yaw: float  # nose-tip offset from the eye midpoint along u, in eye distances (negative: turned image-left)
    nose: np.ndarray  # face-frame (x, y)
    mouth: np.ndarray  # face-frame midpoint of the mouth corners
    bridge: np.ndarray  # face-frame nose bridge
    chin: np.ndarray  # face-frame chin estimate (may lie outside the image)
    chin_visible: np.ndarray  # image (x, y) of the chin, clipped to the image
    sides: np.ndarray  # 3x3: rows (y, x_left, x_right) at cheek, jaw and chin height
    shape: tuple[int, int]

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Face-frame points (..., 2) to image pixels."""
        xy = np.asarray(xy, np.float64)
        return self.origin + xy[..., :1] * self.u + xy[..., 1:2] * self.v

    def to_face(self, p: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) to face-frame points."""
        d = np.asarray(p, np.float64) - self.origin
        return np.stack([d @ self.u, d @ self.v], axis=-1)

    def x_at(self, y: float) -> float:
        """The face's centre line at height y: through eye midpoint, nose tip, mouth and chin."""
        ys = [0.0, self.nose[1], self.mouth[1], self.chin[1]]
        xs = [0.0, self.nose[0], self.mouth[0], self.chin[0]]
        return float(np.interp(y, ys, xs))

    def left_at(self, y: float) -> float:
        return float(np.interp(y, self.sides[:, 0], self.sides[:, 1]))

    def right_at(self, y: float) -> float:
        return float(np.interp(y, self.sides[:, 0], self.sides[:, 2]))


def _point(keypoints: Keypoints, name: str) -> np.ndarray:
    return np.asarray(keypoints[name], np.float64).reshape(2)


def face_points(keypoints: Keypoints, image_shape: Sequence[int]) -> FacePoints:
    """Derive the points a mask is placed by from MTCNN's five keypoints.

    Five points say nothing directly about the chin or the face's sides, so they are estimated with average
    facial proportions scaled by the eye distance D (which hardly changes when the head tilts up or down):
    the chin lies below the mouth by ~1.5x the nose-to-mouth drop (~0.68 D); the sides lie ~0.5 D outside the
    eyes and ~0.4 D outside the mouth corners. When the head is turned, the side the nose points to is
    foreshortened, so each side is scaled by the nose's offset. Raises ValueError for keypoints no upright face
    has (nose above the eyes, mouth above the nose, eyes on top of each other).
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    eyes = sorted((_point(keypoints, "left_eye"), _point(keypoints, "right_eye")), key=lambda p: p[0])
    mouth_corners = sorted((_point(keypoints, "mouth_left"), _point(keypoints, "mouth_right")), key=lambda p: p[0])
    nose = _point(keypoints, "nose")
    eye_dist = float(np.linalg.norm(eyes[1] - eyes[0]))
    if eye_dist < 2:
        raise ValueError("eyes closer than 2 px")
    u = (eyes[1] - eyes[0]) / eye_dist
    v = np.array([-u[1], u[0]])
    origin = (eyes[0] + eyes[1]) / 2

    def frame(p: np.ndarray) -> np.ndarray:
        return np.array([(p - origin) @ u, (p - origin) @ v])

    nose_f = frame(nose)
    mouth_f = frame((mouth_corners[0] + mouth_corners[1]) / 2)
    ml_f, mr_f = frame(mouth_corners[0]), frame(mouth_corners[1])
    if nose_f[1] < 0.15 * eye_dist or mouth_f[1] < nose_f[1] + 0.1 * eye_dist:
        raise ValueError("implausible keypoints: nose must lie below the eyes and the mouth below the nose")
    yaw = float(nose_f[0] / eye_dist)
    drop = 0.5 * (CHIN_PER_NOSE_MOUTH * (mouth_f[1] - nose_f[1]) + CHIN_PER_EYE * eye_dist)
    chin_f = np.array([mouth_f[0] + 0.3 * (mouth_f[0] - nose_f[0]), mouth_f[1] + drop])
    # The side the nose points to is foreshortened; the other is seen more fully.
    asym = float(np.clip(yaw / 0.5, -1.0, 1.0))
    scale_l = float(np.clip(1 + 1.3 * asym, 0.2, 1.6))
    scale_r = float(np.clip(1 - 1.3 * asym, 0.2, 1.6))
    cheek_y = 0.5 * nose_f[1]
    sides = np.array([
        [cheek_y, -0.5 * eye_dist - CHEEK_OUT * eye_dist * scale_l, 0.5 * eye_dist + CHEEK_OUT * eye_dist * scale_r],
        [mouth_f[1], ml_f[0] - JAW_OUT * eye_dist * scale_l, mr_f[0] + JAW_OUT * eye_dist * scale_r],
        [chin_f[1], chin_f[0] - 0.3 * eye_dist * scale_l, chin_f[0] + 0.3 * eye_dist * scale_r],
    ])
    # Near profile the nose and mouth stick out past where the foreshortened side would be: keep them inside.
    reach = np.array([max(nose_f[0], 0.0), max(nose_f[0], mr_f[0]), chin_f[0]]) + 0.15 * eye_dist
    sides[:, 2] = np.maximum(sides[:, 2], reach)
    reach = np.array([min(nose_f[0], 0.0), min(nose_f[0], ml_f[0]), chin_f[0]]) - 0.15 * eye_dist
    sides[:, 1] = np.minimum(sides[:, 1], reach)
    chin_img = origin + chin_f[0] * u + chin_f[1] * v
    roll = float(np.degrees(np.arctan2(u[1], u[0])))
    return FacePoints(
        origin=origin, u=u, v=v, eye_dist=eye_dist, roll=roll, yaw=yaw, nose=nose_f, mouth=mouth_f,
        bridge=BRIDGE * nose_f, chin=chin_f, chin_visible=np.clip(chin_img, 0, [w - 1, h - 1]), sides=sides,
        shape=(h, w),
    )


def _outline(points: FacePoints, top: float, corner_drop: float, bottom: float, width: float = 1.0) -> np.ndarray:
    """Face-frame a..f for a mask whose top edge is at height `top` on the centre line and bottom at `bottom`.

    The corners a, c sit on the face's sides `corner_drop` below the top; d, f at 62% of the height, as wide as
    the jaw at mouth height (ear loops pull a mask's corners back along the jaw, wherever it is worn).
    """
    side_y = top + corner_drop
    low_y = top + 0.62 * (bottom - top)
    jaw_y = min(low_y, points.mouth[1])
    side_y_width = min(side_y, points.mouth[1])
    centre = points.x_at(top)
    bottom_centre = points.x_at(bottom)

    def side(x: float, c: float) -> float:
        return c + (x - c) * width

    return np.array([
        [side(points.left_at(side_y_width), centre), side_y],
        [centre, top],
        [side(points.right_at(side_y_width), centre), side_y],
        [side(points.left_at(jaw_y), bottom_centre), low_y],
        [bottom_centre, bottom],
        [side(points.right_at(jaw_y), bottom_centre), low_y],
    ])


def mask_quad(points: FacePoints, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The six image points (a..f, 6x2 float32) a template's anchors are warped to, for one way of wearing it.

    `correct` runs from the nose bridge to under the chin; `nose_out` starts just below the nose tip, leaving
    the nostrils free, and slides further under the chin; `chin` starts below the lower lip and is bunched on
    the chin and neck (less tall, narrower). Each point is jittered by a few % of the face size, clipped so that
    no jitter can move the top edge across the nose or mouth, which would change the label.
    """
    d = points.eye_dist
    nose_y, mouth_y, chin_y = points.nose[1], points.mouth[1], points.chin[1]
    if kind == "correct":
        top = points.bridge[1]
        outline = _outline(points, top, 0.45 * (nose_y - top), chin_y + 0.08 * d)
    elif kind == "nose_out":
        top = nose_y + 0.2 * d
        outline = _outline(points, top, 0.12 * d, chin_y + 0.25 * d)
    elif kind == "chin":
        top = mouth_y + 0.2 * d
        outline = _outline(points, top, 0.08 * d, max(chin_y + 0.3 * d, top + 0.55 * d), width=0.92)
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    sigma = JITTER * d
    jitter = np.clip(rng.normal(0.0, sigma, size=(6, 2)), -2 * sigma, 2 * sigma)
    centre = outline.mean(axis=0)
    outline = centre + (outline - centre) * [rng.uniform(0.94, 1.07), 1.0] + jitter
    return points.to_image(outline).astype(np.float32)


def choose_template(templates: Sequence[Template], yaw: float, rng: np.random.Generator) -> Template:
    """A random mask family, seen from the side the face is turned to (front view when the face looks ahead)."""
    if not templates:
        raise ValueError("no mask templates")
    families = sorted({t.family for t in templates})
    family = families[int(rng.integers(len(families)))]
    view = "left" if yaw < -YAW_SIDE else "right" if yaw > YAW_SIDE else "front"
    members = [t for t in templates if t.family == family]
    matching = [t for t in members if t.view == view] or [t for t in members if t.view == "front"] or members
    return matching[int(rng.integers(len(matching)))]


# -------------------------------------------------------------------------------------------- warping


def _support_box(weight: np.ndarray) -> np.ndarray:
    """Vertices (Nx2) of the convex hull of the template pixels that a warp actually shows (weight > 0).

    A homography's w is affine in the template point, so checking it at the hull's vertices checks every
    pixel inside; the hull, unlike the bounding box, leaves out the empty corners of a rounded mask.
    """
    points = cv2.findNonZero((weight > 1e-3).astype(np.uint8))
    if points is None:
        return np.zeros((1, 2))
    return cv2.convexHull(points).reshape(-1, 2).astype(np.float64) + 0.5


def _homography_ok(h: np.ndarray | None, corners: np.ndarray, shape: Sequence[int]) -> bool:
    """True when `h` keeps the polygon `corners` in front of the camera, unmirrored and near the image.

    A 4-point homography fitted to a narrow half of a side-view template can put its horizon through the
    rest of that half: beyond it the template would reappear mirrored, or be stretched across the image.
    """
    if h is None or not np.all(np.isfinite(h)):
        return False
    w = np.hstack([corners, np.ones((len(corners), 1))]) @ h[2]
    if np.any(w <= 1e-6):
        return False
    # The map's Jacobian determinant is det(h) / w**3, so with w > 0 the orientation is kept iff det(h) > 0.
    if np.linalg.det(h) <= 0:
        return False
    mapped = cv2.perspectiveTransform(corners[None].astype(np.float64), h)[0]
    reach = 1.5 * max(shape[:2])  # a mask can stick out of a tight crop, but not by more than the crop's size
    return bool(np.all(mapped > -reach) and np.all(mapped < np.array([shape[1], shape[0]]) + reach))


def _oriented(h: np.ndarray, src: np.ndarray) -> np.ndarray:
    """`h` scaled by -1 if need be so that w > 0 at the anchors: h and -h are the same map, but the checks in
    _homography_ok read the sign of w and of det(h)."""
    return -h if np.append(src.mean(axis=0), 1.0) @ h[2] < 0 else h


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine map of src to dst, as a 3x3 matrix: the last resort for a degenerate outline."""
    a = np.hstack([src, np.ones((len(src), 1))])
    m, *_ = np.linalg.lstsq(a, dst, rcond=None)
    return np.vstack([m.T, [0, 0, 1]])


def _warp(premult: np.ndarray, h: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpPerspective(premult, h, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_template(bgr: np.ndarray, alpha: np.ndarray, anchors: np.ndarray, targets: np.ndarray,
                  shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp a template (float BGR 0..1, alpha 0..1) so its anchors land on `targets`; return (bgr, alpha) at `shape`.

    Each half of the mask (a-b-e-d and b-c-f-e) gets its own exact 4-point homography. A single homography can
    only fit six points in the least-squares sense, which lets the top edge drift over the nose; two halves fit
    every anchor, and since both map b and e alike, they meet along the b-e line without a seam. When a half's
    homography is degenerate (it would fold or flip the template), one least-squares homography, and failing
    that an affine map, is used for the whole mask.
    """
    h_img, w_img = int(shape[0]), int(shape[1])
    src = np.asarray(anchors, np.float64)
    dst = np.asarray(targets, np.float64)
    # Shrink the template to about the size it will have, so that warping does not alias.
    scale = min(1.0, 1.5 * max(np.linalg.norm(dst[2] - dst[0]) / max(np.linalg.norm(src[2] - src[0]), 1e-6),
                               np.linalg.norm(dst[4] - dst[1]) / max(np.linalg.norm(src[4] - src[1]), 1e-6)))
    if scale < 1.0:
        size = (max(2, round(bgr.shape[1] * scale)), max(2, round(bgr.shape[0] * scale)))
        src = src * [size[0] / bgr.shape[1], size[1] / bgr.shape[0]]
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    th, tw = alpha.shape[:2]
    ones = np.ones_like(alpha)
    premult = np.dstack([bgr * alpha[:, :, None], alpha, ones]).astype(np.float32)  # last: coverage of the canvas
    out_size = (w_img, h_img)

    # Weight of the left half: 1 left of the b-e line, 0 right of it, feathered over a pixel or two.
    b, e = src[1], src[4]
    direction = (e - b) / max(np.linalg.norm(e - b), 1e-6)
    ys, xs = np.mgrid[0:th, 0:tw].astype(np.float32)
    cross = direction[0] * (ys - b[1]) - direction[1] * (xs - b[0])
    left = np.clip(0.5 + cross / 1.5, 0.0, 1.0)[:, :, None]
    halves = [(src[[0, 1, 4, 3]], dst[[0, 1, 4, 3]]), (src[[1, 2, 5, 4]], dst[[1, 2, 5, 4]])]
    homographies = [_oriented(cv2.getPerspectiveTransform(s.astype(np.float32), d.astype(np.float32)), s)
                    for s, d in halves]
    supports = [_support_box(left[:, :, 0] * alpha), _support_box((1 - left[:, :, 0]) * alpha)]
    if all(_homography_ok(h, box, shape) for h, box in zip(homographies, supports, strict=True)):
        warped = _warp(premult * left, homographies[0], out_size) + _warp(premult * (1 - left), homographies[1],
                                                                         out_size)
        # Near the b-e line the halves sample slightly different template points, so their weights need not
        # add up to 1 there; dividing by the warped weights removes the faint seam that would leave.
        warped[:, :, :4] /= np.maximum(warped[:, :, 4:], 1e-3)
    else:
        h_all, _ = cv2.findHomography(src, dst, 0)
        h_all = None if h_all is None else _oriented(h_all, src)
        if not _homography_ok(h_all, _support_box(alpha), shape):
            h_all = _affine(src, dst)
        warped = _warp(premult, h_all, out_size)
    alpha_out = np.clip(warped[:, :, 3], 0.0, 1.0)
    colour = warped[:, :, :3] / np.maximum(warped[:, :, 3:4], 1e-4)
    return np.clip(colour, 0.0, 1.0), alpha_out


# ----------------------------------------------------------------------------------------- appearance


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


# ------------------------------------------------------------------------------------------ landmarks


class MtcnnLandmarks:
    """MTCNN's five keypoints for one face crop (BGR); None when it finds no confident face of crop size.

    Crops are tight (forehead to chin) and MTCNN was trained on whole faces with some surroundings: on 100 of
    these crops it found 49% as they are and 83% after resizing to 128 px and adding a 25% grey border, which
    is what is done here, with a second try at 192 px (98% of the training crops then). TensorFlow is loaded
    on first use, and kept to `threads` CPU threads.
    """

    def __init__(self, min_confidence: float = 0.9, threads: int = 1, sizes: Sequence[int] = (128, 192),
                 pad: float = 0.25) -> None:
        self.min_confidence = min_confidence
        self.threads = threads
        self.sizes = tuple(sizes)
        self.pad = pad
        self._detector = None

    def _load(self):
        if self._detector is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import tensorflow as tf
            from mtcnn import MTCNN

            try:
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(self.threads)
            except RuntimeError:  # TensorFlow already running: keep its settings
                pass
            self._detector = MTCNN()
        return self._detector

    def _detect(self, bgr: np.ndarray, size: int) -> Keypoints | None:
        h, w = bgr.shape[:2]
        scale = size / max(h, w)
        image = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        pad = round(self.pad * size)
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        found = self._load().detect_faces(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)) or []
        # The crop's own face is large; a small face in the background of a crop is not it.
        found = [f for f in found if f["confidence"] >= self.min_confidence and max(f["box"][2:]) >= 0.35 * size]
        if not found:
            return None
        best = max(found, key=lambda f: f["box"][2] * f["box"][3])
        return {name: ((float(best["keypoints"][name][0]) - pad) / scale,
                       (float(best["keypoints"][name][1]) - pad) / scale) for name in KEYPOINT_NAMES}

    def __call__(self, bgr: np.ndarray) -> Keypoints | None:
        for size in self.sizes:
            keypoints = self._detect(bgr, size)
            if keypoints is not None:
                return keypoints
        return None


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def load_cache(path: Path) -> dict[str, dict]:
    """Landmarks found earlier, {relative file: {"key": size:mtime, "keypoints": {...} | None}}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -------------------------------------------------------------------------------------------- dataset


def read_manifest(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of a manifest; ([], []) when there is none."""
    if not path.is_file():
        return [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def write_manifest(path: Path, columns: Sequence[str], rows: Iterable[dict[str, str]]) -> None:
    """Rewrite the manifest atomically, so that a training run never reads half of it."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def training_faces(dataset: Path) -> tuple[list[str], bool]:
    """The real `without_mask` crops synthesis may use (paths relative to `dataset`), and whether a manifest said so.

    With a manifest, only its real (non-synthetic) `train` rows: a synthetic crop made from a validation or test
    face would put that face into training. Without one, every crop in `without_mask/`.
    """
    columns, rows = read_manifest(dataset / MANIFEST)
    if columns:
        files = sorted({r["file"] for r in rows if r.get("class") == "without_mask" and r.get("split") == "train"
                        and r.get("synthetic", "0") != "1" and r.get("source") != SOURCE})
        return [f for f in files if (dataset / f).is_file()], True
    folder = dataset / "without_mask"
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TEXTURE_SUFFIXES)
    return [p.relative_to(dataset).as_posix() for p in files], False


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"cannot encode {path}")
    with atomic_path(path) as tmp:
        buf.tofile(str(tmp))


def output_name(stem: str, kind: str, k: int) -> str:
    """Where a synthetic crop goes, relative to the dataset: the class folder its kind of wearing belongs in."""
    if kind == "correct":
        return f"with_mask/{PREFIX}{stem}_{k}.jpg"
    return f"{KIND_CLASS[kind]}/{PREFIX}{stem}_{kind}_{k}.jpg"


def face_rng(seed: int, stem: str, k: int, kind: str) -> np.random.Generator:
    """A generator that depends only on (seed, face, k, kind): --limit or a cache hit never changes a face's masks."""
    return np.random.default_rng([seed, zlib.crc32(stem.encode("utf-8")), k, KINDS.index(kind)])


def _progress(items: Sequence[str], enabled: bool) -> Iterable[str]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc="faces", unit="face", file=sys.stderr)


def _remove_old(dataset: Path, old_rows: list[dict[str, str]], keep: set[str]) -> int:
    """Delete synthetic crops of an earlier run that this run did not write again; return how many."""
    candidates = {r["file"] for r in old_rows}
    for folder in {KIND_CLASS[k] for k in KINDS}:
        if (dataset / folder).is_dir():
            candidates |= {f"{folder}/{p.name}" for p in (dataset / folder).glob(f"{PREFIX}*.jpg")}
    removed = 0
    for file in sorted(candidates - keep):
        path = dataset / file
        if path.name.startswith(PREFIX) and path.is_file():
            path.unlink()
            removed += 1
    return removed


def synthesize_dataset(dataset_dir: str | Path, templates_dir: str | Path, per_face: int = 1,
                       kinds: Sequence[str] = KINDS, seed: int = 42, limit: int | None = None,
                       landmarks: LandmarkFn | None = None, *, cache_path: str | Path | None = None,
                       sheet: str | Path | None = None, sheet_rows: int = 12, progress: bool = True) -> dict[str, int]:
    """Write masked versions of the training split's `without_mask` crops and list them in the manifest.

    `correct` crops go to `with_mask/synth_<stem>_<k>.jpg`, the others to
    `incorrect_mask/synth_<stem>_<kind>_<k>.jpg`; manifest rows get split=train, source=synthetic,
    source_image=the face they came from, synthetic=1. A rerun replaces everything an earlier run wrote (rows
    with source=synthetic and synth_*.jpg files), so runs never pile up. `limit` takes a seeded random sample
    of the faces, for a quick look. Landmarks (default: MTCNN) are cached in `cache_path` (default
    `<dataset>/.synth_landmarks.json`), so a rerun does not detect again. Without a manifest the crops are
    written but no manifest is created: one listing only synthetic crops would hide the real ones from training.
    Returns counts of what happened.
    """
    dataset, templates_dir = Path(dataset_dir), Path(templates_dir)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown kinds {unknown}; choose from {KINDS}")
    if per_face < 1:
        raise ValueError("per_face must be at least 1")
    templates = load_templates(templates_dir)
    if not templates:
        raise ValueError(f"no usable mask templates in {templates_dir}")
    textures = load_textures(templates_dir / "textures")
    files, has_manifest = training_faces(dataset)
    counts: Counter[str] = Counter(faces=len(files))
    if limit is not None and limit < len(files):
        pick = np.random.default_rng(seed).choice(len(files), size=max(0, limit), replace=False)
        files = [files[i] for i in sorted(pick)]
    counts["used"] = len(files)
    detect = landmarks or MtcnnLandmarks()
    cache_file = Path(cache_path) if cache_path is not None else dataset / CACHE_NAME
    cache = load_cache(cache_file)
    new_rows: list[dict[str, str]] = []
    sheet_images: list[tuple[str, np.ndarray]] = []
    detect_seconds = 0.0
    for n, file in enumerate(_progress(files, progress), 1):
        path = dataset / file
        face = read_image(path)
        if face is None:
            counts["unreadable"] += 1
            continue
        key = _cache_key(path)
        entry = cache.get(file)
        if entry is not None and entry.get("key") == key:
            keypoints = entry.get("keypoints")
            counts["cached"] += 1
        else:
            start = time.perf_counter()
            keypoints = detect(face)
            detect_seconds += time.perf_counter() - start
            counts["detected"] += 1
            cache[file] = {"key": key, "keypoints": None if keypoints is None else
                           {k: [round(float(c), 2) for c in v] for k, v in keypoints.items()}}
            if n % 100 == 0:
                write_json(cache_file, cache)
        if keypoints is None:
            counts["no_face"] += 1
            continue
        try:
            points = face_points(keypoints, face.shape)
        except ValueError:
            counts["bad_landmarks"] += 1
            continue
        if abs(points.yaw) > MAX_YAW:
            counts["profile"] += 1
            continue
        counts["faces_ok"] += 1
        stem = Path(file).stem
        row_images: list[tuple[str, np.ndarray]] = [("original", face)]
        for k in range(per_face):
            for kind in kinds:
                rng = face_rng(seed, stem, k, kind)
                targets = mask_quad(points, kind, rng)
                if visible_fraction(targets, face.shape) < MIN_VISIBLE:
                    counts[f"off_frame_{kind}"] += 1
                    continue
                template = choose_template(templates, points.yaw, rng)
                image = paste_mask(face, template, targets, rng, textures)
                name = output_name(stem, kind, k)
                _write_jpeg(dataset / name, image)
                counts[kind] += 1
                new_rows.append({
                    "file": name, "class": KIND_CLASS[kind], "split": "train", "source": SOURCE,
                    "source_image": file, "box": f"0 0 {face.shape[1]} {face.shape[0]}", "synthetic": "1",
                })
                if k == 0:
                    row_images.append((f"{kind} {template.name}", image))
        full_row = len(row_images) == len(kinds) + 1
        if sheet is not None and full_row and len(sheet_images) < sheet_rows * (len(kinds) + 1):
            sheet_images.extend(row_images)
    write_json(cache_file, cache)

    # Re-read the manifest now: another tool may have rewritten it while faces were being made.
    columns, rows = read_manifest(dataset / MANIFEST)
    old = [r for r in rows if r.get("source") == SOURCE]
    if columns:
        for column in MANIFEST_COLUMNS:
            if column not in columns:
                columns.append(column)
        write_manifest(dataset / MANIFEST, columns, [r for r in rows if r.get("source") != SOURCE] + new_rows)
    elif has_manifest:
        counts["manifest_vanished"] += 1
    counts["removed_old"] = _remove_old(dataset, old, {r["file"] for r in new_rows})
    counts["rows"] = len(new_rows)
    if sheet is not None and sheet_images:
        contact_sheet(sheet_images, sheet, columns=len(kinds) + 1)
    if counts["detected"]:
        counts["detect_ms_per_face"] = round(1000 * detect_seconds / counts["detected"])
    if progress:
        print(summary(counts, kinds, has_manifest and bool(columns)))
    return dict(counts)


def summary(counts: Counter[str] | dict[str, int], kinds: Sequence[str], manifest: bool) -> str:
    """A few lines on what a run did: faces used, landmark failures, crops written per kind."""
    lines = [
        f"train faces without mask: {counts.get('faces', 0)} (used {counts.get('used', 0)})",
        f"landmarks: {counts.get('faces_ok', 0)} ok, {counts.get('no_face', 0)} no face found, "
        f"{counts.get('bad_landmarks', 0)} implausible, {counts.get('profile', 0)} near profile, "
        f"{counts.get('unreadable', 0)} unreadable "
        f"({counts.get('cached', 0)} from cache, {counts.get('detected', 0)} detected"
        + (f", {counts['detect_ms_per_face']} ms/face" if "detect_ms_per_face" in counts else "") + ")",
    ]
    for kind in kinds:
        lines.append(f"{kind:>9} -> {KIND_CLASS[kind]}: {counts.get(kind, 0)} written, "
                     f"{counts.get(f'off_frame_{kind}', 0)} skipped (mask mostly outside the crop)")
    lines.append(f"manifest rows: {counts.get('rows', 0)}" + ("" if manifest else " (no manifest: none written)")
                 + f"; earlier synthetic crops removed: {counts.get('removed_old', 0)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m facemask.tools.synthesis",
        description="Paste masks onto the training split's without_mask crops: worn correctly (-> with_mask) and "
        "incorrectly, nose out or on the chin (-> incorrect_mask), and list them in the manifest as synthetic "
        "training rows. A rerun replaces the crops and rows of the previous run.")
    parser.add_argument("--dataset", type=Path, default=Path("dataset"),
                        help="dataset folder with without_mask/, with_mask/, incorrect_mask/ and manifest.csv "
                        "(default: dataset)")
    parser.add_argument("--templates", type=Path, default=Path("../shared/datasets/mask-templates"),
                        help="MaskTheFace mask folder with masks.cfg, templates/ and textures/ "
                        "(default: ../shared/datasets/mask-templates)")
    parser.add_argument("--per-face", type=int, default=1,
                        help="masked versions of each face per kind (default: 1)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated ways of wearing the mask, of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same crops (default: 42)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only a seeded random sample of N faces, for a quick look (default: all)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="also write a PNG contact sheet of examples here (original, then each kind)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"landmark cache file (default: DATASET/{CACHE_NAME})")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for MTCNN; the machine is shared, so 1 by default")
    parser.add_argument("--min-confidence", type=float, default=0.9,
                        help="MTCNN confidence below which a face counts as not found (default: 0.9)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problems = []
    if not (args.dataset / "without_mask").is_dir():
        problems.append(f"{args.dataset / 'without_mask'} is not a folder (--dataset)")
    if not (args.templates / "masks.cfg").is_file() or not (args.templates / "templates").is_dir():
        problems.append(f"{args.templates} has no masks.cfg and templates/ folder (--templates)")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or any(k not in KINDS for k in kinds):
        problems.append(f"--kinds {args.kinds!r}: choose from {', '.join(KINDS)}")
    if args.per_face < 1:
        problems.append("--per-face must be at least 1")
    if args.limit is not None and args.limit < 1:
        problems.append("--limit must be at least 1")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    from facemask.cli import run_command

    args.kinds = kinds
    return run_command(_synthesize, args)


def _synthesize(args: argparse.Namespace) -> None:
    try:
        synthesize_dataset(args.dataset, args.templates, per_face=args.per_face, kinds=args.kinds, seed=args.seed,
                           limit=args.limit, landmarks=MtcnnLandmarks(args.min_confidence, args.threads),
                           cache_path=args.cache, sheet=args.sheet)
    except (ValueError, OSError) as error:
        raise FacemaskError(str(error)) from error
    if args.sheet is not None:
        print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    sys.exit(main())
