"""Feed well over 1,000 bad inputs through the public API and the image loaders; report what each did.

    python -m tests.fuzz_inputs MODEL RESULT_JSON [--big 2]

Run in a process of its own by test_fuzz.py, so that a hard crash (a segfault in OpenCV, say) fails the test
instead of killing pytest. Each input must give a result or one FacemaskError with a message; anything else is
recorded as a failure. Before each input its name goes to stderr, so a crash names the input that caused it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import stat
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from facemask import CLASSES, Face, FacemaskError, MaskDetector
from facemask.classifier import Classifier, load_classifier
from facemask.cli import image_parser, train_parser, video_parser
from facemask.events import EventLog
from facemask.faces import crop_box
from facemask.files import write_text
from facemask.image_batch import detect_images
from facemask.images import load_image, read_image, to_bgr8, write_image
from facemask.outputs import Input, Output, output_problems
from facemask.overlay import draw_faces, draw_tally
from facemask.stream import FrameReader
from facemask.tools.evaluate import build_parser as evaluate_parser
from tests.conftest import scene

DTYPES = (np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64, bool)
SHAPES = ((0, 0), (0, 5), (1, 1), (1, 5000), (5000, 1), (2, 2), (9, 9), (10, 10), (37, 53), (240, 320))
CHANNELS = (None, 1, 2, 3, 4, 5)
LAYOUTS = ("contiguous", "fortran", "transposed", "strided", "reversed")


class Fuzz:
    def __init__(self):
        self.cases = 0
        self.results = 0
        self.errors = 0
        self.failures: list[str] = []

    def check(self, name: str, fn, validate=None) -> None:
        """One input: fn() must return (a result validate() accepts) or raise a FacemaskError with a message."""
        self.cases += 1
        print(name, file=sys.stderr, flush=True)
        try:
            result = fn()
        except FacemaskError as e:
            if not str(e).strip():
                self.failures.append(f"{name}: a FacemaskError without a message")
            self.errors += 1
            return
        except Exception as e:  # anything else is a bug to fix in the library
            self.failures.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
            return
        problem = validate(result) if validate else None
        if problem:
            self.failures.append(f"{name}: {problem}")
        else:
            self.results += 1


def layout(image: np.ndarray, how: str) -> np.ndarray:
    """The same kind of frame in memory laid out another way: what a caller's slicing gives."""
    if how == "fortran":
        return np.asfortranarray(image)
    if how == "transposed":
        return np.swapaxes(image, 0, 1)
    if how == "strided":
        return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)[::2, ::2]
    if how == "reversed":
        return image[::-1, ::-1, ::-1] if image.ndim == 3 else image[::-1, ::-1]
    return image


def random_image(rng, shape, channels, dtype) -> np.ndarray:
    full = shape if channels is None else (*shape, channels)
    if dtype is bool:
        return rng.integers(0, 2, full).astype(bool)
    if np.issubdtype(dtype, np.floating):
        image = rng.normal(0.5, 2.0, full).astype(dtype)
        if image.size:
            image.flat[0], image.flat[-1] = np.nan, np.inf
        return image
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, full, dtype=dtype)


def valid_bgr(result) -> str | None:
    if result is None:
        return None
    if not (isinstance(result, np.ndarray) and result.dtype == np.uint8 and result.ndim == 3
            and result.shape[2] == 3 and result.flags.c_contiguous):
        return f"to_bgr8 returned {type(result).__name__} {getattr(result, 'shape', '')}"
    return None


def valid_probs(n: int):
    def check(probs) -> str | None:
        if not isinstance(probs, np.ndarray) or probs.shape != (n, len(CLASSES)):
            return f"classify returned {getattr(probs, 'shape', type(probs).__name__)}"
        rows = probs[~np.isnan(probs).any(axis=1)]
        if not np.allclose(rows.sum(axis=1), 1, atol=1e-4):
            return "probabilities do not sum to 1"
        return None

    return check


