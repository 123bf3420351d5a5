"""Video sources, the frame loop, drawing and the annotated output file."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .detector import Face, MaskDetector
from .errors import SourceError
from .files import temp_path
from .images import to_bgr8
from .labels import CLASSES, COLORS, DISPLAY_NAMES

WINDOW = "Face mask detector"
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def check_display() -> None:
    """Fail clearly where a window cannot open: OpenCV's Qt aborts the whole process there."""
    if sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    ):
        raise SourceError("no display to show the video on: run with --no-display (and --output to save it)")


def open_source(source: int | str) -> cv2.VideoCapture:
    """A camera index, a video file or a stream URL, opened; a SourceError that says which when it cannot be."""
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        what = f"camera {source}" if isinstance(source, int) else f"video {source}"
        raise SourceError(f"cannot open {what}" + (": is a camera connected?" if isinstance(source, int) else ""))
    return capture


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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        counts = ", ".join(f"{DISPLAY_NAMES[c]} {self.faces[c]}" for c in CLASSES)
        return f"{self.frames} frames, faces: {counts}; mean {self.fps:.1f} FPS"


class Writer:
    """An annotated video, written under a temporary name and renamed once complete."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        fourcc = FOURCC.get(self.path.suffix.lower())
        if fourcc is None:
            raise SourceError(f"unsupported output type {self.path.suffix!r}: use one of {', '.join(FOURCC)}")
        self.tmp = temp_path(self.path)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise SourceError(f"cannot write {self.path}")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()
        os.replace(self.tmp, self.path)


def _fps_of(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if 1 <= fps <= 240 else 30.0


def run(
    detector: MaskDetector,
    source: int | str,
    output: str | Path | None = None,
    display: bool = True,
) -> Summary:
    """Detect, draw and show or write every frame until the source ends or the user presses q or Esc."""
    if display:
        check_display()
    capture = open_source(source)
    summary, writer = Summary(), None
    start = last = time.perf_counter()
    fps = 0.0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frame = to_bgr8(frame)
            if frame is None:
                continue
            faces = detector.detect(frame)
            draw_faces(frame, faces)
            now = time.perf_counter()
            dt, last = max(now - last, 1e-6), now
            fps = 1 / dt if fps == 0 else 0.9 * fps + 0.1 / dt
            draw_fps(frame, fps)
            summary.frames += 1
            summary.faces.update(f.label for f in faces)
            if output is not None:
                if writer is None:
                    writer = Writer(output, _fps_of(capture), (frame.shape[1], frame.shape[0]))
                writer.write(frame)
            if display:
                cv2.imshow(WINDOW, frame)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        summary.seconds = time.perf_counter() - start
        capture.release()
        if writer is not None:
            writer.close()
        if display:
            cv2.destroyAllWindows()
    return summary
