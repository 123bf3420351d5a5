"""What a running pipeline shows the outside world (the dashboard): its latest frame, counts, frame rate, events.

The frame loop writes and a web server reads, so everything here is built for the writer: publishing a frame is
an assignment under a lock, the counts are a few additions, and no frame is encoded unless someone watches. A
thread of its own encodes the newest frame (latest frame wins, nothing queues) at a capped rate, so watchers cost
the detector at most that many JPEG encodings a second, and a watcher that stops reading costs it nothing.

A LiveCopy is the same state read in another process: the batch streams runner's watchers each fill a LiveState
in a Ray actor, and the dashboard on the driver reads their copies, which fetch only what changed.

Needs no web framework: the server (facemask.dashboard) is optional, this is not.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from functools import partial
from typing import Any

import cv2
import numpy as np

from .events import wall_time
from .images import shrink
from .labels import CLASSES, compliance, per_class
from .overlay import render
from .stream import redact
from .types import FrameResult, Summary, sure_counts

MAX_FPS = 10.0  # frames a second encoded for watchers, at most
JPEG_QUALITY = 75
MAX_WIDTH = 960  # wider frames are scaled down for the page: a 4K frame would cost the encoder 15 times more
THUMB_WIDTH = 320  # alert thumbnails
MAX_EVENTS = 200  # events kept for /api/events; older ones are in the --log file
MAX_THUMBS = 50  # alert thumbnails kept in memory
HISTORY_MINUTES = 60  # compliance over time: the last hour, by minute
# Upper bounds (seconds) of the buckets of the frame-time histogram (facemask.metrics); the last is +Inf.
FRAME_BUCKETS = (0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def _empty_stats() -> dict[str, Any]:
    return {"frames": 0, "fps": 0.0, "mean_fps": 0.0, "alerts": 0, "in_view": dict.fromkeys(CLASSES, 0),
            "faces": dict.fromkeys(CLASSES, 0), "people": dict.fromkeys(CLASSES, 0), "video_time": 0.0,
            "dropped": 0, "reconnects": 0, "stage_seconds": {},
            "frame_seconds": {"buckets": [0] * (len(FRAME_BUCKETS) + 1), "sum": 0.0}}


def _stats(state: str, source: str, started: str, figures: dict, history: list[dict], viewers: int,
           encoded: int) -> dict:
    """/api/stats: the figures as the frame loop keeps them, and the rates computed from them."""
    s = copy.deepcopy(figures)
    history = [dict(b) for b in history]
    for bucket in history:
        bucket["compliance"] = round(bucket["masked"] / bucket["faces"], 4) if bucket["faces"] else None
    return {"state": state, "source": source, "started": started, **s,
            "in_view_total": sum(s["in_view"].values()),
            "compliance": compliance(s["in_view"], 4),
            "run_compliance": compliance(s["faces"], 4),
            "history": history, "viewers": viewers, "encoded": encoded}


class _Events:
    """The last MAX_EVENTS events, numbered from 1, and the thumbnails of the last MAX_THUMBS alerts; its owner
    holds the lock."""

    def __init__(self) -> None:
        self.items: deque[dict] = deque(maxlen=MAX_EVENTS)
        self.thumbs: OrderedDict[int, bytes] = OrderedDict()
        self.next = 1

    def add(self, event: dict, thumb: bytes | None) -> None:
        number, self.next = self.next, self.next + 1
        if thumb is not None:
            self.thumbs[number] = thumb
            while len(self.thumbs) > MAX_THUMBS:
                self.thumbs.popitem(last=False)
        self.items.append(event | {"id": number, "thumbnail": f"snapshots/{number}.jpg" if thumb else None})

    def since(self, since: int, limit: int) -> list[dict]:
        found = [dict(e) for e in self.items if e["id"] > since]
        return found[-limit:] if limit else []


def encode_jpeg(frame: np.ndarray, max_width: int, quality: int = JPEG_QUALITY) -> bytes:
    """The frame as a JPEG no wider than `max_width`."""
    h, w = frame.shape[:2]
    if w > max_width:
        frame = shrink(frame, (max_width, max(1, round(h * max_width / w))))
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class _LiveView:
    """What the dashboard reads of a run, the same for a LiveState and a LiveCopy of one: the events and their
    thumbnails, the newest encoded frame, its watchers. Subclasses fill them under `_cond`."""

    def __init__(self, source: str):
        self.source = redact(source)
        self._cond = threading.Condition()
        self._closed = False
        self._viewers = 0
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._events = _Events()

    def events(self, since: int = 0, limit: int = MAX_EVENTS) -> list[dict]:
        """The events numbered above `since`, oldest first, `limit` at most (the newest ones)."""
        with self._cond:
            return self._events.since(since, limit)

    def thumbnail(self, number: int) -> bytes | None:
        with self._cond:
            return self._events.thumbs.get(number)

    @property
    def viewers(self) -> int:
        return self._viewers

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Frames are encoded while at least one watcher is inside this."""
        with self._cond:
            self._viewers += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._viewers -= 1

    def jpeg_after(self, seq: int) -> tuple[int, bytes] | None:
        """The newest encoded frame if it is newer than `seq`, without waiting."""
        with self._cond:
            if self._jpeg is None or self._jpeg_seq == seq:
                return None
            return self._jpeg_seq, self._jpeg

    @property
    def closed(self) -> bool:
        return self._closed

    def shutdown(self) -> None:
        """Tell the video streams to end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LiveState(_LiveView):
    """The pipeline's state, written by the frame loop as a sink (observe, close), read by any number of server
    threads. It keeps the frame overlay.render drew for the result, which no one draws on afterwards: the encoder
    reads it later, without a copy."""

    def __init__(self, source: str = "", max_fps: float = MAX_FPS, max_width: int = MAX_WIDTH):
        super().__init__(source)
        self.interval = 1.0 / max_fps
        self.max_width = max_width
        self.started = wall_time()
        self.encoded = 0  # frames encoded for watchers: 0 while nobody watches
        self.run = uuid.uuid4().hex  # tells a LiveCopy that a new run has begun
        self._remote = False  # a LiveCopy's watchers, counted as one
        self._frame: np.ndarray | None = None
        self._frame_seq = 0
        self._state = "starting"
        self._version = 0  # of the figures: a LiveCopy keeps the newest it was sent
        self._stats = _empty_stats()
        self._history: deque[dict] = deque(maxlen=HISTORY_MINUTES)
        self._t0: float | None = None
        self._last_tick: float | None = None
        self._encoder = threading.Thread(target=self._encode_loop, name="dashboard-encoder", daemon=True)
        self._encoder.start()

    # The frame loop's side: cheap, never waits for a reader.

    def observe(self, result: FrameResult) -> None:
        """One frame's result (a sink of the run): the annotated frame is what watchers see; the last result of
        a run, which has no frame, brings the events of the tracks still open."""
        if result.frame is None:
            with self._cond:
                for event in result.events:
                    self._add_event(event, None)
            return
        faces, events, index, now, fps = result.faces, result.events, result.index, result.time, result.fps
        frame = render(result)
        tick = time.perf_counter()
        if self._t0 is None:
            self._t0 = tick
        frame_time, self._last_tick = (None if self._last_tick is None else tick - self._last_tick), tick
        counts = sure_counts(faces)
        thumbs = {id(e): encode_jpeg(frame, THUMB_WIDTH) for e in events if e.get("event") == "alert"}
        with self._cond:
            self._frame, self._frame_seq = frame, self._frame_seq + 1
            self._version += 1
            s = self._stats
            self._state = "running"
            s["frames"] = index + 1
            s["fps"] = round(fps, 2)
            s["mean_fps"] = round(s["frames"] / max(tick - self._t0, 1e-6), 2) if s["frames"] > 1 else 0.0
            s["video_time"] = round(now, 3)
            s["in_view"] = per_class(counts)
            for c in CLASSES:
                s["faces"][c] += counts[c]
            s["people"] = per_class(result.people)
            if result.summary is not None:
                self._run_figures(result.summary)
            if frame_time is not None:
                histogram = s["frame_seconds"]
                histogram["buckets"][bisect.bisect_left(FRAME_BUCKETS, frame_time)] += 1
                histogram["sum"] += frame_time
            self._add_to_history(now, counts, sum(counts.values()))
            for event in events:
                self._add_event(event, thumbs.get(id(event)))
            if self._viewers:
                self._cond.notify_all()

    def _run_figures(self, summary: Summary) -> None:
        """Dropped frames, reconnections and time per stage, for /metrics; the caller holds the lock."""
        s = self._stats
        s["dropped"], s["reconnects"] = summary.dropped, summary.reconnects
        s["stage_seconds"] = {k: round(v, 6) for k, v in summary.stage_seconds.items()}

    def close(self, summary: Summary) -> None:
        """The run is over (a sink's end): its final figures, those of its summary. The page stays up."""
        with self._cond:
            self._run_figures(summary)
            self._state = "stopped" if summary.interrupted else "ended"
            self._version += 1
            s = self._stats
            s["frames"], s["alerts"], s["mean_fps"] = summary.frames, summary.alerts, round(summary.fps, 2)
            s["people"] = per_class(summary.people)
            s["in_view"] = dict.fromkeys(CLASSES, 0)

    def shutdown(self) -> None:
        """End the encoder and tell the video streams to end (the dashboard is closing)."""
        super().shutdown()
        self._encoder.join(5)

    def _add_to_history(self, now: float, counts: Counter, faces: int) -> None:
        minute = int(now // 60)
        if not self._history or self._history[-1]["minute"] != minute:
            self._history.append({"minute": minute, "time": wall_time(), "masked": 0, "faces": 0})
        bucket = self._history[-1]
        bucket["masked"] += counts["with_mask"]
        bucket["faces"] += faces

    def _add_event(self, event: dict, thumb: bytes | None) -> None:
        if event.get("event") == "alert":
            self._stats["alerts"] += 1
        self._events.add(event, thumb)

    # The server's side.

    def stats(self) -> dict:
        with self._cond:
            return _stats(self._state, self.source, self.started, self._stats, list(self._history), self._viewers,
                          self.encoded)

    def changes(self, since: tuple[str | None, int, int], watching: bool) -> dict:
        """What a LiveCopy lacks, small enough to send often: the figures, the events numbered above the
        copy's last, with their thumbnails, and the newest encoded frame unless the copy has it. `since`: the
        copy's LiveCopy.since, what it has of which run (of another run: nothing). `watching`: whether anyone
        watches the copy's video, which counts here as one watcher until a later call says otherwise; so frames
        are encoded for a copy, as for a local watcher, only while watched."""
        with self._cond:
            if watching != self._remote:
                self._remote = watching
                self._viewers += 1 if watching else -1
                self._cond.notify_all()
            _, since_event, since_frame = since if since[0] == self.run else (None, 0, 0)
            events = self._events.since(since_event, MAX_EVENTS)
            return {"run": self.run, "version": self._version, "stats": self.stats(), "events": events,
                    "thumbs": {e["id"]: self._events.thumbs.get(e["id"]) for e in events if e["thumbnail"]},
                    "frame": self.jpeg_after(since_frame)}  # the lock is reentrant

    def _encoding_due(self, done: int) -> bool:
        return self._closed or bool(self._viewers and self._frame_seq != done)

    def _encode_loop(self) -> None:
        done = 0
        while True:
            with self._cond:
                self._cond.wait_for(partial(self._encoding_due, done))
                if self._closed:
                    return
                frame, done = self._frame, self._frame_seq
            start = time.perf_counter()
            try:
                jpeg = encode_jpeg(frame, self.max_width)
            except (ValueError, cv2.error):
                continue
            with self._cond:
                self._jpeg, self._jpeg_seq = jpeg, done
                self.encoded += 1
                self._cond.wait_for(lambda: self._closed, self.interval - (time.perf_counter() - start))


class LiveCopy(_LiveView):
    """A LiveState of another process, kept up to date by whoever passes its changes() to apply(); read by the
    dashboard exactly as a LiveState is. Its watchers are counted here (`viewers`), for the one who fetches the
    changes to pass on. Events are numbered afresh, so that a stream watched again (a new LiveState, numbered
    from 1 again) goes on where it was."""

    def __init__(self, source: str = ""):
        super().__init__(source)
        self._since_event = 0  # of the run in hand: what to ask its LiveState for next
        self._since_frame = 0
        self._runs: list[str] = []  # the current one last
        self._version = -1
        self._stats = _stats("starting", self.source, wall_time(), _empty_stats(), [], 0, 0)
        self._ended: str | None = None  # the state the owner gave (end), over the one its source last sent

    def end(self, state: str) -> None:
        """The run is over in a way its source cannot tell (a stream given up on: "lost"), until a new run."""
        with self._cond:
            self._ended = state

    def apply(self, changes: dict) -> None:
        """Changes from the source's LiveState.changes(); a stale answer (an older run's, or older figures
        fetched at the same time as newer ones) changes nothing it should not."""
        with self._cond:
            run = changes["run"]
            if run in self._runs[:-1]:
                return
            if not self._runs or run != self._runs[-1]:
                self._runs.append(run)
                self._ended = None
                self._since_event = self._since_frame = 0
                self._version = -1
            for event in changes["events"]:
                if event["id"] > self._since_event:
                    self._since_event = event["id"]
                    copy = {k: v for k, v in event.items() if k not in ("id", "thumbnail")}
                    self._events.add(copy, changes["thumbs"].get(event["id"]))
            if changes["version"] >= self._version:
                self._version = changes["version"]
                self._stats = changes["stats"] | {"source": self.source}
            if changes["frame"] is not None and changes["frame"][0] > self._since_frame:
                self._since_frame, self._jpeg = changes["frame"]
                self._jpeg_seq += 1

    @property
    def since(self) -> tuple[str | None, int, int]:
        """What to ask for next: the run in hand, its last event and frame here."""
        with self._cond:
            return (self._runs[-1] if self._runs else None), self._since_event, self._since_frame

    def stats(self) -> dict:
        with self._cond:
            return self._stats | {"viewers": self._viewers} | ({"state": self._ended} if self._ended else {})