def valid_faces(frame_shape):
    def check(faces) -> str | None:
        h, w = frame_shape[:2]
        for face in faces:
            if not isinstance(face, Face) or face.label not in CLASSES:
                return f"not a Face: {face!r}"
            x1, y1, x2, y2 = face.box
            if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
                return f"box {face.box} outside the {w}x{h} frame"
        return None

    return check


def fuzz_arrays(fuzz: Fuzz, detector: MaskDetector, rng) -> None:
    """Frames of every size, depth, channel count and memory layout through to_bgr8, classify and detect."""
    for shape in SHAPES:
        for channels in CHANNELS:
            for dtype in DTYPES:
                image = random_image(rng, shape, channels, dtype)
                how = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
                frame = layout(image, how)
                name = f"array {frame.shape} {np.dtype(dtype).name} {how}"
                fuzz.check(f"to_bgr8 {name}", lambda f=frame: to_bgr8(f), valid_bgr)
                fuzz.check(f"classify {name}", lambda f=frame: detector.classify([f]), valid_probs(1))
                if dtype in (np.uint8, np.uint16, np.float32) or shape[0] in (0, 1):
                    fuzz.check(f"detect {name}", lambda f=frame: detector.detect(f), valid_faces(frame.shape))
    odd = {
        "None": None, "a string": "frame.jpg", "an int": 7, "a 0-d array": np.array(3), "a 1-d array": np.zeros(10),
        "a 4-d array": np.zeros((2, 8, 8, 3), np.uint8), "a 5-d array": np.zeros((1, 2, 8, 8, 3), np.uint8),
        "a ragged list": [[1, 2], [3]], "a nested list": [[[0, 0, 0]] * 12] * 12, "strings": np.full((12, 12, 3), "a"),
        "complex": np.ones((12, 12, 3), np.complex64), "objects": np.full((12, 12, 3), None, object),
        "datetimes": np.zeros((12, 12, 3), "datetime64[s]"),
        "a structured array": np.zeros((12, 12), dtype=[("a", "u1"), ("b", "u1")]),
    }
    for name, value in odd.items():
        fuzz.check(f"to_bgr8 {name}", lambda v=value: to_bgr8(v), valid_bgr)
        fuzz.check(f"classify [{name}]", lambda v=value: detector.classify([v]), valid_probs(1))
        fuzz.check(f"detect {name}", lambda v=value: detector.detect(v), valid_faces((10**9, 10**9)))
        fuzz.check(f"classify {name}", lambda v=value: detector.classify(v))
    mixed = [random_image(rng, s, c, np.uint8) for s in SHAPES for c in CHANNELS]
    fuzz.check("classify a batch of mixed crops", lambda: detector.classify(mixed), valid_probs(len(mixed)))
    fuzz.check("classify an empty list", lambda: detector.classify([]), valid_probs(0))
    fuzz.check("classify an (N, H, W, C) array", lambda: detector.classify(np.zeros((3, 20, 20, 3), np.uint8)),
               valid_probs(3))


def fuzz_big(fuzz: Fuzz, detector: MaskDetector, count: int) -> None:
    """8000x8000 frames: a 16-bit gray one and a BGRA one (192 MB and more each)."""
    big = [("8000x8000 16-bit gray", lambda: np.full((8000, 8000), 40000, np.uint16)),
           ("8000x8000 BGRA", lambda: np.full((8000, 8000, 4), 90, np.uint8)),
           ("8000x8000 BGR", lambda: np.full((8000, 8000, 3), 90, np.uint8))]
    for name, make in big[:count]:
        frame = make()
        fuzz.check(f"detect {name}", lambda f=frame: detector.detect(f), valid_faces(frame.shape))
        fuzz.check(f"classify {name}", lambda f=frame: detector.classify([f]), valid_probs(1))
        del frame


