"""Watching the people in a video: an alert for whoever goes without a mask too long, everyone counted once.

Time is the caller's: video time for files (frame index / fps), so that a file gives the same alerts at any
processing speed; the wall clock for cameras and streams.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from .errors import FacemaskError, notice, warn
from .events import CommandHook, EventLog, label_runs, ring_bell, wall_time
from .images import write_image
from .labels import DISPLAY_NAMES
from .overlay import draw_banner, draw_tally
from .stream import redact
from .tracking import Track, Tracker
from .types import Box, Face

ALERT_LABELS = frozenset({"without_mask", "incorrect_mask"})
BANNER_SECONDS = 3.0  # how long the banner of an alert stays up
_EPSILON = 1e-9  # so that 10 frames at 10 fps count as the full second they are


@dataclass
class MonitorConfig:
    """When to alert, and where alerts and ended tracks go besides the screen."""

    alert_after: float = 3.0  # seconds a person stays without a mask, or with one worn wrong, before an alert
    on_alert: str | None = None  # shell command run with each alert as JSON on stdin
    log: str | Path | None = None  # JSON-lines file: one line per alert and per ended track
    snapshots: str | Path | None = None  # folder for the annotated frame of each alert
    bell: bool = True
    # called with every event the log gets, alerts and ended tracks: where events go on (one log for many
    # cameras, gathered by the batch runner)
    listener: Callable[[dict], None] | None = None


@dataclass
class _Person:
    """What the monitor remembers of one track while it lasts."""

    first_frame: int
    last_frame: int
    box: Box
    since: float | None = None  # when its current stretch without a (rightly worn) mask began
    alerted: bool = False


class Monitor:
    """Per frame: draws the tally, raises each person's alert once, reports the tracks that ended."""

    def __init__(self, tracker: Tracker, config: MonitorConfig | None = None, source: str = ""):
        self.tracker = tracker
        self.config = config or MonitorConfig()
        self.source = redact(source)  # what the log and --on-alert commands receive: never a password
        self.people: Counter = Counter()  # ended tracks by majority label: unique people per class
        self.alerts = 0
        self.unsaved_snapshots = 0  # alert snapshots a write failed for: the run ends with status 1
        self._persons: dict[int, _Person] = {}
        self._banner, self._banner_time = "", -math.inf
        self.snapshots = Path(self.config.snapshots) if self.config.snapshots else None
        if self.snapshots:
            try:
                self.snapshots.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise FacemaskError(f"cannot create the snapshot folder {self.snapshots}: {e.strerror or e}") from e
        self.log = EventLog(self.config.log) if self.config.log else None
        self.hook = CommandHook(self.config.on_alert) if self.config.on_alert else None

    def observe(self, frame: np.ndarray, faces: list[Face], index: int, now: float) -> list[dict]:
        """Take an annotated frame and its tracked faces; draw on it; return the events it raised."""
        due = [face for face in faces if self._due(face, index, now)]
        draw_tally(frame, faces)
        if due:
            self._banner = " | ".join(
                f"ALERT #{f.track_id}: {DISPLAY_NAMES[f.label]} for {now - self._persons[f.track_id].since:.0f} s"
                for f in due
            )
            self._banner_time = now
        if now - self._banner_time < BANNER_SECONDS:
            draw_banner(frame, self._banner)
        events = [self._alert(frame, face, index, now) for face in due]
        return events + [self._end(track, index, now) for track in self.tracker.pop_ended()]

    def close(self, index: int, now: float) -> list[dict]:
        """The source has ended: end the tracks still open, give queued commands a few seconds, close the log.
        Returns the events of the tracks it ended."""
        try:
            return [self._end(track, index, now) for track in self.tracker.end_all()]
        finally:
            if self.hook:
                self.hook.close()
            if self.log:
                self.log.close()

    def live_people(self) -> Counter:
        """Unique people per class so far: the ended tracks, and the open ones by their majority label so far,
        which is what the summary will count them as should they end now."""
        return self.people + Counter(track.majority_label for track in self.tracker.tracks)

    def _due(self, face: Face, index: int, now: float) -> bool:
        """Update what is known of the face's person; True when its alert is due now."""
        person = self._persons.setdefault(face.track_id, _Person(index, index, face.box))
        person.last_frame, person.box = index, face.box
        if face.unsure:  # too small to tell: the clock neither starts nor stops
            return False
        if face.label not in ALERT_LABELS:
            person.since = None
            return False
        if person.since is None:
            person.since = now
        if person.alerted or now - person.since < self.config.alert_after - _EPSILON:
            return False
        person.alerted = True
        return True

    def _event(self, kind: str, track_id: int, index: int, now: float) -> dict:
        return {"event": kind, "time": wall_time(), "video_time": round(now, 3), "frame": index,
                "track": track_id, "source": self.source}

    def _alert(self, frame: np.ndarray, face: Face, index: int, now: float) -> dict:
        person = self._persons[face.track_id]
        track = next((t for t in self.tracker.tracks if t.id == face.track_id), None)
        event = self._event("alert", face.track_id, index, now) | {
            "label": face.label,
            "seconds": round(now - person.since, 3),
            "box": list(face.box),
            "labels": label_runs(track.labels) if track else [],
            "snapshot": self._snapshot(frame, face.track_id, index),
        }
        self.alerts += 1
        notice(f"alert: #{face.track_id} {DISPLAY_NAMES[face.label]} for {event['seconds']:g} s (frame {index})")
        if self.config.bell:
            ring_bell()
        self._record(event)
        if self.hook:
            self.hook.send(event)
        return event

    def _record(self, event: dict) -> None:
        if self.log:
            self.log.write(event)
        if self.config.listener:
            self.config.listener(event)

    def _snapshot(self, frame: np.ndarray, track_id: int, index: int) -> str | None:
        if self.snapshots is None:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.snapshots / f"alert-{stamp}-frame{index:06d}-track{track_id}.jpg"
        try:
            write_image(path, frame, new=True)
        except FacemaskError as e:
            warn(str(e))
            self.unsaved_snapshots += 1
            return None
        return str(path)

    def _end(self, track: Track, index: int, now: float) -> dict:
        person = self._persons.pop(track.id, None)
        label = track.majority_label
        self.people[label] += 1
        event = self._event("track_end", track.id, index, now) | {
            "label": label,
            "labels": label_runs(track.labels),
            "box": list(person.box) if person else [round(v) for v in track.box],
            "first_frame": person.first_frame if person else None,
            "last_frame": person.last_frame if person else None,
            "alerted": bool(person and person.alerted),
        }
        self._record(event)
        return event
