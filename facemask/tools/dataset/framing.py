"""How a face is framed in its crop: as the res10 SSD boxes it (validation, test), or at random (training)."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from facemask.faces import clip_box, crop_box
from facemask.types import Box

# How the res10 SSD frames a face compared with a VOC ground-truth box, measured once on 150 VOC images
# (75 from each of face-mask-voc and ilc2021-train; FaceFinder at confidence 0.3; 222 SSD boxes matched
# one-to-one to GT boxes at IoU >= 0.3, 3 touching the image border left out). Medians:
#   SSD width / GT width      1.018  (IQR 0.96-1.09; face-mask-voc 1.00, ilc2021-train 1.04)
#   SSD height / GT height    1.183  (IQR 1.06-1.29; face-mask-voc 1.21, ilc2021-train 1.12)
#   centre x offset / GT w   +0.000
#   centre y offset / GT h   -0.119  (the SSD takes in the forehead and stops just above the chin)
# The ratios barely change with face size (GT shorter side <32, 32-64, 64-128, >=128 px).
DETECTOR_WIDTH_SCALE = 1.02
DETECTOR_HEIGHT_SCALE = 1.18
DETECTOR_DX = 0.0
DETECTOR_DY = -0.12

# Training faces of VOC photos are framed at random between these (see random_framing), so that the model
# holds whether a face comes from YuNet, the SSD, or a box of the user's own with a margin around it.
# Per side, as a fraction of the annotated box's size. Up to 35 % since the retrain with the web sets
# (docs/results.md: it raised incorrect recall and narrowed the spread across framings on validation photos).
TRAIN_MARGIN = (-0.05, 0.35)
TRAIN_SHIFT = 0.06  # largest shift of the centre, as a fraction of the box's size


def expand_to_detector_box(box: tuple[float, float, float, float], img_w: int, img_h: int) -> Box:
    """Turn a ground-truth face box into the box the res10 SSD would draw around that face, within the image.

    VOC annotators box the face tightly; at run time the classifier sees the SSD's taller box, shifted up
    (see the measured constants above), so training on SSD-like crops avoids a framing mismatch.
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2 + DETECTOR_DX * w
    cy = (y1 + y2) / 2 + DETECTOR_DY * h
    half_w, half_h = w * DETECTOR_WIDTH_SCALE / 2, h * DETECTOR_HEIGHT_SCALE / 2
    return clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), img_w, img_h)


def random_framing(box: tuple[float, float, float, float], rng: np.random.Generator,
                   margin: tuple[float, float] = TRAIN_MARGIN) -> tuple[float, ...]:
    """The annotated box with a random margin on each side and a small shift: from tighter than YuNet's box
    to looser than the SSD's, as faces reach the classifier from different detectors or users."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    left, top, right, bottom = rng.uniform(*margin, size=4)
    dx, dy = rng.uniform(-TRAIN_SHIFT, TRAIN_SHIFT, size=2)
    return x1 - (left - dx) * w, y1 - (top - dy) * h, x2 + (right + dx) * w, y2 + (bottom + dy) * h


def reframer(image: np.ndarray, gt: Box, name: str) -> Callable[[tuple[float, float]], tuple[Box, np.ndarray]]:
    """A random framing of the face within the margins it is given, the same for the same face name and
    margins on every run."""
    def reframe(margin: tuple[float, float]) -> tuple[Box, np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        box = clip_box(random_framing(gt, rng, margin), image.shape[1], image.shape[0])
        return box, crop_box(image, box)
    return reframe
