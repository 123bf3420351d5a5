"""Where a mask sits: a face-aligned frame from MTCNN's five keypoints, and the six points a template's anchors
are warped to for each way of wearing it (`correct`, `nose_out`, `chin`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facemask.tools.synthesis.templates import Template

KINDS = ("correct", "nose_out", "chin")

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
    sides: np.ndarray  # 3x3: rows (y, x_left, x_right) at cheek, jaw and chin height
    shape: tuple[int, int]

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Face-frame points (..., 2) to image pixels."""
        xy = np.asarray(xy, np.float64)
        return self.origin + xy[..., :1] * self.u + xy[..., 1:2] * self.v

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
    roll = float(np.degrees(np.arctan2(u[1], u[0])))
    return FacePoints(
        origin=origin, u=u, v=v, eye_dist=eye_dist, roll=roll, yaw=yaw, nose=nose_f, mouth=mouth_f,
        bridge=BRIDGE * nose_f, chin=chin_f, sides=sides,
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
