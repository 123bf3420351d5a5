"""Image files for the batch tool and the alert snapshots: which files a folder holds, copies written whole."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import FacemaskError
from .files import atomic_path
from .images import IMAGE_SUFFIXES


def find_images(path: str | Path, recursive: bool = False, exclude: str | Path | None = None) -> list[Path]:
    """A file as given; in a folder, its image files by suffix, sorted so that runs repeat.

    Hidden files are left out: they are editors' and macOS's debris, or our own temporary files.
    `exclude` is a folder to leave out, so that a second run does not annotate the first run's copies."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    skip = Path(exclude).resolve() if exclude is not None else None
    files = path.rglob("*") if recursive else path.iterdir()
    return sorted(
        p for p in files
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and (skip is None or not p.resolve().is_relative_to(skip))
    )


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode in the format the suffix names and replace `path` in one rename: no half-written image, ever.

    Encoding in memory also works for paths OpenCV's imwrite cannot open (non-ASCII names on Windows)."""
    path = Path(path)
    try:
        ok, data = cv2.imencode(path.suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise FacemaskError(f"cannot encode an image as {path.suffix!r}: {path}")
    try:
        with atomic_path(path) as tmp:
            data.tofile(tmp)
    except OSError as e:
        raise FacemaskError(f"cannot write {path}: {e.strerror or e}") from e
