"""The stream of results: frames read, faces found, followed and labelled, alerts decided; nothing drawn.

    for result in detector.stream("lobby.mp4"):
        print(result.index, [f.label for f in result.faces], result.events)

The face detector works one frame ahead on a second thread while this one classifies and tracks, so both cores
are busy; it runs on every `detect_every`-th frame only, and boxes follow the optical flow in between, and while
a large frame's small faces wait for their tile (see scanning.py).
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .alerts import AlertRules
from .faces import crop_box
from .images import to_bgr8
from .interrupt import StopRequest
from .labels import CLASSES
from .stream import READ_TIMEOUT, FrameReader
from .tracking import Tracker
from .types import Face, FrameResult, Summary, sure_counts


def option(default, flag: str, metavar: str, low: float, high: float, help: str, group: str = "",
           low_included: bool = True):
    """A field of an options dataclass that also says how the command line sets it (facemask.cli.add_options):
    its flag, the range its values must lie in, and its help; `group`: the part of --help it belongs to."""
    return field(default=default, metadata={"flag": flag, "metavar": metavar, "range": (low, high, low_included),
                                            "help": help, "group": group})


DAY = 86400.0  # seconds: the most any waiting option takes (the command line bounds its flags by it too)


@dataclass(frozen=True)
class StreamOptions:
    """How a video is read, followed and watched: the options of the video script and the batch runner, each
    with its flag, bounds, help and default, once."""

    detect_every: int = option(1, "--detect-every", "K", 1, 1000, "run the face detector on every K-th frame "
                               "only; boxes follow the motion in between")
    smooth: int = option(5, "--smooth", "N", 1, 1000, "label each face by its mean class probabilities over its "
                         "last N detections, so one ambiguous frame does not flip the label (1: no smoothing)")
    reclassify_every: int = option(3, "--reclassify-every", "N", 1, 1000, "classify a face whose smoothed label is "
                                   "confident (>= 80%%) on every N-th detection only; new and uncertain faces every "
                                   "time (1: every face on every detection)")
    alert_after: float = option(3.0, "--alert-after", "SECONDS", 0.0, DAY, "alert once per person (per track) who "
                                "stays without a mask or with an incorrect mask this long: video time for a file, "
                                "the wall clock for a camera or stream", "alerts")
    reconnect: int = option(5, "--reconnect", "N", 0, 1000, "when a camera or stream stops delivering frames, "
                            "reopen it up to N times, waiting 0.5, 1, 2 ... (at most 30) seconds before each "
                            "attempt; then end with an error (0: end at once). Counted per outage. A video file, "
                            "even one served over http://, ends at its end; one whose connection drops before its "
                            "end is reopened and goes on where it stopped", "live")
    read_timeout: float = option(READ_TIMEOUT, "--read-timeout", "SECONDS", 0.0, DAY, "a camera or stream that "
                                 "delivers no frame for this long counts as stopped", "live", low_included=False)


class _Clock:
    """Adds the time spent in each stage to a summary, to show where a frame's time goes."""

    def __init__(self, summary: Summary):
        self.summary = summary

    def __call__(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.summary.stage_seconds[stage] += now - start
        return now


def track_faces(detector, frames: Iterable[np.ndarray], tracker: Tracker, detect_every: int = 1,
                summary: Summary | None = None) -> Iterator[tuple[np.ndarray, list[Face]]]:
    """Each frame (8-bit BGR) with the faces the tracker follows in it, labelled."""
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
        clock("classify", start)
        tracker.update(boxes, probs, coverage)
    h, w = frame.shape[:2]
    faces = []
    for track in tracker.visible():
        box = track.int_box(w, h)
        if box is not None and track.history:
            probs = track.probs
            best = int(np.argmax(probs))
            faces.append(Face(box, CLASSES[best], float(probs[best]), probs, track.score, track.id))
    return frame, faces


class Stream:
    """One source's results, in order (see the module's docstring). Opening it opens the source (SourceError
    when it cannot be read); iterating runs the pipeline until the source ends or `stop` is set; the last result
    has no frame and carries the events of the tracks still open. `summary` fills as it goes."""

    def __init__(self, detector, source: int | str, options: StreamOptions | None = None,
                 stop: StopRequest | None = None, opener: Callable[[int | str], object] | None = None):
        self.options = options or StreamOptions()
        self.source = source
        self.stop = stop or StopRequest()
        self.summary = Summary()
        self.started = time.perf_counter()
        self.tracker = Tracker(smooth=self.options.smooth, reclassify_every=self.options.reclassify_every)
        self.rules = AlertRules(self.tracker, self.options.alert_after, str(source))
        self.reader = FrameReader(source, reconnect=self.options.reconnect, timeout=self.options.read_timeout,
                                  opener=opener, stop=self.stop.event)
        self.detector = detector

    @property
    def fps(self) -> float:
        return self.reader.fps

    @property
    def live(self) -> bool:
        return self.reader.live

    @property
    def frame_count(self) -> int:
        return self.reader.frame_count

    def __iter__(self) -> Iterator[FrameResult]:
        summary, reader = self.summary, self.reader
        frames = track_faces(self.detector, reader, self.tracker, self.options.detect_every, summary)
        last, fps, index, now = time.perf_counter(), 0.0, -1, 0.0
        try:
            for index, (frame, faces) in enumerate(frames):
                now = time.perf_counter() - self.started if reader.live else index / reader.fps
                events = self.rules.update(faces, index, now)
                tick = time.perf_counter()
                dt, last = max(tick - last, 1e-6), tick
                fps = 1 / dt if fps == 0 else 0.9 * fps + 0.1 / dt
                summary.frames += 1
                summary.faces.update(sure_counts(faces))
                summary.unsure += sum(f.unsure for f in faces)
                summary.reconnects, summary.dropped = reader.reconnects, reader.dropped
                summary.alerts = self.rules.alerts
                if summary.first_frame_seconds is None:
                    summary.first_frame_seconds = time.perf_counter() - self.started
                yield FrameResult(index, now, faces, events, frame, fps, self.rules.live_people(),
                                  self.rules.banner(now), summary)
                if self.stop.is_set():
                    break
        except KeyboardInterrupt:  # a second Ctrl-C, or one that came before the handler was in place
            self.stop.set(signal.SIGINT)
        finally:
            frames.close()
            self.close()
        ended = self.rules.close(max(index, 0), now)
        summary.people, summary.alerts = self.rules.people, self.rules.alerts
        yield FrameResult(max(index, 0), now, [], ended, None, fps, self.rules.people, summary=summary)

    def close(self) -> None:
        """Stop reading (also when the results were not all taken); the summary gets the reader's figures."""
        self.reader.close()
        summary, reader = self.summary, self.reader
        summary.stage_seconds["decode"] = reader.decode_seconds
        summary.seconds = time.perf_counter() - self.started
        summary.reconnects, summary.skipped, summary.lost = reader.reconnects, reader.skipped, reader.lost
        summary.dropped = reader.dropped
        summary.interrupted = self.stop.signum
