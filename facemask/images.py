"""Turning whatever an image file or a camera gives into the 8-bit BGR arrays the models take."""

from __future__ import annotations

import stat
from pathlib import Path

import cv2
import numpy as np

from .errors import FacemaskError, ImageError, OutputError
from .files import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def to_bgr8(image: np.ndarray) -> np.ndarray | None:
    """Return a contiguous uint8 BGR copy of a gray, BGR or BGRA image of any depth; None if it is no image.

    Anything else (no array, no pixels, 2 or 5 channels, strings, complex numbers) is None, never an exception."""
    try:
        image = np.asarray(image)
    except (ValueError, TypeError):  # ragged nested lists and the like
        return None
    if image.dtype.kind not in "biuf":  # bool, integers and floats only
        return None
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or image.size == 0 or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        return None
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        elif image.dtype == bool:
            image = image.astype(np.uint8) * 255
        elif np.issubdtype(image.dtype, np.floating):
            finite = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
            image = np.clip(finite * scale, 0, 255).astype(np.uint8)
        else:
            image = np.clip(image, 0, 255).astype(np.uint8)
    image = np.ascontiguousarray(image)  # OpenCV takes no negative strides
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit BGR; an ImageError that says why when it cannot be.

    A truncated JPEG or PNG is refused rather than half decoded: a half-grey photo is no face to learn from."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ImageError(f"{path}: a folder, not an image file")
        if not stat.S_ISREG(mode):  # a pipe or a device would block or never end
            raise ImageError(f"{path}: not a regular file")
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise ImageError(f"{path}: {e.strerror or e}") from None
    if data.size == 0:
        raise ImageError(f"{path}: empty file")
    image = decode_image(data)
    if image is None:
        raise ImageError(f"{path}: not an image, or damaged or truncated")
    return image


def decode_image(data: np.ndarray) -> np.ndarray | None:
    """8-bit BGR from an encoded file's bytes, whatever it holds (gray, gray+alpha, RGBA, 16-bit); None if not."""
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:
        return None
    if image is None:
        return None
    if image.ndim == 3 and image.shape[2] == 2:  # gray and alpha
        image = image[:, :, 0]
    return to_bgr8(image)


def read_image(path: str | Path) -> np.ndarray | None:
    """Read an image file as 8-bit BGR; None when it is unreadable, whatever the reason."""
    try:
        return load_image(path)
    except ImageError:
        return None


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in `folder`, sorted so that runs are repeatable."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


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
    """Encode in the format the suffix names and replace `path` in one rename, once the file written decodes
    to an image of the same size: a full disk leaves the previous file, never a half-written one.

    Encoding in memory also works for paths OpenCV's imwrite cannot open (non-ASCII names on Windows)."""
    path = Path(path)
    try:
        ok, data = cv2.imencode(path.suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise FacemaskError(f"cannot encode an image as {path.suffix!r}: {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
        written = decode_image(np.fromfile(str(tmp), dtype=np.uint8))
        if written is None or written.shape[:2] != image.shape[:2]:
            raise OutputError(f"cannot write {path}: the image written does not read back (is the disk full?)")
