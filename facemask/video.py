"""The frame loop: faces found and followed, labels drawn, people watched, frames shown and written, a summary
at the end."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .detector import MaskDetector
from .errors import SourceError
from .faces import crop_box
from .images import to_bgr8
from .interrupt import StopRequest, signals_held
from .labels import CLASSES, counts_text
from .monitor import Monitor, MonitorConfig
from .overlay import draw_faces, draw_fps
from .stream import READ_TIMEOUT, FrameReader, FrameWriter
from .tracking import Tracker
from .types import Face, FrameResult

WINDOW = "Face mask detector"


def check_display() -> None:
    """Fail clearly where a window cannot open: OpenCV's Qt aborts the whole process there."""
    if sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    ):
        raise SourceError("no display to show the video on: run with --no-display (and --output to save it)")


@dataclass
class Summary:
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


class FrameObserver(Protocol):
    """What the frame loop tells whoever follows a run (the dashboard's LiveState, the batch runner's CSV of
    faces): one interface, so that the loop does not grow a hook per caller."""

    def observe(self, result: FrameResult, frame: np.ndarray, fps: float,
                people: Callable[[], Counter] | None = None, summary: Summary | None = None) -> None:
        """A frame's result, the frame (drawn on, not to be drawn on again) and the frame rate; `people()`
        counts unique people per class; `summary`: the run's figures so far (read it here: it changes after
        the call)."""

    def finish(self, frames: int, people: Counter, alerts: int, mean_fps: float, events: list[dict],
               interrupted: bool) -> None:
        """The run is over: the summary's figures and the events its end raised."""


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
    and boxes follow the optical flow in between, and while a large frame's small faces wait for their tile
    (see scanning.py)."""
    clock = _Clock(summary or Summary())

    def find(frame: np.ndarray, index: int) -> tuple:
        start = time.perf_counter()
        found = detector.finder.scan(frame, index)
        clock("detect", start)
        return found

    pending: deque[tuple[np.ndarray, Future | None]] = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="face-detector") as pool:
        for i, raw in enumerate(frames):
            frame = to_bgr8(raw)
            if frame is None:
                continue
            pending.append((frame, pool.submit(find, frame, i // detect_every) if i % detect_every == 0 else None))
            if len(pending) > 1:
                yield _label(detector, tracker, *pending.popleft(), detect_every > 1, clock)
        while pending:
            yield _label(detector, tracker, *pending.popleft(), detect_every > 1, clock)


def _label(detector, tracker: Tracker, frame, found: Future | None, use_flow: bool, clock) -> tuple:
    boxes, coverage = found.result() if found is not None else (None, None)
    start = time.perf_counter()
    if use_flow or (coverage is not None and tracker.waiting(coverage)):
        tracker.follow(frame)
        start = clock("track", start)
    else:
        tracker.rest()
    if boxes is not None:
        todo = [i for i, needed in enumerate(tracker.needs_classifying(boxes)) if needed]
        probs = np.full((len(boxes), len(CLASSES)), np.nan, np.float32)
        if todo:
            probs[todo] = detector.classify([crop_box(frame, boxes[i][0]) for i in todo])
        start = clock("classify", start)
        tracker.update(boxes, probs, coverage)
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
    monitoring: MonitorConfig | None = None,
    reclassify_every: int = 1,
    reconnect: int = 0,
    read_timeout: float = READ_TIMEOUT,
    opener: Callable[[int | str], object] | None = None,
    progress: bool = False,
    observers: Sequence[FrameObserver] = (),
    stop: StopRequest | None = None,
) -> Summary:
    """Detect, draw and show or write every frame until the source ends, the user presses q or Esc, or Ctrl-C.

    `progress`: a bar on stderr (frames done of the total, frames per second, time left) for a source whose
    length is known, a file. `observers`: told of each finished frame and of the end (see FrameObserver).
    `stop`: a StopRequest the caller can set from another thread (a worker that is
    told to stop); by default the run makes its own, set by Ctrl-C.

    Ctrl-C or SIGTERM stops after the frame in hand: the output video is finished so that it plays, the summary
    is returned with `interrupted` set to the signal. A live source that stops delivering is reopened up to
    `reconnect` times (see stream.FrameReader); `opener` opens the capture in its place (for tests).

    Alerts go by video time for a file (at its own frame rate, however slow), so that a file gives the same
    alerts however fast it is processed, and by the wall clock for a camera or a stream."""
    if display:
        check_display()
    start = time.perf_counter()
    tracker = Tracker(smooth=smooth, reclassify_every=reclassify_every)
    monitor = Monitor(tracker, monitoring, str(source))  # first: a bad log path fails before a camera opens
    summary, writer = Summary(), None
    last, fps = time.perf_counter(), 0.0
    index, now = -1, 0.0
    with stop or StopRequest() as stop:
        try:
            reader = FrameReader(source, reconnect=reconnect, timeout=read_timeout, opener=opener, stop=stop.event)
        except BaseException:
            monitor.close(0, 0.0)
            raise
        frames = annotate(detector, reader, tracker, detect_every, summary)
        bar = _progress_bar(reader) if progress else None
        failed = False
        try:
            for index, (frame, faces) in enumerate(frames):
                now = time.perf_counter() - start if reader.live else index / reader.fps
                events = monitor.observe(frame, faces, index, now)
                tick = time.perf_counter()
                dt, last = max(tick - last, 1e-6), tick
                fps = 1 / dt if fps == 0 else 0.9 * fps + 0.1 / dt
                draw_fps(frame, fps)
                summary.frames += 1
                summary.faces.update(f.label for f in faces if not f.unsure)
                summary.unsure += sum(f.unsure for f in faces)
                summary.reconnects, summary.dropped = reader.reconnects, reader.dropped
                result = FrameResult(index, now, faces, events)
                for observer in observers:
                    observer.observe(result, frame, fps, monitor.live_people, summary)
                if bar is not None:
                    bar.update()
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
                if stop.is_set():
                    break
        except KeyboardInterrupt:  # a second Ctrl-C, or one that came before the handler was in place
            stop.set(signal.SIGINT)
        except BaseException:
            failed = True
            raise
        finally:
            if bar is not None:
                bar.close()
            frames.close()
            reader.close()
            try:
                if writer is not None:
                    _finish_output(writer, publish=not failed)
                    summary.stage_seconds["encode"] = writer.encode_seconds
            finally:
                summary.stage_seconds["decode"] = reader.decode_seconds
                summary.seconds = time.perf_counter() - start
                if display:
                    cv2.destroyAllWindows()
                ended: list[dict] = []
                try:
                    ended = monitor.close(max(index, 0), now)  # last: it waits for --on-alert commands still running
                finally:
                    summary.people, summary.alerts = monitor.people, monitor.alerts
                    summary.unsaved_snapshots = monitor.unsaved_snapshots
                    summary.interrupted = stop.signum
                    summary.reconnects, summary.skipped, summary.lost = reader.reconnects, reader.skipped, reader.lost
                    summary.dropped = reader.dropped
                    for observer in observers:
                        observer.finish(summary.frames, summary.people, summary.alerts, summary.fps, ended,
                                        interrupted=bool(summary.interrupted))
    return summary


def _progress_bar(reader: FrameReader):
    """A bar over the frames of a file; None for a camera or a stream, which have no end to count to."""
    if reader.live or reader.frame_count <= 0:
        return None
    from tqdm import tqdm

    return tqdm(total=reader.frame_count, unit="frame", file=sys.stderr, mininterval=0.5, dynamic_ncols=True)


def _finish_output(writer: FrameWriter, publish: bool) -> None:
    """Publish the video after a run that ended (an interrupted one too: it plays); after an error, keep
    whatever the output path held, since the frames that would replace it are not all there."""
    with signals_held():
        if publish:
            writer.close()
        else:
            writer.discard()
