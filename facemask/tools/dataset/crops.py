"""One face crop on its way into the dataset, the report every importer adds to, and reading source images."""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from facemask.errors import ImageError, ImageTooLarge, printable
from facemask.images import decode_image, read_bytes, resize_longest
from facemask.types import Box

SYNTHETIC_SOURCES = frozenset({"maskedfacenet"})  # masks pasted on by software, not photographed
MAX_SIDE = 256


@dataclass
class Crop:
    """One face to write, with what the manifest records about where it came from."""

    pixels: np.ndarray  # BGR uint8
    label: str
    source: str  # dataset name, e.g. face-mask-voc
    source_image: str  # path of the source image relative to the datasets root, with /
    image_hash: str  # sha1 of the source image's bytes (of a near-duplicate group's first): decides the split
    box: Box | None  # where the crop lies in the source image; None when it is the whole image
    name: str  # file stem, e.g. face-mask-voc_maksssksksss0_2
    synthetic: bool = False
    testable: bool = True  # False: train or validation only (photos unlike the held-out ones)
    # Another framing of the same face for the training split, within the (min, max) margin a side it is
    # given: (box, pixels); None: keep this one.
    reframe: Callable[[tuple[float, float]], tuple[Box, np.ndarray]] | None = None


@dataclass
class Report:
    """Shared by the importers: which crops were already seen (so duplicates across sources are dropped)
    and every count the summary reports. Warnings go to `stream` as they happen, one line per file."""

    stream: TextIO | None = None
    warnings: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    bad_xml: list[str] = field(default_factory=list)
    unknown_labels: Counter = field(default_factory=Counter)
    too_small: Counter = field(default_factory=Counter)  # per source
    duplicates: Counter = field(default_factory=Counter)  # per source
    label_conflicts: int = 0  # duplicates whose first copy has another class
    folder_images: Counter = field(default_factory=Counter)  # per "source/folder"
    recropped: Counter = field(default_factory=Counter)  # per "source/folder"
    relabelled: Counter = field(default_factory=Counter)  # per "source: was -> ours"
    seen: dict[str, str] = field(default_factory=dict)  # dedup key -> class

    def warn(self, path: str | Path, reason: str) -> None:
        """Print and keep one warning line about a skipped file."""
        line = f"warning: skipped {printable(str(path))}: {printable(reason)}"
        self.warnings.append(line)
        print(line, file=self.stream if self.stream is not None else sys.stderr, flush=True)

    def first_time(self, key: str, label: str, source: str) -> bool:
        """True the first time a crop key is met; later copies are counted as duplicates and dropped."""
        if key not in self.seen:
            self.seen[key] = label
            return True
        self.duplicates[source] += 1
        self.label_conflicts += self.seen[key] != label
        return False


def read_source(path: Path, report: Report) -> tuple[np.ndarray, str] | None:
    """The file's bytes and their sha1; None (with a warning) when the file cannot be read, or is too large."""
    try:
        data = read_bytes(path)
    except ImageError as e:
        report.unreadable.append(str(path))
        report.warn(path, f"cannot read: {str(e).removeprefix(f'{path}: ')}")
        return None
    return data, hashlib.sha1(data.tobytes()).hexdigest()


def load_with_hash(path: Path, report: Report) -> tuple[np.ndarray, str] | None:
    """(BGR image, sha1 of the file); None, with one warning, when it is unreadable or corrupt."""
    source = read_source(path, report)
    if source is None:
        return None
    image = decode_or_report(source[0], path, report)
    return None if image is None else (image, source[1])


def decode_or_report(data: np.ndarray, path: Path, report: Report) -> np.ndarray | None:
    """The decoded image; None, with the file named once as unreadable, when the bytes are no image or declare
    too many pixels."""
    try:
        image = decode_image(data)
    except ImageTooLarge as e:
        report.unreadable.append(str(path))
        report.warn(path, str(e))
        return None
    if image is None:
        report.unreadable.append(str(path))
        report.warn(path, "not a readable image (corrupt or truncated)")
    return image


def shrink(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Scale down so the longer side is at most `max_side`: the model takes 224 px, more only costs disk."""
    return image if max(image.shape[:2]) <= max_side else resize_longest(image, max_side)


def load_new_image(path: Path, label: str, source: str, report: Report) -> tuple[np.ndarray, str] | None:
    """(image, sha1 of the file) the first time these bytes are met; None for a duplicate (counted) or an
    unreadable file (warned about)."""
    raw = read_source(path, report)
    if raw is None or not report.first_time(raw[1], label, source):
        return None
    image = decode_or_report(raw[0], path, report)
    return None if image is None else (image, raw[1])


def safe_stem(stem: str) -> str:
    """A file-name-safe version of a source file's stem (crop names end up in the manifest and on disk)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` with forward slashes; the path as given if it lies elsewhere."""
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.as_posix()
