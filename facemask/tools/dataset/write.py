"""Writing the crops and keeping the output folder to what the manifest lists."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import numpy as np

from facemask.images import list_images, write_image
from facemask.labels import CLASSES
from facemask.tools.watermark import paste_watermark

from .crops import Crop, shrink
from .framing import TRAIN_MARGIN
from .splits import split_for

# Share of training crops of every class with a stock-photo watermark pasted on (facemask.tools.watermark): the
# web photos of incorrectly worn masks bring real ones to that class alone, which a model would learn.
WATERMARK_SHARE = 0.1

JPEG_QUALITY = 95


def unique_file(crop: Crop, used: set[str]) -> str:
    """`<class>/<name>.jpg`, with _2, _3 ... appended should two crops want the same name."""
    file, n = f"{crop.label}/{crop.name}.jpg", 1
    while file.lower() in used:  # lower(): names must differ on case-insensitive file systems too
        n += 1
        file = f"{crop.label}/{crop.name}_{n}.jpg"
    used.add(file.lower())
    return file


def manifest_row(crop: Crop, file: str, split: str) -> dict[str, str]:
    return {
        "file": file,
        "class": crop.label,
        "split": split,
        "source": crop.source,
        "source_image": crop.source_image,
        "box": " ".join(str(v) for v in crop.box) if crop.box is not None else "",
        "synthetic": str(int(crop.synthetic)),
    }


def crop_split(crop: Crop, val: float, test: float, seed: int) -> str:
    """Synthetic masks only train: validation and test measure real photos. Photos kept out of the test
    split share train and validation as the others do outside it."""
    if crop.synthetic:
        return "train"
    if not crop.testable:
        return split_for(crop.image_hash, val / (1 - test), 0.0, seed)
    return split_for(crop.image_hash, val, test, seed)


def watermarked(crop: Crop, share: float) -> bool:
    """Whether this training crop gets a watermark: the same `share` of each class, the same crops every run."""
    return zlib.crc32(f"watermark:{crop.name}".encode()) < share * 2**32


def write_crops(crops: Iterable[Crop], out: str | Path, *, val: float = 0.15, test: float = 0.15,
                seed: int = 42, train_margin: tuple[float, float] = TRAIN_MARGIN,
                watermarks: float = WATERMARK_SHARE, progress: TextIO | None = None) -> list[dict[str, str]]:
    """Write every crop as `out/<class>/<name>.jpg`; return the manifest rows, in the order written.
    Training faces are framed at random with `train_margin` (min, max) a side around their box, and a
    `watermarks` share of them carries a pasted stock-photo watermark."""
    out = Path(out)
    rows: list[dict[str, str]] = []
    used: set[str] = set()
    for crop in crops:
        split = crop_split(crop, val, test, seed)
        if split == "train" and crop.reframe is not None:
            box, pixels = crop.reframe(train_margin)
            if min(pixels.shape[:2]) >= 2:
                crop.box, crop.pixels = box, pixels
        if split == "train" and watermarked(crop, watermarks):
            rng = np.random.default_rng(zlib.crc32(crop.name.encode()))
            crop.pixels = paste_watermark(shrink(crop.pixels), rng)
        file = unique_file(crop, used)
        write_image(out / file, shrink(crop.pixels), jpeg_quality=JPEG_QUALITY)
        rows.append(manifest_row(crop, file, split))
        if progress is not None and len(rows) % 500 == 0:
            print(f"  {len(rows)} crops written (now {crop.source})", file=progress, flush=True)
    return rows


def remove_stale(out: Path, old: list[dict[str, str]], new: list[dict[str, str]]) -> int:
    """Delete crops an earlier run wrote that this run did not, so they cannot creep into training.

    Only files the old manifest lists are touched; anything else in `out` is left alone.
    """
    keep = {row["file"] for row in new}
    removed = 0
    for row in old:
        file = row.get("file", "")
        path = out / file
        inside = path.parent.parent == out and path.parent.name in CLASSES
        if file and file not in keep and inside and path.suffix == ".jpg" and path.is_file():
            path.unlink()
            removed += 1
    return removed


def unlisted_files(out: Path, rows: list[dict[str, str]]) -> int:
    """How many images in the class folders the manifest does not list (e.g. put there by hand)."""
    listed = {row["file"] for row in rows}
    return sum(
        1
        for label in CLASSES
        if (out / label).is_dir()
        for p in list_images(out / label)
        if f"{label}/{p.name}" not in listed
    )
