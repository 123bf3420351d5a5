"""MaskDetector: the face finder and the mask classifier together, the one object every entry point uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .classifier import Classifier, load_classifier
from .errors import FacemaskError
from .faces import FaceFinder, crop_box, load_face_finder
from .images import to_bgr8
from .labels import CLASSES
from .types import Box, Face


def label_faces(boxes: list[tuple[Box, float]], probs: np.ndarray) -> list[Face]:
    """Pair each box with its class probabilities and the winning label; a box whose crop got no probabilities
    (a NaN row) is left out."""
    faces = []
    for (box, score), p in zip(boxes, probs, strict=True):
        if not np.isfinite(p).all():
            continue
        best = int(np.argmax(p))
        faces.append(Face(box, CLASSES[best], float(p[best]), p, score))
    return faces


class MaskDetector:
    """Finds faces in BGR frames and tells, for each, whether a mask is worn, missing or worn wrong."""

    def __init__(self, finder: FaceFinder, classifier: Classifier):
        self.finder = finder
        self.classifier = classifier

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        face_detector: str | Path | None = "yunet",
        confidence: float | None = None,
        backend: str = "auto",
        threads: int | None = None,
        min_face: float | None = None,
    ) -> MaskDetector:
        """The shipped classifier and YuNet unless told otherwise.

        `face_detector`: `yunet`, `ssd` (the res10 SSD), or a path (see faces.load_face_finder); `confidence`:
        the least face detector score kept, by default the detector's own; `threads`: the classifier's threads
        (see classifier.load_classifier); `min_face`: the smallest face side, in the frame's pixels, that YuNet
        must find, which sets how finely it looks (None or 0: every face it can, at the frame's own size; video
        streams are better served by scanning.VIDEO_MIN_FACE). Crops for the classifier always come from the
        frame at its own size."""
        return cls(load_face_finder(face_detector, confidence, min_face), load_classifier(model, backend, threads))

    def detect(self, frame: np.ndarray) -> list[Face]:
        """All faces in a frame with their labels; all crops of a frame go through the model in one batch."""
        frame = to_bgr8(frame)
        if frame is None:
            raise FacemaskError("not an image: expected a gray, BGR or BGRA array")
        boxes = self.finder.find(frame)
        return label_faces(boxes, self.classify([crop_box(frame, box) for box, _ in boxes]))

    def stream(self, source: int | str, options=None, stop=None):
        """The results of a video, camera or stream, frame by frame, nothing drawn: a facemask.pipeline.Stream
        (iterate it for FrameResults; `options`: a pipeline.StreamOptions; `stop`: an interrupt.StopRequest
        that ends it after the frame in hand). Opening the source fails with a SourceError."""
        from .pipeline import Stream

        return Stream(self, source, options, stop)

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, 3) probabilities in CLASSES order; unusable crops (empty, not an image) get NaN rows.

        `crops` is a list of images, or an (N, H, W, C) array of them."""
        if isinstance(crops, np.ndarray) and crops.ndim != 4:
            raise FacemaskError(f"classify takes a list of face crops, got one array of shape {crops.shape}")
        try:
            crops = list(crops)
        except TypeError:
            raise FacemaskError(f"classify takes a list of face crops, got {type(crops).__name__}") from None
        probs = np.full((len(crops), len(CLASSES)), np.nan, np.float32)
        usable = [(i, c) for i, c in enumerate(map(_usable_crop, crops)) if c is not None]
        if usable:
            probs[[i for i, _ in usable]] = self.classifier.classify([c for _, c in usable])
        return probs


def _usable_crop(crop: np.ndarray) -> np.ndarray | None:
    image = to_bgr8(crop)
    return image if image is not None and min(image.shape[:2]) >= 2 else None
