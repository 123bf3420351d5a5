"""Turning whatever an image file or a camera gives into the 8-bit BGR arrays the models take."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import FacemaskError, ImageError, ImageTooLarge, OutputError
from .files import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Decode as stored (16-bit, gray) but let OpenCV turn a photo upright by its EXIF orientation, which
# IMREAD_UNCHANGED would ignore: a phone's portrait photo is stored sideways.
DECODE_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH


@dataclass
class ImageLimits:
    """Caps checked before an image is decoded, so that one file cannot exhaust memory: a multi-GB file
    named .jpg would be read whole, and a small PNG can declare 32000x32000 pixels (4 GB decoded)."""

    max_mb: float = 100.0  # file size, in MB (10**6 bytes)
    max_megapixels: float = 100.0  # declared width x height, in millions of pixels

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1e6)


LIMITS = ImageLimits()


@contextlib.contextmanager
def image_limits(max_mb: float | None = None, max_megapixels: float | None = None) -> Iterator[ImageLimits]:
    """Raise (or lower) the caps every image reader of the package applies, for the duration of the block;
    None keeps a cap as it is."""
    saved = dataclasses.replace(LIMITS)
    LIMITS.max_mb = saved.max_mb if max_mb is None else max_mb
    LIMITS.max_megapixels = saved.max_megapixels if max_megapixels is None else max_megapixels
    try:
        yield LIMITS
    finally:
        LIMITS.max_mb, LIMITS.max_megapixels = saved.max_mb, saved.max_megapixels


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


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image reduced to `size` (width, height): halved by area averaging while it is at least twice as large,
    then interpolated. OpenCV's area averaging is fast for exact halves only; to a 4K frame's seventh it took
    seven times as long as this."""
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit BGR, upright; an ImageError that says why when it cannot be.

    A truncated JPEG or PNG is refused rather than half decoded: a half-grey photo is no face to learn from.
    A file over the LIMITS is refused before it is read, or before it is decoded (ImageTooLarge)."""
    path = Path(path)
    data = read_bytes(path)
    if data.size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        image = decode_image(data)
    except ImageTooLarge as e:
        raise ImageTooLarge(f"{path}: {e}", e.flag) from None
    if image is None:
        raise ImageError(f"{path}: not an image, or damaged or truncated")
    return image


def read_bytes(path: str | Path) -> np.ndarray:
    """The bytes of an image file; an ImageError when it is no regular file, or is over LIMITS.max_mb, which is
    checked before reading and while reading (the file may grow meanwhile)."""
    path = Path(path)
    limit = LIMITS.max_bytes
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(f"{path}: a folder, not an image file")
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device would block or never end
            raise ImageError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise _too_many_bytes(path, _megabytes(info.st_size))
        data = np.fromfile(str(path), dtype=np.uint8, count=limit + 1)
    except OSError as e:
        raise ImageError(f"{path}: {e.strerror or e}") from None
    if data.size > limit:  # it grew since, or its size was not known (a file of /proc, say)
        raise _too_many_bytes(path, "more than " + _megabytes(limit))
    return data


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e6:.2g} MB"


def _too_many_bytes(path: Path, size: str) -> ImageTooLarge:
    return ImageTooLarge(f"{path}: {size}, over the {LIMITS.max_mb:g} MB limit for an image file", "--max-image-mb")


def decode_image(data: np.ndarray) -> np.ndarray | None:
    """8-bit BGR from an encoded file's bytes, whatever it holds (gray, gray+alpha, RGBA, 16-bit), turned
    upright by its EXIF orientation; None if it is no image. ImageTooLarge, before decoding, when its header
    declares more than LIMITS.max_megapixels."""
    size = declared_size(data)
    if size is not None and size[0] * size[1] > LIMITS.max_megapixels * 1e6:
        raise ImageTooLarge(f"{size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels), over the "
                            f"{LIMITS.max_megapixels:g} megapixel limit", "--max-megapixels")
    try:
        image = cv2.imdecode(data, DECODE_FLAGS) if data.size else None
    except cv2.error as e:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(e):
            cap = int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", 1 << 30))
            raise ImageTooLarge(f"more than {cap / 1e6:g} million pixels, OpenCV's limit (the environment variable "
                                "OPENCV_IO_MAX_IMAGE_PIXELS)", "--max-megapixels") from e
        return None
    if image is None:
        return None
    if image.ndim == 3 and image.shape[2] == 2:  # gray and alpha
        image = image[:, :, 0]
    return to_bgr8(image)


def declared_size(data: np.ndarray | bytes) -> tuple[int, int] | None:
    """(width, height) as the file's header declares them, read without decoding: the size of what decoding
    it would allocate. None for a format not parsed here (OpenCV's own cap of 2**30 pixels then applies) or a
    header too damaged to say."""
    head = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)  # whole: a TIFF's IFD may come last
    readers = (_png_size, _jpeg_size, _gif_size, _bmp_size, _webp_size, _tiff_size, _pnm_size, _sun_size,
               _jpeg2000_size, _hdr_size)
    for reader in readers:
        try:
            size = reader(head)
        except (struct.error, IndexError, ValueError):
            size = None
        if size is not None:
            return size
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers; not DHT, JPG, DAC


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    if not head.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # the scan starts with no frame header before it: damaged
            return None
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            i += 2
            continue
        i += 2 + struct.unpack(">H", head[i + 2 : i + 4])[0]
    return None


def _gif_size(head: bytes) -> tuple[int, int] | None:
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    return None


def _bmp_size(head: bytes) -> tuple[int, int] | None:
    if not head.startswith(b"BM"):
        return None
    if struct.unpack("<I", head[14:18])[0] == 12:  # the old OS/2 header: 16-bit sizes
        return struct.unpack("<HH", head[18:22])
    width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _webp_size(head: bytes) -> tuple[int, int] | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = struct.unpack("<I", head[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _tiff_size(head: bytes) -> tuple[int, int] | None:
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(head[:4])
    if order is None:
        return None
    offset = struct.unpack(order + "I", head[4:8])[0]
    (entries,) = struct.unpack(order + "H", head[offset : offset + 2])
    tags = {}
    for k in range(entries):
        tag, kind = struct.unpack(order + "HH", head[offset + 2 + 12 * k : offset + 6 + 12 * k])
        value = head[offset + 10 + 12 * k : offset + 14 + 12 * k]
        tags[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[: 2 if kind == 3 else 4])[0]
    if 256 in tags and 257 in tags:  # ImageWidth, ImageLength
        return tags[256], tags[257]
    return None


_PNM = re.compile(rb"P[1-6](?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)")


def _pnm_size(head: bytes) -> tuple[int, int] | None:
    match = _PNM.match(head)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _sun_size(head: bytes) -> tuple[int, int] | None:
    if head.startswith(b"\x59\xa6\x6a\x95"):
        return struct.unpack(">II", head[4:12])
    return None


def _jpeg2000_size(head: bytes) -> tuple[int, int] | None:
    if head.startswith(b"\xff\x4f\xff\x51"):  # a bare codestream: its SIZ segment
        width, height, x0, y0 = struct.unpack(">IIII", head[8:24])
        return width - x0, height - y0
    box = head.find(b"ihdr", 0, 4096)  # the JP2 file's image header box
    if head[4:12] == b"jP  \r\n\x87\n" and box >= 0:
        height, width = struct.unpack(">II", head[box + 4 : box + 12])
        return width, height
    return None


_HDR = re.compile(rb"\n[-+]([XY]) (\d+) [-+]([XY]) (\d+)\n")


def _hdr_size(head: bytes) -> tuple[int, int] | None:
    if not head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return None
    match = _HDR.search(head, 0, 65536)
    if match is None:
        return None
    first, second = int(match.group(2)), int(match.group(4))
    return (second, first) if match.group(1) == b"Y" else (first, second)


def resize_longest(image: np.ndarray, side: int) -> np.ndarray:
    """`image` scaled so that its longer side is `side` px: INTER_AREA to shrink (no aliasing), INTER_CUBIC to
    enlarge."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


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


def write_image(path: str | Path, image: np.ndarray, jpeg_quality: int | None = None, named: bool = False,
                new: bool = False) -> None:
    """Encode in the format the suffix names and replace `path` in one rename, once the file written decodes
    to an image of the same size: a full disk leaves the previous file, never a half-written one. `named`
    and `new` as for files.atomic_path.

    Encoding in memory also works for paths OpenCV's imwrite cannot open (non-ASCII names on Windows)."""
    path = Path(path)
    try:
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if jpeg_quality is not None else []
        ok, data = cv2.imencode(path.suffix, image, params)
    except cv2.error:
        ok = False
    if not ok:
        raise FacemaskError(f"cannot encode an image as {path.suffix!r}: {path}")
    with atomic_path(path, named, new) as tmp:
        tmp.write_bytes(data.tobytes())
        written = decode_image(np.fromfile(str(tmp), dtype=np.uint8))
        if written is None or written.shape[:2] != image.shape[:2]:
            raise OutputError(f"cannot write {path}: the image written does not read back (is the disk full?)")
