"""Where alerts and ended tracks go besides the screen: a JSON-lines log, a user's command, the terminal bell.

None of it may slow the frame loop: the log is written only on events, and commands run on their own thread.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import TextIO

from .errors import OutputError, warn
from .files import check_regular

COMMAND_TIMEOUT = 30.0  # seconds an --on-alert command may run before it is killed


def wall_time() -> str:
    """The event's time of day, ISO 8601 in UTC to the millisecond, for matching with other systems' logs."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def label_runs(labels: list[str]) -> list[list]:
    """[["without_mask", 12], ["with_mask", 3]]: a track's labels in order, one entry per run of equal ones,
    so an hour-long track stays one short line."""
    return [[label, len(list(run))] for label, run in groupby(labels)]


class EventLog:
    """Appends one JSON line per event, flushed and synced at once, so that a crash loses nothing logged.

    A write that fails (a full disk) is one OutputError, which ends the run; the events after it have nowhere
    to go and are dropped, so that closing the log does not fail a second time over the same lost line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.failed = False
        check_regular(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "a", encoding="utf-8")  # open for the whole run
        except OSError as e:
            raise OutputError(f"cannot write the event log {self.path}: {e.strerror or e}") from e

    def write(self, event: dict) -> None:
        if self.failed:
            return
        try:
            self.file.write(json.dumps(event) + "\n")
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as e:
            self.failed = True
            raise OutputError(f"cannot write the event log {self.path}: {e.strerror or e}") from e

    def close(self) -> None:
        try:
            self.file.close()
        except OSError as e:
            if not self.failed:
                raise OutputError(f"cannot write the event log {self.path}: {e.strerror or e}") from e


class CommandHook:
    """Runs a shell command for each event with the event as one JSON line on its stdin, on a thread of its
    own: a slow or hanging command delays the next command, never a frame. A failure is one warning line."""

    def __init__(self, command: str, timeout: float = COMMAND_TIMEOUT):
        self.command = command
        self.timeout = timeout
        self.events: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="on-alert", daemon=True)
        self.thread.start()

    def send(self, event: dict) -> None:
        self.events.put(event)

    def _work(self) -> None:
        while (event := self.events.get()) is not None:
            self._run(event)

    def _run(self, event: dict) -> None:
        try:
            result = subprocess.run(
                self.command, shell=True, input=(json.dumps(event) + "\n").encode(), timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            warn(f"--on-alert command killed after {self.timeout:g} s: {self.command}")
        except OSError as e:
            warn(f"--on-alert command could not start: {e}")
        else:
            if result.returncode != 0:
                warn(f"--on-alert command failed with exit status {result.returncode}: {self.command}")

    def close(self) -> None:
        """Wait for the commands still queued, so that the last alerts of a video file are not lost."""
        self.events.put(None)
        self.thread.join()


def ring_bell(stream: TextIO | None = None) -> bool:
    """Sound the alarm where there is one: the system beep on Windows, else the bell of a terminal.
    Returns whether it rang; nothing is written when the output goes to a file."""
    if sys.platform == "win32":
        import winsound

        winsound.MessageBeep()
        return True
    stream = stream or sys.stderr
    if not stream.isatty():
        return False
    stream.write("\a")
    stream.flush()
    return True