def fuzz_borders(fuzz: Fuzz, detector: MaskDetector) -> None:
    """A real face touching or crossing each border and corner, then boxes anywhere drawn and cropped."""
    face = scene()[30:450, 100:458]
    fh, fw = face.shape[:2]
    for size in ((480, 640), (400, 400), (300, 900)):
        h, w = size
        for dy in (-fh // 2, 0, None, h - fh, h - fh // 2):
            for dx in (-fw // 2, 0, None, w - fw, w - fw // 2):
                y = (h - fh) // 2 if dy is None else dy
                x = (w - fw) // 2 if dx is None else dx
                frame = np.zeros((h, w, 3), np.uint8)
                sy, sx = max(0, -y), max(0, -x)
                ty, tx = max(0, y), max(0, x)
                ch, cw = min(fh - sy, h - ty), min(fw - sx, w - tx)
                frame[ty:ty + ch, tx:tx + cw] = face[sy:sy + ch, sx:sx + cw]
                fuzz.check(f"detect a face at ({x}, {y}) in {w}x{h}", lambda f=frame: detector.detect(f),
                           valid_faces(frame.shape))
    h, w = 120, 160
    boxes = [(-50, -50, 30, 30), (-5, 10, 40, 60), (140, 10, 200, 60), (10, -20, 60, 30), (10, 100, 60, 160),
             (0, 0, w, h), (-10, -10, w + 10, h + 10), (w, h, w + 30, h + 30), (-40, -40, -5, -5), (150, 0, 160, 10),
             (0, 110, 10, 120), (50, 50, 50, 50), (60, 60, 40, 40)]
    for box in boxes:
        frame = np.full((h, w, 3), 120, np.uint8)
        probs = np.array([0.2, 0.5, 0.3], np.float32)
        face = Face(box, "without_mask", 0.5, probs, 0.9, 7)
        fuzz.check(f"draw a face at {box}", lambda f=frame, b=face: draw_faces(f, [b]) or draw_tally(f, [b]))
        fuzz.check(f"classify the crop {box}", lambda f=frame, b=box: detector.classify([crop_box(f, b)]),
                   valid_probs(1))


def bad_files(folder: Path, rng) -> list[Path]:
    """Truncated JPEGs and PNGs cut anywhere, empty files, text, random bytes, and odd but valid images."""
    files = []

    def add(name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        files.append(path)

    photo = scene()
    jpg, png = cv2.imencode(".jpg", photo)[1].tobytes(), cv2.imencode(".png", photo)[1].tobytes()
    for i, cut in enumerate(np.linspace(0, 0.999, 90)):
        add(f"cut{i}.jpg", jpg[: int(len(jpg) * cut)])
        add(f"cut{i}.png", png[: int(len(png) * cut)])
    for i in range(40):
        noise = rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
        add(f"noise{i}.jpg", noise)
        add(f"jpeg_head{i}.jpg", jpg[:600] + noise)
        add(f"png_head{i}.png", png[:64] + noise)
        flipped = bytearray(jpg)
        for j in rng.integers(0, len(flipped), 20):
            flipped[j] = int(rng.integers(0, 256))
        add(f"flipped{i}.jpg", bytes(flipped))
    add("empty.jpg", b"")
    add("empty.png", b"")
    add("text.jpg", b"this is not a picture\n")
    add("text.png", "no image here, just words: éèà\n".encode())
    add("html.webp", b"<html><body>404 Not Found</body></html>")
    for name, image in {
        "gray16.png": np.full((30, 40), 50000, np.uint16),
        "bgra.png": np.full((30, 40, 4), 128, np.uint8),
        "gray.jpg": np.full((30, 40), 128, np.uint8),
        "one_pixel.png": np.zeros((1, 1, 3), np.uint8),
        "line.png": np.zeros((1, 5000, 3), np.uint8),
        "bgr16.png": np.full((30, 40, 3), 1000, np.uint16),
    }.items():
        add(name, cv2.imencode(Path(name).suffix, image)[1].tobytes())
    (folder / "folder.jpg").mkdir()
    files.append(folder / "folder.jpg")
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    files.append(folder / "dangling.png")
    files.append(folder / "missing.jpg")
    return files


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declaring(fmt: str, width: int, height: int) -> bytes:
    """A small file of format `fmt` whose header declares width x height pixels: decoding it would
    allocate for all of them (a decompression bomb), whatever little data follows."""
    if fmt == "png":
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 2048))
                + _chunk(b"IEND", b""))
    if fmt == "jpg":
        jpeg = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
        sof = jpeg.index(b"\xff\xc0")
        jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        return bytes(jpeg)
    if fmt == "bmp":
        info = struct.pack("<IiiHHI", 40, width, height, 1, 24, 0)
        return b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + info + bytes(64)
    if fmt == "gif":
        return b"GIF89a" + struct.pack("<HH", width, height) + bytes(64)
    if fmt == "webp":
        vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (width - 1).to_bytes(3, "little") + (
            height - 1).to_bytes(3, "little")
        return b"RIFF" + struct.pack("<I", 4 + len(vp8x) + 64) + b"WEBP" + vp8x + bytes(64)
    if fmt == "tif":
        entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (277, 3, 3)]
        ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in entries)
        return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(4) + bytes(64)
    return f"P6\n# a comment\n{width} {height}\n255\n".encode() + bytes(64)  # ppm


