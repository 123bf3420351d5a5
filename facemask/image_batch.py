"""Mask detection over image files: an annotated copy of each, and a CSV with one row per face."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .detector import MaskDetector
from .errors import ImageError, ImageTooLarge, OutputError, warn
from .files import atomic_path, readable_text
from .images import load_image, write_image
from .interrupt import signal_of
from .labels import counts_text
from .overlay import draw_faces
from .types import sure_counts

CSV_FIELDS = ("file", "x1", "y1", "x2", "y2", "label", "confidence", "face_score", "unsure")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


@dataclass
class ImageSummary:
    images: int = 0  # read, detected and written
    unreadable: int = 0
    unwritten: int = 0  # read, but the annotated copy could not be written: skipped
    without_faces: int = 0
    faces: Counter = field(default_factory=Counter)  # per class, of the faces big enough to tell
    unsure: int = 0  # faces too small to tell
    interrupted: int | None = None  # the signal that stopped the run (Ctrl-C: SIGINT)

    def __str__(self) -> str:
        return (f"{self.images} images, faces: {counts_text(self.faces, self.unsure)}; "
                f"{self.without_faces} image(s) without faces, {self.unreadable} unreadable"
                + (f", {self.unwritten} not written" if self.unwritten else ""))


def copy_path(path: Path, root: Path, output: Path) -> Path:
    """Where the annotated copy of `path` goes: the same place under `output` as under the input folder."""
    return output / (path.relative_to(root) if root.is_dir() else path.name)


def detect_images(
    detector: MaskDetector, paths: list[Path], root: str | Path, output: str | Path, csv_path: str | Path,
    progress: bool = False,
) -> ImageSummary:
    """Detect, annotate and write each image; an unreadable one is one warning line and a count, not a stop.

    The CSV is written once at the end, whole, even after Ctrl-C: its rows then cover the images done."""
    root, output = Path(root), Path(output)
    from tqdm import tqdm

    summary, rows = ImageSummary(), []
    try:
        for path in tqdm(paths, unit="image", file=sys.stderr, disable=not progress, mininterval=0.5):
            image = read_or_warn(path)
            if image is None:
                summary.unreadable += 1
                continue
            faces = detector.detect(image)
            draw_faces(image, faces)
            if not write_or_warn(copy_path(path, root, output), image):
                summary.unwritten += 1
                continue
            summary.images += 1
            summary.without_faces += not faces
            summary.faces.update(sure_counts(faces))
            summary.unsure += sum(f.unsure for f in faces)
            rows += [(str(path), *f.box, f.label, f"{f.confidence:.4f}", f"{f.score:.4f}", int(f.unsure))
                     for f in faces]
    except KeyboardInterrupt as e:
        summary.interrupted = signal_of(e)
    write_csv(csv_path, rows)
    return summary


def write_or_warn(path: Path, image) -> bool:
    """Write an annotated copy; False after one warning when it cannot be (a name too long, a full disk, a
    planted name): one bad output skips one photo, never ends a folder's run."""
    try:
        write_image(path, image)
    except OutputError as e:
        warn(f"{e}: skipped")
        return False
    return True


def read_or_warn(path: Path):
    """The image, or None after one warning that says why it is skipped (and, when it is too large, which
    option raises the cap)."""
    try:
        return load_image(path)
    except ImageTooLarge as e:
        warn(f"cannot read {e}: skipped ({e.flag} raises the limit)")
    except ImageError as e:
        warn(f"cannot read {e}: skipped")
    return None


def csv_cell(value: object) -> object:
    """A value as a CSV cell that a spreadsheet shows as text: a file named "=HYPERLINK(...).jpg" must not
    become a formula in the user's spreadsheet, so such text gets a leading apostrophe (OWASP's advice); a
    name that is no valid UTF-8 is written with its odd bytes escaped."""
    if not isinstance(value, str):
        return value
    value = readable_text(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def write_csv(path: str | Path, rows: list[tuple]) -> None:
    with atomic_path(path, named=True) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        writer.writerows([csv_cell(v) for v in row] for row in rows)
