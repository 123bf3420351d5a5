"""Following faces between frames: stable IDs, boxes that glide instead of jumping, labels that do not flicker.

Between detections boxes move with the median optical flow of the points inside them (a few ms a frame),
so the face detector can run on every k-th frame only.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .faces import clamp_box, iou
from .labels import CLASSES
from .scanning import Coverage
from .types import Box

FLOW_SCALE = 0.5  # optical flow on a half-size gray frame: precise enough for boxes, 4x cheaper
CONFIDENT = 0.8  # a smoothed label at least this sure may skip some classifications


@dataclass
class Track:
    id: int
    box: np.ndarray  # float x1, y1, x2, y2
    score: float
    history: deque  # the last class-probability vectors, newest last
    misses: int = 0
    hidden: bool = False  # missed by a pass that comes every time since it was last seen
    unclassified: int = 0  # detections since its crop last went through the classifier
    labels: list[str] = field(default_factory=list)  # label after each observation, for logs and counts
    label_counts: Counter = field(default_factory=Counter)  # the same, counted: a majority in constant time

    @property
    def probs(self) -> np.ndarray:
        return np.mean(self.history, axis=0)

    @property
    def label(self) -> str:
        return CLASSES[int(np.argmax(self.probs))]

    @property
    def majority_label(self) -> str:
        """The label it had most often: how a person is counted once, whatever a few frames said."""
        return self.label_counts.most_common(1)[0][0] if self.label_counts else self.label

    def int_box(self, width: int, height: int) -> Box | None:
        return clamp_box(tuple(self.box), width, height)


class Tracker:
    """Matches each frame's detections to the faces already followed, by overlap."""

    def __init__(
        self,
        smooth: int = 1,
        max_misses: int = 2,
        match_iou: float = 0.3,
        box_alpha: float = 0.7,
        reclassify_every: int = 1,
    ):
        self.smooth = smooth
        self.reclassify_every = reclassify_every
        self.max_misses = max_misses
        self.match_iou = match_iou
        self.box_alpha = box_alpha
        self.tracks: list[Track] = []
        self.ended: list[Track] = []
        self._next_id = 1
        self._gray: np.ndarray | None = None

    def _small_gray(self, frame: np.ndarray) -> np.ndarray:
        small = cv2.resize(frame, None, fx=FLOW_SCALE, fy=FLOW_SCALE, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

    def follow(self, frame: np.ndarray) -> None:
        """Move every box with the optical flow since the previous frame."""
        gray = self._small_gray(frame)
        previous, self._gray = self._gray, gray
        if previous is None or previous.shape != gray.shape:
            return
        shifts = _median_flows(previous, gray, [track.box * FLOW_SCALE for track in self.tracks])
        for track, shift in zip(self.tracks, shifts, strict=True):
            if shift is not None:
                track.box += np.tile(shift / FLOW_SCALE, 2)

    def waiting(self, coverage: Sequence[Coverage]) -> bool:
        """Whether some face is out of reach of the passes that come every time: it waits for its tile and
        follows the flow meanwhile."""
        every_time = [c for c in coverage if c.every_time]
        return any(not any(c.sees(t.box) for c in every_time) for t in self.tracks)

    def rest(self) -> None:
        """No flow this frame: the next follow() starts afresh instead of measuring motion across the gap."""
        self._gray = None

    def match(self, boxes: list[tuple[Box, float]]) -> list[Track | None]:
        """The track each detected box continues (None for a new face): greedily by overlap, best first."""
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, (b, _) in enumerate(boxes)),
            reverse=True,
        )
        matched: list[Track | None] = [None] * len(boxes)
        taken = set()
        for overlap, ti, bi in pairs:
            if overlap >= self.match_iou and ti not in taken and matched[bi] is None:
                taken.add(ti)
                matched[bi] = self.tracks[ti]
        return matched

    def needs_classifying(self, boxes: list[tuple[Box, float]]) -> list[bool]:
        """Which boxes to classify: new faces and uncertain ones always; a face whose smoothed label is
        confident only every `reclassify_every` detections, which saves most of the classifier's time."""
        return [
            track is None
            or not track.history
            or track.unclassified + 1 >= self.reclassify_every
            or float(track.probs.max()) < CONFIDENT
            for track in self.match(boxes)
        ]

    def update(self, boxes: list[tuple[Box, float]], probs: np.ndarray,
               coverage: Sequence[Coverage] | None = None) -> None:
        """Take a detection frame's boxes and class probabilities, NaN rows for boxes left unclassified
        (call follow() on the frame first). `coverage`: the faces the detector could have found this time
        (None: all of them); a face it could not have found is not missed, and follows the flow until it can."""
        matched = self.match(boxes)
        for track in self.tracks:
            if any(track is m for m in matched):
                continue
            seen = [c.every_time for c in coverage if c.sees(track.box)] if coverage is not None else [True]
            if seen:
                track.misses += 1
                track.hidden |= any(seen)
        for track, (box, score), p in zip(matched, boxes, probs, strict=True):
            if track is not None:
                track.box = self.box_alpha * np.array(box, float) + (1 - self.box_alpha) * track.box
                self._observe(track, p, score)
            elif not np.isnan(p).any():
                track = Track(self._next_id, np.array(box, float), score, deque(maxlen=self.smooth))
                self._next_id += 1
                self._observe(track, p, score)
                self.tracks.append(track)
        self.ended += [t for t in self.tracks if t.misses > self.max_misses]
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]

    def _observe(self, track: Track, probs: np.ndarray, score: float) -> None:
        if np.isnan(probs).any():
            track.unclassified += 1
        else:
            track.history.append(probs)
            track.unclassified = 0
        track.score = score
        track.misses, track.hidden = 0, False
        label = track.label
        track.labels.append(label)
        track.label_counts[label] += 1

    def pop_ended(self) -> list[Track]:
        """The tracks ended since the last call, handed over once so that a long stream does not pile them up."""
        ended, self.ended = self.ended, []
        return ended

    def end_all(self) -> list[Track]:
        """End every track, as when the source ends, and hand over all ended tracks not yet popped."""
        self.ended += self.tracks
        self.tracks = []
        return self.pop_ended()

    def visible(self) -> list[Track]:
        """Tracks seen at the last detection that could see them. One that a pass coming every time missed is
        kept a while out of view, to resume its ID and labels; one that only tiles missed stays in view until it
        ends: a tile comes again a cycle later, and YuNet misses a face near the least size now and then."""
        return [t for t in self.tracks if not t.hidden]


def _corners(previous: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Points worth following inside a box, looked for in the box alone (not in the whole frame under a mask)."""
    h, w = previous.shape
    x1, y1, x2, y2 = (int(v) for v in np.clip(box, 0, [w, h, w, h]))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    points = cv2.goodFeaturesToTrack(previous[y1:y2, x1:x2], maxCorners=30, qualityLevel=0.01, minDistance=3)
    return None if points is None else points + np.float32([x1, y1])


def _median_flows(previous: np.ndarray, gray: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray | None]:
    """How far each box's content moved (median over its points), None where too little could be followed;
    one optical-flow call for all boxes, so that the image pyramids are built once a frame."""
    corners = [_corners(previous, box) for box in boxes]
    found = [c for c in corners if c is not None]
    if not found:
        return [None] * len(boxes)
    points = np.concatenate(found)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, gray, points, None, winSize=(15, 15), maxLevel=2)
    shifts, start = [], 0
    for c in corners:
        if c is None:
            shifts.append(None)
            continue
        end = start + len(c)
        good = status[start:end].ravel() == 1
        shift = (moved[start:end] - points[start:end])[good].reshape(-1, 2)
        shifts.append(np.median(shift, axis=0) if good.sum() >= 3 else None)
        start = end
    return shifts
