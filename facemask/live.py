"""What a running pipeline shows the outside world (the dashboard): its latest frame, counts, frame rate, events.

The frame loop writes and a web server reads, so everything here is built for the writer: publishing a frame is
an assignment under a lock, the counts are a few additions, and no frame is encoded unless someone watches. A
thread of its own encodes the newest frame (latest frame wins, nothing queues) at a capped rate, so watchers cost
the detector at most that many JPEG encodings a second, and a watcher that stops reading costs it nothing.

Needs no web framework: the server (facemask.dashboard) is optional, this is not.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import cv2
import numpy as np

from .detector import Face
from .events import wall_time
from .labels import CLASSES, compliance
from .stream import redact

MAX_FPS = 10.0  # frames a second encoded for watchers, at most
JPEG_QUALITY = 75
MAX_WIDTH = 960  # wider frames are scaled down for the page: a 4K frame would cost the encoder 15 times more
THUMB_WIDTH = 320  # alert thumbnails
MAX_EVENTS = 200  # events kept for /api/events; older ones are in the --log file
MAX_THUMBS = 50  # alert thumbnails kept in memory
HISTORY_MINUTES = 60  # compliance over time: the last hour, by minute
PEOPLE_EVERY = 0.5  # seconds between counts of the open tracks (a Counter over each track's labels)


def encode_jpeg(frame: np.ndarray, max_width: int, quality: int = JPEG_QUALITY) -> bytes:
    """The frame as a JPEG no wider than `max_width`."""
    h, w = frame.shape[:2]
    if w > max_width:
        frame = cv2.resize(frame, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class LiveState:
    """The pipeline's state, written by the frame loop (observe, finish), read by any number of server threads.

    A frame handed to observe() must not be drawn on afterwards: the encoder reads it later, without a copy."""

    def __init__(self, source: str = "", max_fps: float = MAX_FPS, max_width: int = MAX_WIDTH):
        self.source = redact(source)
        self.interval = 1.0 / max_fps
        self.max_width = max_width
        self.started = wall_time()
        self.encoded = 0  # frames encoded for watchers: 0 while nobody watches
        self._cond = threading.Condition()
        self._closed = False
        self._viewers = 0
        self._frame: np.ndarray | None = None
        self._frame_seq = 0
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._state = "starting"
        self._stats: dict[str, Any] = {"frames": 0, "fps": 0.0, "mean_fps": 0.0, "alerts": 0,
                                       "in_view": dict.fromkeys(CLASSES, 0), "faces": dict.fromkeys(CLASSES, 0),
                                       "people": dict.fromkeys(CLASSES, 0), "video_time": 0.0}
        self._history: deque[dict] = deque(maxlen=HISTORY_MINUTES)
        self._events: deque[dict] = deque(maxlen=MAX_EVENTS)
        self._next_event = 1
        self._thumbs: OrderedDict[int, bytes] = OrderedDict()
        self._people_at = -float("inf")
        self._t0: float | None = None
        self._encoder = threading.Thread(target=self._encode_loop, name="dashboard-encoder", daemon=True)
        self._encoder.start()

    # The frame loop's side: cheap, never waits for a reader.

    def observe(self, frame: np.ndarray, faces: list[Face], events: list[dict], index: int, now: float,
                fps: float, people: Callable[[], Counter] | None = None) -> None:
        """One annotated frame, its faces, the events it raised, the run's clock (`now`, seconds: video time
        for a file) and frame rate; `people` counts unique people per class, called twice a second at most."""
        tick = time.perf_counter()
        if self._t0 is None:
            self._t0 = tick
        counts = Counter(f.label for f in faces if not f.unsure)  # a face too small to tell counts nowhere
        counted = None
        if people is not None and tick - self._people_at >= PEOPLE_EVERY:
            self._people_at, counted = tick, people()
        thumbs = {id(e): encode_jpeg(frame, THUMB_WIDTH) for e in events if e.get("event") == "alert"}
        with self._cond:
            self._frame, self._frame_seq = frame, self._frame_seq + 1
            s = self._stats
            self._state = "running"
            s["frames"] = index + 1
            s["fps"] = round(fps, 2)
            s["mean_fps"] = round(s["frames"] / max(tick - self._t0, 1e-6), 2) if s["frames"] > 1 else 0.0
            s["video_time"] = round(now, 3)
            s["in_view"] = {c: counts[c] for c in CLASSES}
            for c in CLASSES:
                s["faces"][c] += counts[c]
            if counted is not None:
                s["people"] = {c: counted[c] for c in CLASSES}
            self._add_to_history(now, counts, sum(counts.values()))
            for event in events:
                self._add_event(event, thumbs.get(id(event)))
            if self._viewers:
                self._cond.notify_all()

    def finish(self, frames: int, people: Counter, alerts: int, mean_fps: float, events: list[dict],
               interrupted: bool) -> None:
        """The run is over: its final figures (those of its summary) and the events its end raised."""
        with self._cond:
            self._state = "stopped" if interrupted else "ended"
            s = self._stats
            s["frames"], s["alerts"], s["mean_fps"] = frames, alerts, round(mean_fps, 2)
            s["people"] = {c: people[c] for c in CLASSES}
            s["in_view"] = dict.fromkeys(CLASSES, 0)
            for event in events:
                self._add_event(event, None)

    def _add_to_history(self, now: float, counts: Counter, faces: int) -> None:
        minute = int(now // 60)
        if not self._history or self._history[-1]["minute"] != minute:
            self._history.append({"minute": minute, "time": wall_time(), "masked": 0, "faces": 0})
        bucket = self._history[-1]
        bucket["masked"] += counts["with_mask"]
        bucket["faces"] += faces

    def _add_event(self, event: dict, thumb: bytes | None) -> None:
        number, self._next_event = self._next_event, self._next_event + 1
        if event.get("event") == "alert":
            self._stats["alerts"] += 1
        if thumb is not None:
            self._thumbs[number] = thumb
            while len(self._thumbs) > MAX_THUMBS:
                self._thumbs.popitem(last=False)
        self._events.append(event | {"id": number, "thumbnail": f"snapshots/{number}.jpg" if thumb else None})

    # The server's side.

    def stats(self) -> dict:
        with self._cond:
            s = {k: dict(v) if isinstance(v, dict) else v for k, v in self._stats.items()}
            history = [dict(b) for b in self._history]
            state, viewers = self._state, self._viewers
        in_view = sum(s["in_view"].values())
        for bucket in history:
            bucket["compliance"] = round(bucket["masked"] / bucket["faces"], 4) if bucket["faces"] else None
        return {"state": state, "source": self.source, "started": self.started, **s,
                "in_view_total": in_view,
                "compliance": compliance(s["in_view"], 4),
                "run_compliance": compliance(s["faces"], 4),
                "history": history, "viewers": viewers, "encoded": self.encoded}

    def events(self, since: int = 0, limit: int = MAX_EVENTS) -> list[dict]:
        """The events numbered above `since`, oldest first, `limit` at most (the newest ones)."""
        with self._cond:
            found = [dict(e) for e in self._events if e["id"] > since]
        return found[-limit:] if limit else []

    def thumbnail(self, number: int) -> bytes | None:
        with self._cond:
            return self._thumbs.get(number)

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

    def close(self) -> None:
        """End the encoder and tell the streams to end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._encoder.join(5)

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
