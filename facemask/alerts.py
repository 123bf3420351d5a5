"""When to alert: whoever goes without a mask, or wears one wrong, for too long; and who has left the view.

Pure bookkeeping over the tracker's faces, no I/O: `update` turns a frame's faces into events (dicts, the lines
of --log), and the sinks (facemask.sinks) decide where they go. Time is the caller's: video time for files
(frame index / fps), so that a file gives the same alerts at any processing speed; the wall clock for cameras
and streams.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .events import label_runs, wall_time
from .labels import DISPLAY_NAMES
from .stream import redact
from .tracking import Track, Tracker
from .types import Box, Face

ALERT_LABELS = frozenset({"without_mask", "incorrect_mask"})
BANNER_SECONDS = 3.0  # how long the banner of an alert stays up
_EPSILON = 1e-9  # so that 10 frames at 10 fps count as the full second they are


@dataclass
class _Person:
    """What the rules remember of one track while it lasts."""

    first_frame: int
    last_frame: int
    box: Box
    since: float | None = None  # when its current stretch without a (rightly worn) mask began
    alerted: bool = False


class AlertRules:
    """Raises each person's alert once, reports the tracks that end, counts unique people per class."""

    def __init__(self, tracker: Tracker, alert_after: float = 3.0, source: str = ""):
        self.tracker = tracker
        self.alert_after = alert_after
        self.source = redact(source)  # what events name: never a password
        self.people: Counter = Counter()  # ended tracks by majority label: unique people per class
        self.alerts = 0
        self._persons: dict[int, _Person] = {}
        self._banner, self._banner_time = "", -math.inf

    def update(self, faces: list[Face], index: int, now: float) -> list[dict]:
        """The events of one frame: alerts that fell due, then the tracks that ended."""
        due = [face for face in faces if self._due(face, index, now)]
        if due:
            self._banner = " | ".join(
                f"ALERT #{f.track_id}: {DISPLAY_NAMES[f.label]} for {now - self._persons[f.track_id].since:.0f} s"
                for f in due
            )
            self._banner_time = now
        events = [self._alert(face, index, now) for face in due]
        return events + [self._end(track, index, now) for track in self.tracker.pop_ended()]

    def close(self, index: int, now: float) -> list[dict]:
        """The source has ended: the events of the tracks still open."""
        return [self._end(track, index, now) for track in self.tracker.end_all()]

    def banner(self, now: float) -> str:
        """The text of the latest alert while it is fresh (BANNER_SECONDS), else ""."""
        return self._banner if now - self._banner_time < BANNER_SECONDS else ""

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
        if person.alerted or now - person.since < self.alert_after - _EPSILON:
            return False
        person.alerted = True
        return True

    def _event(self, kind: str, track_id: int, index: int, now: float) -> dict:
        return {"event": kind, "time": wall_time(), "video_time": round(now, 3), "frame": index,
                "track": track_id, "source": self.source}

    def _alert(self, face: Face, index: int, now: float) -> dict:
        person = self._persons[face.track_id]
        track = next((t for t in self.tracker.tracks if t.id == face.track_id), None)
        self.alerts += 1
        return self._event("alert", face.track_id, index, now) | {
            "label": face.label,
            "seconds": round(now - person.since, 3),
            "box": list(face.box),
            "labels": label_runs(track.labels) if track else [],
            "snapshot": None,  # the snapshot sink, if any, names the file it wrote
        }

    def _end(self, track: Track, index: int, now: float) -> dict:
        person = self._persons.pop(track.id, None)
        label = track.majority_label
        self.people[label] += 1
        return self._event("track_end", track.id, index, now) | {
            "label": label,
            "labels": label_runs(track.labels),
            "box": list(person.box) if person else [round(v) for v in track.box],
            "first_frame": person.first_frame if person else None,
            "last_frame": person.last_frame if person else None,
            "alerted": bool(person and person.alerted),
        }
