"""The frame loop: faces found and followed, labels drawn, frames shown and written, a summary at the end."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .detector import Face, MaskDetector, crop
from .errors import SourceError
from .images import to_bgr8
from .labels import CLASSES, COLORS, DISPLAY_NAMES
from .stream import FrameReader, FrameWriter
from .tracking import Tracker

WINDOW = "Face mask detector"


def check_display() -> None:
    """Fail clearly where a window cannot open: OpenCV's Qt aborts the whole process there."""
    if sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    ):
        raise SourceError("no display to show the video on: run with --no-display (and --output to save it)")


def draw_faces(frame: np.ndarray, faces: list[Face]) -> None:
    for face in faces:
        x1, y1, x2, y2 = face.box
        color = COLORS[face.label]
        text = f"{DISPLAY_NAMES[face.label]}: {face.confidence:.1%}"
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, 2)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = y1 - 6 if y1 - th - base - 6 >= 0 else y2 + th + 6
        cv2.rectangle(frame, (x1, ty - th - 4), (x1 + tw + 4, ty + base - 2), color, cv2.FILLED)
        cv2.putText(frame, text, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def draw_fps(frame: np.ndarray, fps: float) -> None:
    cv2.putText(frame, f"FPS: {fps:.1f}", (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, f"FPS: {fps:.1f}", (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)


@dataclass
class Summary:
    frames: int = 0
    faces: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    stage_seconds: defaultdict = field(default_factory=lambda: defaultdict(float))
    first_frame_seconds: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        counts = ", ".join(f"{DISPLAY_NAMES[c]} {self.faces[c]}" for c in CLASSES)
        return f"{self.frames} frames, faces: {counts}; mean {self.fps:.1f} FPS"


class _Clock:
    """Adds the time spent in each stage to a summary, to show where a frame's time goes."""

    def __init__(self, summary: Summary):
        self.summary = summary

    def __call__(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.summary.stage_seconds[stage] += now - start
        return now


def annotate(
    detector: MaskDetector,
    frames: Iterable[np.ndarray],
    tracker: Tracker,
    detect_every: int = 1,
    summary: Summary | None = None,
) -> Iterator[tuple[np.ndarray, list[Face]]]:
    """Yield each frame with its faces. The face detector works one frame ahead on a second thread while this
    one classifies, tracks and draws, so both cores are busy; it runs on every `detect_every`-th frame only,
    and boxes follow the optical flow in between."""
    clock = _Clock(summary or Summary())

    def find(frame: np.ndarray) -> list:
        start = time.perf_counter()
        boxes = detector.finder.find(frame)
        clock("detect", start)
        return boxes

    pending: deque[tuple[np.ndarray, Future | None]] = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="face-detector") as pool:
        for i, raw in enumerate(frames):
            frame = to_bgr8(raw)
            if frame is None:
                continue
            pending.append((frame, pool.submit(find, frame) if i % detect_every == 0 else None))
            if len(pending) > 1:
                yield _label(detector, tracker, *pending.popleft(), detect_every > 1, clock)
        while pending:
            yield _label(detector, tracker, *pending.popleft(), detect_every > 1, clock)


def _label(detector, tracker: Tracker, frame, found: Future | None, use_flow: bool, clock) -> tuple:
    start = time.perf_counter()
    if use_flow:
        tracker.follow(frame)
        start = clock("track", start)
    if found is not None:
        boxes = found.result()
        start = time.perf_counter()
        probs = detector.classify([crop(frame, box) for box, _ in boxes])
        start = clock("classify", start)
        tracker.update(boxes, probs)
    h, w = frame.shape[:2]
    faces = []
    for track in tracker.visible():
        box = track.int_box(w, h)
        if box is not None and track.history:
            probs = track.probs
            best = int(np.argmax(probs))
            faces.append(Face(box, CLASSES[best], float(probs[best]), probs, track.score, track.id))
    draw_faces(frame, faces)
    clock("draw", start)
    return frame, faces


def run(
    detector: MaskDetector,
    source: int | str,
    output: str | Path | None = None,
    display: bool = True,
    detect_every: int = 1,
    smooth: int = 1,
) -> Summary:
    """Detect, draw and show or write every frame until the source ends or the user presses q or Esc."""
    if display:
        check_display()
    start = time.perf_counter()
    reader = FrameReader(source)
    summary, writer = Summary(), None
    tracker = Tracker(smooth=smooth)
    last, fps = time.perf_counter(), 0.0
    try:
        for frame, faces in annotate(detector, reader, tracker, detect_every, summary):
            now = time.perf_counter()
            dt, last = max(now - last, 1e-6), now
            fps = 1 / dt if fps == 0 else 0.9 * fps + 0.1 / dt
            draw_fps(frame, fps)
            summary.frames += 1
            summary.faces.update(f.label for f in faces)
            if output is not None:
                if writer is None:
                    writer = FrameWriter(output, reader.fps, (frame.shape[1], frame.shape[0]))
                writer.write(frame)
            if summary.first_frame_seconds is None:
                summary.first_frame_seconds = time.perf_counter() - start
            if display:
                cv2.imshow(WINDOW, frame)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        reader.close()
        if writer is not None:
            writer.close()
            summary.stage_seconds["encode"] = writer.encode_seconds
        summary.stage_seconds["decode"] = reader.decode_seconds
        summary.seconds = time.perf_counter() - start
        if display:
            cv2.destroyAllWindows()
    return summary