def exif_jpeg(orientation: int, damage: str = "") -> bytes:
    """A 40x24 JPEG carrying an EXIF Orientation tag, written by hand; `damage` spoils the EXIF block."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    if damage == "offset":
        tiff = b"MM\x00\x2a" + struct.pack(">I", 0xFFFFFF00) + ifd
    elif damage == "count":
        tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 0xFFFF) + ifd[2:]
    elif damage == "cut":
        tiff = tiff[:13]
    exif = b"Exif\x00\x00" + tiff
    image = np.zeros((24, 40, 3), np.uint8)
    image[:, :20] = 255
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]


def valid_upright(orientation: int):
    """Orientations 5 to 8 swap width and height; any other value leaves the image as stored."""
    def check(image) -> str | None:
        problem = valid_bgr(image)
        if problem or image is None:
            return problem
        expected = (40, 24) if 5 <= orientation <= 8 else (24, 40)
        return None if image.shape[:2] == expected else f"shape {image.shape[:2]}, expected {expected}"

    return check


def refused_as_too_large(fn):
    """The image must be refused before decoding: an ImageTooLarge, never pixels, never an allocation."""
    def check() -> None:
        try:
            fn()
        except FacemaskError as e:
            if "limit" not in str(e):
                raise AssertionError(f"refused for another reason: {e}") from None
            raise
        raise AssertionError("decoded an image over the pixel cap")

    return check


def fuzz_image_headers(fuzz: Fuzz, folder: Path) -> None:
    """Headers declaring huge sizes in every format read, and JPEGs with every EXIF orientation."""
    folder.mkdir()
    sizes = ((32000, 32000), (65535, 65535), (16384, 16384), (200000, 600), (11000, 10000))  # all over 100 MP
    largest = {"jpg": 65535, "gif": 65535, "webp": 16384}  # what the format's header can say
    for fmt in ("png", "jpg", "bmp", "gif", "webp", "tif", "ppm"):
        for width, height in sizes:
            if max(width, height) > largest.get(fmt, 2**31 - 1):
                continue
            path = folder / f"declares_{width}x{height}.{fmt}"
            path.write_bytes(declaring(fmt, width, height))
            fuzz.check(f"load_image {path.name}", refused_as_too_large(lambda p=path: load_image(p)))
            fuzz.check(f"read_image {path.name}", lambda p=path: read_image(p), valid_bgr)
    for orientation in (*range(10), 255, 65535):
        path = folder / f"exif{orientation}.jpg"
        path.write_bytes(exif_jpeg(orientation))
        fuzz.check(f"load_image {path.name}", lambda p=path: load_image(p), valid_upright(orientation))
    for damage in ("offset", "count", "cut"):
        path = folder / f"exif_{damage}.jpg"
        path.write_bytes(exif_jpeg(6, damage))
        fuzz.check(f"load_image {path.name}", lambda p=path: load_image(p), valid_bgr)


class OddCapture:
    """A capture reporting any frame rate and frame count, with `frames` frames to read."""

    def __init__(self, fps: float, count: float, frames: int = 3):
        self.fps, self.count, self.left = fps, count, frames

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((12, 16, 3), np.uint8)

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: self.count}.get(prop, 0.0)

    def release(self):
        pass


def read_source(source, opener) -> tuple[float, int]:
    reader = FrameReader(source, reconnect=0, timeout=2, opener=opener)
    frames = sum(1 for _ in reader)
    reader.close()
    return reader.fps, frames


def valid_fps(reported: float, frames: int, live: bool = False):
    """A live source (a URL without a frame count) keeps only the newest frame: some may be dropped."""
    def check(result) -> str | None:
        fps, read = result
        if not (1 <= read <= frames if live else read == frames):
            return f"{read} frames read of {frames}"
        usable = math.isfinite(reported) and 1e-3 <= reported <= 1000
        expected = reported if usable else 30.0
        return None if fps == expected else f"fps {fps}, expected {expected}"

    return check


def fuzz_frame_rates(fuzz: Fuzz, folder: Path) -> None:
    """Sources whatever frame rate and count they report, and real files at odd frame rates."""
    rates = (0.0, -1.0, math.nan, math.inf, -math.inf, 1e-9, 1e-3, 0.5, 1.0, 29.97, 240.0, 1000.0, 90000.0, 1e300)
    counts = (0.0, -1.0, math.nan, math.inf, 1e20, 3.0, 2.0**31)
    for fps in rates:
        for count in counts:
            for source in ("clip.mp4", "http://cam/clip.mp4", "file:///clip.mp4"):
                live = source.startswith("http") and not (math.isfinite(count) and 0 < count < 2**31)
                fuzz.check(f"read {source} reporting {fps} fps and {count} frames",
                           lambda s=source, f=fps, c=count: read_source(s, lambda _: OddCapture(f, c)),
                           valid_fps(fps, 3, live))
    folder.mkdir()
    for fps in (0.5, 1.0, 7.5, 120.0, 1000.0):
        path = folder / f"at_{fps}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (32, 24))
        for i in range(4):
            writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
        writer.release()
        fuzz.check(f"read {path.name}", lambda p=path: read_source(str(p), None), valid_fps(fps, 4))


def fuzz_files(fuzz: Fuzz, detector: MaskDetector, folder: Path, rng) -> None:
    (folder / "in").mkdir()
    files = bad_files(folder / "in", rng)
    for path in files:
        fuzz.check(f"read_image {path.name}", lambda p=path: read_image(p), valid_bgr)
        fuzz.check(f"load_image {path.name}", lambda p=path: load_image(p), valid_bgr)
    fuzz.check("detect_images over all the bad files",
               lambda: detect_images(detector, files, folder / "in", folder / "out", folder / "out" / "faces.csv"))


ODD_NUMBERS = ("0", "-0", "1", "-1", "0.5", "1e306", "-1e306", "1e-400", "inf", "-inf", "nan", "1e3", "0x10", "1_000",
               "9" * 30, "-" + "9" * 30, " 7", "", "\u0663", "9" * 5000)


def parse_or_refuse(parser: argparse.ArgumentParser, argv: list[str]):
    """The parsed arguments, or a FacemaskError standing for argparse's refusal (exit status 2)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return parser.parse_args(argv)
    except SystemExit as e:
        if e.code != 2:
            raise RuntimeError(f"exit status {e.code}") from None
        raise FacemaskError("refused") from None


