"""Ctrl-C and SIGTERM: a frame loop stops between frames and finishes its files; a set of files is never left
half replaced.

Python delivers signals to the main thread only, and only between bytecodes: a KeyboardInterrupt can land in the
middle of a generator or of a `finally`. So the frame loop does not rely on it: its handler sets a flag that the
loop checks once per frame. Elsewhere (training, the image batch) the exception is fine: every file is written
under a temporary name first, and the renames that publish a set of files run with the signals held back.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from .errors import notice

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception, so that a service manager's stop cleans up as Ctrl-C does."""


def signal_of(interrupt: BaseException) -> int:
    """The signal a KeyboardInterrupt stands for: SIGTERM for Terminated, SIGINT otherwise."""
    return signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT


def interrupt_for(signum: int) -> KeyboardInterrupt:
    """The exception that ends a command stopped by `signum`, for run_command to turn into its exit status."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def exit_status(interrupt: BaseException | int) -> int:
    """128 + the signal's number, as a shell reports a process killed by it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (interrupt if isinstance(interrupt, int) else signal_of(interrupt))


def in_main_thread() -> bool:
    """Only the main thread may install signal handlers."""
    return threading.current_thread() is threading.main_thread()


def _restore(signum: int, handler) -> None:
    # None: the handler was not set from Python; the default is the closest one can put back.
    signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _raise_terminated(signum, frame) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """While active, SIGTERM raises Terminated (a KeyboardInterrupt) instead of killing the process outright."""
    if not in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        _restore(signal.SIGTERM, previous)


class StopRequest:
    """A flag for a frame loop to check once per frame, set by the first Ctrl-C or SIGTERM while active.

    A second Ctrl-C raises KeyboardInterrupt at once, for a loop that is stuck. Outside the main thread,
    where Python cannot take signals, it never sets itself; `set()` still works."""

    def __init__(self, message: str = "stopping after this frame (Ctrl-C again to quit at once)"):
        self.message = message
        self.signum: int | None = None
        self.event = threading.Event()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if in_main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            _restore(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set(signum)
        notice(self.message)

    def set(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back for a moment that must not be cut, such as publishing a model and its
    twins by renames; a signal that came meanwhile takes effect right after."""
    if not in_main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            _restore(signum, handler)
        if received:
            signal.raise_signal(received[0])
