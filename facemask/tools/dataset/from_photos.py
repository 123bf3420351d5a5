"""Faces from folders of whole photos of one class each: the face detector finds the face."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from facemask.faces import FaceFinder, crop_box
from facemask.images import list_images

from .crops import Crop, Report, load_new_image, relative, safe_stem
from .framing import reframer

PHOTO_MIN_SCORE = 0.8
# Photo faces checked by eye and left out: no mask to be seen on the face found, or no face at all.
PHOTO_EXCLUDED = frozenset(f"seed-kaggle-incorrect_incorrect-mask-{n}_0" for n in (1, 29, 88, 89, 92))


def photo_crop(path: Path, label: str, *, source: str, root: Path, min_size: int, finder: FaceFinder,
               report: Report) -> Crop | None:
    """The largest face the detector is sure of in a whole photo of one class, in the SSD's framing."""
    loaded = load_new_image(path, label, source, report)
    if loaded is None:
        return None
    image, image_hash = loaded
    faces = [box for box, score in finder.find(image) if score >= PHOTO_MIN_SCORE]
    if not faces:
        report.warn(path, f"no face found with a score of {PHOTO_MIN_SCORE} or more")
        return None
    box = max(faces, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    if min(box[2] - box[0], box[3] - box[1]) < min_size:
        report.too_small[source] += 1
        return None
    name = f"{source}_{safe_stem(path.stem)}_0"
    if name in PHOTO_EXCLUDED:
        return None
    return Crop(crop_box(image, box), label, source, relative(path, root), image_hash, box, name,
                reframe=reframer(image, box, name))


def import_photos(mapping: Mapping[str | Path, str], *, root: str | Path, min_size: int, finder: FaceFinder,
                  report: Report) -> Iterator[Crop]:
    """Face crops from folders of whole photos of one class each, e.g. {".../incorrect_mask": "incorrect_mask"}."""
    for folder, label in mapping.items():
        folder = Path(folder)
        source = folder.resolve().parent.name
        for path in list_images(folder):
            report.folder_images[f"{source}/{folder.name}"] += 1
            crop = photo_crop(path, label, source=source, root=Path(root), min_size=min_size, finder=finder,
                              report=report)
            if crop is not None:
                yield crop