def bounded(flag: str):
    """Whatever a numeric flag lets through must be a finite number of sane size, or nothing further on copes."""

    def check(args) -> str | None:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if isinstance(value, tuple):  # --serve: (host, port)
            value = value[1]
        if value == "all" or (isinstance(value, int | float) and math.isfinite(value) and abs(value) <= 2**32):
            return None
        return f"{flag} let {value!r} through"

    return check


def fuzz_arguments(fuzz: Fuzz) -> None:
    """Every numeric flag of the three scripts and of evaluate, given numbers out of every range."""
    parsers = ((train_parser, []), (video_parser, []), (image_parser, ["--image", "x"]),
               (evaluate_parser, ["--dataset", "x"]))
    for make, base in parsers:
        parser = make()
        flags = [a.option_strings[-1] for a in parser._actions if a.option_strings and a.type not in (None, str, Path)]
        for flag in flags:
            for value in ODD_NUMBERS:
                fuzz.check(f"{parser.prog} {flag}={value[:12]!r}",
                           lambda p=parser, a=[*base, f"{flag}={value}"]: parse_or_refuse(p, a), bounded(flag))


BAD_CARDS = (
    "", "{", "[]", "{}", "null", "5", '"with_mask"', "true", "[" * 100_000 + "]" * 100_000, '{"classes": 5}',
    '{"classes": "abc"}', '{"classes": []}', '{"classes": [1, 2, 3]}', '{"classes": [null]}', '{"classes": {"a": 1}}',
    '{"classes": ["with_mask"]}', '{"classes": ["with_mask", "without_mask"]}', '{"classes": ["cat", "dog", "bird"]}',
    '{"classes": ["with_mask", "with_mask", "without_mask"]}', json.dumps({"classes": list(CLASSES) * 2}),
    '{"input_size": "x"}', '{"input_size": [128, 128]}', '{"input_size": [224]}', '{"classes": [[["with_mask"]]]}',
    json.dumps({"classes": list(CLASSES), "input_size": [224, 224]}),
)


