"""Where alerts and ended tracks go besides the screen: a JSON-lines log, a user's command, the terminal bell.

None of it may slow the frame loop: the log is written only on events, and commands run on their own thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import TextIO

from .errors import OutputError, warn
from .files import check_regular

SERVE_TOKEN_ENV = "FACEMASK_SERVE_TOKEN"  # the dashboard's token, kept out of the process list
SECRET_ENVIRONMENT = (SERVE_TOKEN_ENV,)  # never handed to --on-alert commands
POLL = 0.05  # seconds between looks at a running --on-alert command
COMMAND_TIMEOUT = 30.0  # seconds an --on-alert command may run before it is killed
EXIT_GRACE = 5.0  # seconds the end of a run waits, in all, for --on-alert commands running or queued
KILL_WAIT = 2.0  # seconds to wait for the thread of commands once they are killed


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
    own: a slow or hanging command delays the next command, never a frame. A failure is one warning line.

    Each command runs in a process group of its own, so that killing the group also ends whatever it started
    (a `sleep` in a script, a pipeline): what it leaves running in the background is ended with it, a command
    is killed as a whole after `timeout` seconds, and at close() whatever is still running is killed and what
    is queued is dropped, so that the end of a run, or SIGTERM, waits for the commands at most `grace` seconds
    however many alerts were queued. A group is signalled only while its leader, our child, is not yet reaped:
    until then no other process can be given its number. Commands get this process's environment without
    its secrets (SECRET_ENVIRONMENT)."""

    def __init__(self, command: str, timeout: float = COMMAND_TIMEOUT):
        self.command = command
        self.timeout = timeout
        self.events: queue.Queue = queue.Queue()
        self.dropped = 0  # events whose command had not started when time ran out
        self._deadline = math.inf  # monotonic time after which no command starts and a running one is killed
        self._running: set[int] = set()  # leaders of the process groups still running, not yet reaped
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="on-alert", daemon=True)
        self.thread.start()

    def send(self, event: dict) -> None:
        self.events.put(event)

    def _work(self) -> None:
        while (event := self.events.get()) is not None:
            if time.monotonic() >= self._deadline:
                self.dropped += 1
            else:
                self._run(event)

    def _run(self, event: dict) -> None:
        limit = min(self.timeout, self._deadline - time.monotonic())
        env = {k: v for k, v in os.environ.items() if k not in SECRET_ENVIRONMENT}
        try:
            with self._lock:
                process = subprocess.Popen(self.command, shell=True, stdin=subprocess.PIPE, start_new_session=True,
                                           env=env)
                self._running.add(process.pid)
        except OSError as e:
            warn(f"--on-alert command could not start: {e}")
            return
        with contextlib.suppress(OSError):  # a command that does not read its input
            process.stdin.write((json.dumps(event) + "\n").encode())
        with contextlib.suppress(OSError):
            process.stdin.close()
        ended = _exited(process.pid, limit)
        with self._lock:  # the leader is not reaped yet: the group is still ours to signal
            kill_group(process.pid)
            self._running.discard(process.pid)
        process.wait()
        if not ended:
            if limit < self.timeout:
                warn(f"--on-alert command killed at the end of the run: {self.command}")
            else:
                warn(f"--on-alert command killed after {self.timeout:g} s: {self.command}")
            return
        if process.returncode < 0 and time.monotonic() >= self._deadline:
            warn(f"--on-alert command killed at the end of the run: {self.command}")
        elif process.returncode != 0:
            warn(f"--on-alert command failed with exit status {process.returncode}: {self.command}")

    def close(self, grace: float = EXIT_GRACE) -> None:
        """Give the running and queued commands `grace` seconds in all, so that the last alerts of a video
        file are not lost; then kill every command's process group (and what they left running in the
        background) and drop the events not yet handed to a command, with one warning that counts them."""
        self._deadline = time.monotonic() + grace
        self.events.put(None)
        self.thread.join(grace)
        self._kill_all()
        self.thread.join(KILL_WAIT)
        if self.thread.is_alive():  # stuck starting a command: count what it will never get to
            self.dropped += self.events.qsize() - 1
        if self.dropped:
            warn(f"{self.dropped} alert(s) not passed to --on-alert: the run ended before their command could start")

    def _kill_all(self) -> None:
        with self._lock:
            for group in self._running:
                kill_group(group)


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a child to exit, leaving it unreaped (its number stays taken)."""
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def kill_group(group: int) -> None:
    """SIGKILL a whole process group, quietly when it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


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
