"""Where a run's results go: each output is a sink with one small protocol, so the frame loop stays the same
whatever the user asks for. Only sinks that show or save pixels draw (overlay.render, once per frame).

A sink's `observe` must not wait: it is called on the frame loop's thread. Slow work (a shell command, a
broker) goes to a thread of the sink's own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import cv2

from .errors import FacemaskError, notice, warn
from .events import CommandHook, EventLog, ring_bell
from .images import write_image
from .interrupt import StopRequest, signals_held
from .labels import DISPLAY_NAMES
from .overlay import render
from .stream import FrameWriter
from .types import FrameResult, Summary

WINDOW = "Face mask detector"


class Sink(Protocol):
    def observe(self, result: FrameResult) -> None:
        """One frame's result (the last one of a run has no frame: it ends the open tracks)."""

    def close(self, summary: Summary) -> None:
        """The run is over (summary.failed: it ended in an error)."""


@dataclass
class AlertOutputs:
    """Where alerts and ended tracks go besides the screen (the video script's --on-alert, --log, --snapshots,
    --no-bell; the batch runner's one log of many cameras)."""

    on_alert: str | None = None  # shell command run with each alert as JSON on stdin
    log: str | Path | None = None  # JSON-lines file: one line per alert and per ended track
    snapshots: str | Path | None = None  # folder for the annotated frame of each alert
    bell: bool = True
    listener: Callable[[dict], None] | None = None  # called with every event, alerts and ended tracks

    def sinks(self) -> list[Sink]:
        """The sinks, in the order they must see each result: the snapshot first, so that the others get the
        alert with its file; the command last, since only it may wait when the run ends."""
        made: list[Sink] = []
        try:
            if self.snapshots:
                made.append(SnapshotSink(self.snapshots))
            made.append(AlertConsole(self.bell))
            if self.log:
                made.append(EventLogSink(self.log))
            if self.listener:
                made.append(EventCallback(self.listener))
            if self.on_alert:
                made.append(CommandSink(self.on_alert))
        except BaseException:
            close_all(made, Summary())
            raise
        return made


def close_all(sinks: list[Sink], summary: Summary) -> None:
    """Close every sink, in order, even when one fails; then raise the first failure."""
    error: BaseException | None = None
    for sink in sinks:
        try:
            sink.close(summary)
        except BaseException as e:
            error = error or e
    if error is not None:
        raise error


def alerts(result: FrameResult) -> list[dict]:
    return [e for e in result.events if e["event"] == "alert"]


class SnapshotSink:
    """The annotated frame of each alert, saved in a folder; the alert event names the file (before the sinks
    after this one see it). Never replaces a file; a write that fails is one warning, and counted."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.unsaved = 0
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FacemaskError(f"cannot create the snapshot folder {self.folder}: {e.strerror or e}") from e

    def observe(self, result: FrameResult) -> None:
        for event in alerts(result):
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = self.folder / f"alert-{stamp}-frame{result.index:06d}-track{event['track']}.jpg"
            try:
                write_image(path, render(result), new=True)
            except FacemaskError as e:
                warn(str(e))
                self.unsaved += 1
                continue
            event["snapshot"] = str(path)

    def close(self, summary: Summary) -> None:
        summary.unsaved_snapshots += self.unsaved


class AlertConsole:
    """One line on stderr per alert, and the terminal bell (the system beep on Windows) unless told not to."""

    def __init__(self, bell: bool = True):
        self.bell = bell

    def observe(self, result: FrameResult) -> None:
        for event in alerts(result):
            notice(f"alert: #{event['track']} {DISPLAY_NAMES[event['label']]} for {event['seconds']:g} s "
                   f"(frame {event['frame']})")
            if self.bell:
                ring_bell()

    def close(self, summary: Summary) -> None:
        pass


class EventLogSink:
    """--log: one JSON line per alert and per ended track, flushed and synced as written."""

    def __init__(self, path: str | Path):
        self.log = EventLog(path)

    def observe(self, result: FrameResult) -> None:
        for event in result.events:
            self.log.write(event)

    def close(self, summary: Summary) -> None:
        self.log.close()


class CommandSink:
    """--on-alert: a shell command per alert, on a thread of its own (facemask.events.CommandHook)."""

    def __init__(self, command: str):
        self.hook = CommandHook(command)

    def observe(self, result: FrameResult) -> None:
        for event in alerts(result):
            self.hook.send(event)

    def close(self, summary: Summary) -> None:
        self.hook.close()


class EventCallback:
    """Every event handed to a function: one log for many cameras, gathered by the batch runner."""

    def __init__(self, function: Callable[[dict], None]):
        self.function = function

    def observe(self, result: FrameResult) -> None:
        for event in result.events:
            self.function(event)

    def close(self, summary: Summary) -> None:
        pass


class WindowSink:
    """The annotated video in a window; q or Esc ends the run (as its end would, not as an interruption)."""

    def __init__(self, stop: StopRequest):
        self.stop = stop

    def observe(self, result: FrameResult) -> None:
        if result.frame is None:
            return
        cv2.imshow(WINDOW, render(result))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop.event.set()

    def close(self, summary: Summary) -> None:
        cv2.destroyAllWindows()


class VideoFileSink:
    """--output: the annotated video, at the source's frame rate and size, published in one rename when the run
    ends (an interrupted run's video plays); after an error the path keeps what it held."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = path, fps
        self.writer: FrameWriter | None = None

    def observe(self, result: FrameResult) -> None:
        if result.frame is None:
            return
        frame = render(result)
        if self.writer is None:
            self.writer = FrameWriter(self.path, self.fps, (frame.shape[1], frame.shape[0]))
        self.writer.write(frame)

    def close(self, summary: Summary) -> None:
        if self.writer is None:
            return
        with signals_held():
            if summary.failed:
                self.writer.discard()
            else:
                self.writer.close()
        summary.stage_seconds["encode"] = self.writer.encode_seconds


class ProgressBar:
    """A bar on stderr over the frames of a file: done of the total, frames per second, time left."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="frame", file=sys.stderr, mininterval=0.5, dynamic_ncols=True)

    def observe(self, result: FrameResult) -> None:
        if result.frame is not None:
            self.bar.update()

    def close(self, summary: Summary) -> None:
        self.bar.close()
