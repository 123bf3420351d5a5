"""Faces from class folders of face crops and portraits; portraits are cropped to the face the SSD finds."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import cv2
import numpy as np

from facemask.faces import FaceFinder, SSDFaceFinder, clip_box, crop_box
from facemask.images import list_images
from facemask.labels import CLASSES, canonical_label
from facemask.types import Box

from .crops import SYNTHETIC_SOURCES, Crop, Report, load_new_image, relative, safe_stem

RECROP_MIN_SCORE = 0.5
RECROP_MAX_AREA = 0.6  # an SSD box covering more of the image than this means the image already is a crop
# The res10 SSD cannot frame a face that fills its input: on a tight crop it returns a confident bogus box in
# the lower right quadrant covering ~40% of the image, so every crop looked like a portrait (first full run:
# 1926/2141 mask-nomask-real/with_mask and 1876/1930 without_mask "recropped", the tight crops wrongly).
# A border of half the longer side on every side shrinks such a face to <= 1/4 of the SSD's input, which
# it frames properly (on 150 tight crops and portraits checked by eye); boxes are mapped back and clipped.
RECROP_PAD = 0.5
PAD_COLOR = (104, 117, 123)  # a neutral grey (BGR)
Recropper = Callable[[np.ndarray], Box | None]


class SSDRecropper:
    """Crops a portrait to the face the res10 SSD finds in it, so it is framed as at run time.

    The SSD runs on the image inside a border (see RECROP_PAD). Returns the most confident face's box, in
    the image's coordinates, when its score is at least `min_score` and it covers less than `max_area` of
    the image; otherwise None: no face found, or the image already is a face crop.
    """

    def __init__(self, finder: FaceFinder | None = None, min_score: float = RECROP_MIN_SCORE,
                 max_area: float = RECROP_MAX_AREA, pad: float = RECROP_PAD):
        self.finder = finder  # loaded on first use: tests and --no-recrop never need the model
        self.min_score = min_score
        self.max_area = max_area
        self.pad = pad

    def __call__(self, image: np.ndarray) -> Box | None:
        if self.finder is None:
            self.finder = SSDFaceFinder(confidence=self.min_score)
        h, w = image.shape[:2]
        pad = round(self.pad * max(h, w))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=PAD_COLOR)
        faces = self.finder.find(padded)
        if not faces or faces[0][1] < self.min_score:
            return None
        x1, y1, x2, y2 = clip_box(tuple(v - pad for v in faces[0][0]), w, h)
        area = (x2 - x1) * (y2 - y1)
        return (x1, y1, x2, y2) if 0 < area < self.max_area * w * h else None


def folder_crop(path: Path, label: str, *, source: str, root: Path, min_size: int,
                recrop: Recropper | None, report: Report) -> Crop | None:
    """The crop one class-folder image gives: the SSD's face box in a portrait, else the image itself."""
    loaded = load_new_image(path, label, source, report)
    if loaded is None:
        return None
    image, image_hash = loaded
    box = recrop(image) if recrop is not None else None
    if box is not None:
        report.recropped[f"{source}/{path.parent.name}"] += 1
    pixels = crop_box(image, box) if box is not None else image
    if min(pixels.shape[:2]) < min_size:
        report.too_small[source] += 1
        return None
    return Crop(pixels, label, source, relative(path, root), image_hash, box,
                f"{source}_{safe_stem(path.stem)}_0", source in SYNTHETIC_SOURCES)


def import_folders(mapping: Mapping[str | Path, str], *, root: str | Path | None = None, min_size: int = 32,
                   recrop: Recropper | None = None, report: Report | None = None) -> Iterator[Crop]:
    """Crops from class folders of face crops and portraits, e.g. {".../maskedfacenet/incorrect":
    "incorrect_mask"}. Labels may be any alias `canonical_label` knows.

    The source name is the folder's parent folder name; `root` (what `source_image` is relative to)
    defaults to the folder above that. Pass `recrop=SSDRecropper()` to crop portraits to their SSD face
    box; None keeps every image whole. Exact duplicate files (sha1) are dropped; images whose shorter side
    is below `min_size` after cropping are skipped.
    """
    report = report if report is not None else Report()
    for folder, name in mapping.items():
        folder = Path(folder)
        label = canonical_label(name)
        if label is None:
            raise ValueError(f"{folder}: {name!r} is none of the classes {CLASSES}")
        source = folder.resolve().parent.name
        base = Path(root) if root is not None else folder.resolve().parent.parent
        for path in list_images(folder):
            report.folder_images[f"{source}/{folder.name}"] += 1
            crop = folder_crop(path, label, source=source, root=base, min_size=min_size, recrop=recrop,
                               report=report)
            if crop is not None:
                yield crop