def fuzz_cards(fuzz: Fuzz, model: Path, folder: Path, rng) -> None:
    """Model cards of every wrong shape, and random bytes, beside a model of 3 and of 2 outputs."""
    path = folder / "cards" / "m.h5"
    path.parent.mkdir()
    path.write_bytes(model.read_bytes())
    cards = [text.encode() for text in BAD_CARDS] + [rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
                                                     for _ in range(10)]
    for i, data in enumerate(cards):
        path.with_suffix(".json").write_bytes(data)
        for outputs in (3, 2):
            fuzz.check(f"model card {i} ({data[:20]!r}) with {outputs} outputs", lambda n=outputs: Classifier(path, n))


def fuzz_model_shapes(fuzz: Fuzz, folder: Path) -> None:
    """Valid Keras models that take or give tensors of other shapes than 224x224 RGB in, probabilities out."""
    import keras

    def model(input_shapes: list[tuple], outputs: tuple) -> keras.Model:
        inputs = [keras.Input(shape) for shape in input_shapes]
        pooled = [keras.layers.GlobalAveragePooling2D()(x) for x in inputs]
        x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate()(pooled)
        x = keras.layers.Dense(int(np.prod(outputs)), activation="softmax")(x)
        return keras.Model(inputs, keras.layers.Reshape(outputs)(x) if len(outputs) > 1 else x)

    cases = {"128x128": ([(128, 128, 3)], (3,)), "gray": ([(224, 224, 1)], (3,)), "BGRA": ([(224, 224, 4)], (3,)),
             "any size": ([(None, None, 3)], (3,)), "two inputs": ([(224, 224, 3)] * 2, (3,)),
             "3-d output": ([(224, 224, 3)], (1, 3)), "5 outputs": ([(224, 224, 3)], (5,))}
    for name, (input_shapes, outputs) in cases.items():
        path = folder / "shapes" / f"{name.replace(' ', '_')}.h5"
        path.parent.mkdir(exist_ok=True)
        model(input_shapes, outputs).save(path)
        path.with_suffix(".json").write_text(json.dumps({"classes": list(CLASSES)}))
        fuzz.check(f"a model taking {name}", lambda p=path: load_classifier(p, "keras").classify([scene()]),
                   valid_probs(1))


