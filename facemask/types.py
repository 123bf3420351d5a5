"""The values that flow from the detector to every output: a box, a labelled face, and one frame's result.

They depend on nothing but NumPy, so that drawing, the dashboard, the event sinks and a user's own code can
use them without loading a model.
"""

from __future__ import annotations

import signal
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from .labels import counts_text

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


def sure_counts(faces: list[Face]) -> Counter:
    """Faces per class, leaving out the faces too small to tell: they count as in view, in no class."""
    return Counter(f.label for f in faces if not f.unsure)


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline makes of one frame: its place in the run, its faces and the events it raised.

    `time` is the run's clock in seconds: video time for a file (the frame index over its frame rate), the wall
    clock since the start for a camera or a stream. The last result of a run has no frame and no faces: it
    carries the events of the tracks still open when the source ended."""

    index: int
    time: float
    faces: list[Face]
    events: list[dict] = field(default_factory=list)
    # As read; the sinks that show or save pixels have it drawn on, once, through overlay.render.
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)
    fps: float = 0.0  # the pipeline's frame rate over the last few frames
    people: Counter = field(default_factory=Counter)  # unique people per class so far (open tracks included)
    banner: str = ""  # the latest alert while it is fresh: what the overlay shows across the bottom
    summary: Summary | None = field(default=None, repr=False, compare=False)  # the run's figures so far
    drawn: list = field(default_factory=list, repr=False, compare=False)  # set by overlay.render: drawn once


@dataclass
class Summary:
    """A run's figures: what the scripts print at the end, and what sinks get when it closes."""

    frames: int = 0
    faces: Counter = field(default_factory=Counter)  # per class, of the faces big enough to tell
    unsure: int = 0  # faces too small to tell
    seconds: float = 0.0
    stage_seconds: defaultdict = field(default_factory=lambda: defaultdict(float))
    first_frame_seconds: float | None = None
    people: Counter = field(default_factory=Counter)  # unique people per class: tracks by their majority label
    alerts: int = 0
    interrupted: int | None = None  # the signal that stopped the run (Ctrl-C: SIGINT)
    reconnects: int = 0  # times a live source came back after it stopped
    skipped: int = 0  # damaged frames of a file skipped
    dropped: int = 0  # frames of a live source the loop was too busy for (the newest is always taken)
    lost: str | None = None  # why a live source ended: it stopped and never came back
    unsaved_snapshots: int = 0  # alert snapshots that could not be written
    failed: bool = False  # the run ended in an error: outputs keep what they held before

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        text = (f"{self.frames} frames, faces: {counts_text(self.faces, self.unsure)}; mean {self.fps:.1f} FPS\n"
                f"people (one per track): {counts_text(self.people)}; alerts: {self.alerts}")
        notes = [f"{n} {what}" for n, what in ((self.reconnects, "reconnection(s)"),
                                               (self.skipped, "damaged frame(s) skipped")) if n]
        if self.interrupted:
            notes.append(f"stopped by {signal.Signals(self.interrupted).name}")
        if self.lost:
            notes.append(self.lost)
        return text + ("\nsource: " + "; ".join(notes) if notes else "")
