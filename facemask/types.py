"""The values that flow from the detector to every output: a box, a labelled face, and one frame's result.

They depend on nothing but NumPy, so that drawing, the dashboard, the event sinks and a user's own code can
use them without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in the frame's pixels
# Faces whose box is smaller than this (its shorter side, in pixels) are shown and counted as too small to
# tell: the classifier is wrong on about one in four of them (docs/results.md, "Small faces").
UNSURE_BELOW = 32


@dataclass(frozen=True)
class Face:
    """One face in a frame and what the classifier makes of it."""

    box: Box
    label: str  # the most likely class, even for a face too small to be sure of
    confidence: float
    probs: np.ndarray
    score: float = 1.0  # the face detector's confidence
    track_id: int | None = None  # the same number for the same face across a video

    @property
    def unsure(self) -> bool:
        """Too small to label: drawn as "?", left out of the counts per class, never alerted on."""
        x1, y1, x2, y2 = self.box
        return min(x2 - x1, y2 - y1) < UNSURE_BELOW


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline makes of one frame: its place in the run, its faces and the events it raised.

    `time` is the run's clock in seconds: video time for a file (the frame index over its frame rate), the wall
    clock since the start for a camera or a stream."""

    index: int
    time: float
    faces: list[Face]
    events: list[dict] = field(default_factory=list)