def odd_paths(folder: Path) -> dict[str, Path]:
    """Paths of every kind an output could be pointed at, all inside `folder` but the system's own."""
    root = folder / "paths"
    root.mkdir()
    (root / "file.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    (root / "folder.jpg").mkdir()
    os.mkfifo(root / "fifo.jpg")
    os.link(root / "file.jpg", root / "hard.jpg")
    for name, target in (("link.jpg", "file.jpg"), ("fifo_link.jpg", "fifo.jpg"), ("dangling.jpg", "gone.jpg"),
                         ("loop.jpg", "loop2.jpg"), ("loop2.jpg", "loop.jpg"), ("folder_link", "folder.jpg")):
        (root / name).symlink_to(root / target)
    paths = {name: root / name for name in ("file.jpg", "folder.jpg", "fifo.jpg", "hard.jpg", "link.jpg",
                                             "fifo_link.jpg", "dangling.jpg", "loop.jpg", "folder_link")}
    paths |= {"new": root / "new.jpg", "nested": root / "a" / "b" / "c.jpg",
              "under a file": root / "file.jpg" / "x.jpg", "name too long": root / ("x" * 300 + ".jpg"),
              "relative": Path(os.path.relpath(root / "file.jpg")), "dotted": root / "folder.jpg" / ".." / "file.jpg"}
    return paths


SYSTEM_PATHS = {"/dev/full": Path("/dev/full"), "/dev/null": Path("/dev/null"), "/proc": Path("/proc/facemask.jpg")}


def kinds(paths: dict[str, Path]) -> dict[str, int | None]:
    def kind(path: Path) -> int | None:
        try:
            return stat.S_IFMT(path.lstat().st_mode)
        except OSError:
            return None

    return {name: kind(path) for name, path in paths.items()}


def answers(refuse: bool):
    """A list of "--flag: why" lines, not empty when the output is the input itself."""

    def check(problems) -> str | None:
        ok = isinstance(problems, list) and all(isinstance(p, str) for p in problems)
        return None if ok and (problems or not refuse) else f"answered {problems!r}"

    return check


def fuzz_outputs(fuzz: Fuzz, folder: Path) -> None:
    """The output rule on every pair of odd paths, then writes onto the odd paths: an answer or one error each,
    and no device, fifo or folder replaced."""
    paths = odd_paths(folder)
    checked = paths | SYSTEM_PATHS
    exists = kinds(checked)
    for out_name, out in checked.items():
        for in_name, source in checked.items():
            refuse = out_name == in_name and exists[out_name] is not None
            for as_folder, recursive in ((False, False), (True, True)):
                outputs, inputs = [Output("--o", out, folder=as_folder)], [Input("--i", source, recursive=recursive)]
                fuzz.check(f"output {out_name} (folder: {as_folder}) against input {in_name}",
                           lambda o=outputs, i=inputs: output_problems(o, i), answers(refuse))
    before = kinds(paths)
    image = np.zeros((8, 8, 3), np.uint8)
    for name, path in paths.items():
        fuzz.check(f"write_image onto {name}", lambda p=path: write_image(p, image))
        fuzz.check(f"write_text onto {name}", lambda p=path: write_text(p, "x"))
        fuzz.check(f"the event log onto {name}", lambda p=path: EventLog(p).close())
    after = kinds(paths)
    # A link under a name the tool writes is replaced, never written through: what it points at stays.
    for name in ("folder.jpg", "fifo.jpg"):
        if after[name] != before[name]:
            fuzz.failures.append(f"{name} was replaced by a write")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("result")
    p.add_argument("--big", type=int, default=2, help="how many 8000x8000 frames")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    started = time.perf_counter()
    detector = MaskDetector.load(args.model)
    rng = np.random.default_rng(args.seed)
    fuzz = Fuzz()
    with tempfile.TemporaryDirectory() as tmp:
        fuzz_files(fuzz, detector, Path(tmp), rng)
        fuzz_cards(fuzz, Path(args.model), Path(tmp), rng)
        fuzz_model_shapes(fuzz, Path(tmp))
        fuzz_outputs(fuzz, Path(tmp))
        fuzz_image_headers(fuzz, Path(tmp) / "headers")
        fuzz_frame_rates(fuzz, Path(tmp) / "rates")
    fuzz_arguments(fuzz)
    fuzz_arrays(fuzz, detector, rng)
    fuzz_borders(fuzz, detector)
    fuzz_big(fuzz, detector, args.big)
    report = {"cases": fuzz.cases, "results": fuzz.results, "errors": fuzz.errors, "failures": fuzz.failures,
              "seconds": round(time.perf_counter() - started, 1)}
    Path(args.result).write_text(json.dumps(report, indent=1))
    print("done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
