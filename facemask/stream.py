"""Frames in and out on their own threads, so decoding and encoding overlap with detection.

What a source is follows from what the opened capture reports, not from its name: one with a frame count is a
file, wherever it comes from (a path, file://, or http:// serving a video file), and ends at its end; a camera,
or a URL without a frame count, is live. Sources fail in three ways, and each is met differently:
  a file has damaged frames or is cut short: the damaged frames are skipped, and it ends where it can no longer
  be read, as if that were its end;
  a file over the network stops delivering before its end: it is reopened like a live source, and the frames
  already delivered are skipped, so that nothing is replayed;
  a camera or network stream stops delivering, by failed reads or by reads that never return: after
  `timeout` seconds without a frame it is reopened, up to `reconnect` times per outage, waiting 0.5, 1, 2 ...
  (at most 30) seconds before each attempt, with one line on stderr per attempt. If it never comes back,
  `lost` says so and the frames end.
"""

from __future__ import annotations

import math
import os
import queue
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import OutputError, SourceError, notice, warn
from .files import check_regular, opencv_path, readable_text, temp_path, write_target

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
READ_TIMEOUT = 10.0  # seconds a live source may go without a frame before it is reopened
FIRST_DELAY, MAX_DELAY = 0.5, 30.0  # seconds before the first reconnection attempt; the most between two
MAX_BAD_READS = 30  # failed reads in a row after which a file counts as ended (a damaged frame is one failed read)
DEFAULT_FPS = 30.0  # the frame rate assumed for a source that reports none
MIN_FPS, MAX_FPS = 1e-3, 1000.0  # a reported frame rate outside these is a broken header, not a real rate
MAX_FRAME_COUNT = 2**31  # a reported frame count above this is FFmpeg's "unknown", not a count
MAX_FRAME_PIXELS = 8192 * 4320  # DCI 8K: a source with larger frames is refused (each frame is held several times)
_END = object()
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/?#\s]*)@", re.IGNORECASE)
_PARAMETER = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s]*)")
_SECRET_NAMES = re.compile(
    r"(?:^|[_.-])(?:pass|passwd|password|pwd|pw|token|secret|key|apikey|auth|authorization|sig|signature"
    r"|credentials?|session|sessionid|sid|code)$|(?:password|passwd|token|secret|key|signature|credential)$",
    re.IGNORECASE,
)


def is_url(text: str) -> bool:
    """A URL of any scheme (file: included) rather than a path."""
    return "://" in text


def is_network(source: int | str) -> bool:
    """A URL other than file://: opening and reading it may block, and a connection that drops is worth
    reopening."""
    return isinstance(source, str) and is_url(source) and not source.lower().startswith("file:")


def local_files(source: int | str) -> list[Path]:
    """The local files a source may name, however spelled: a path, or a file: URL (file:///x, file:/x,
    file://localhost/x, percent-encoded or not); none for a camera or a network stream. A file: URL gives both
    readings, FFmpeg's (the text after "file:", as it is) and the URL standard's (decoded), so that an output
    can be checked against whichever file the video is read from."""
    if isinstance(source, int) or is_network(source):
        return []
    if not source.lower().startswith("file:"):
        return [Path(source)]
    raw = source[len("file:") :]
    files = [Path(raw)] if raw else []
    parsed = urllib.parse.urlparse(source)
    if parsed.netloc.lower() in ("", "localhost") and parsed.path:
        files.append(Path(urllib.request.url2pathname(parsed.path)))
    return list(dict.fromkeys(files))


def redact(text: str) -> str:
    """`text` with the credentials of any URL in it hidden: a password (or a user name that is a token) before
    the @, and query parameters such as password=, token=, key=. Everything the tool writes about a source
    goes through here, since logs and alert commands' input end up in places the camera's password must not."""
    def userinfo(match: re.Match) -> str:
        user, colon, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}:***@" if colon else f"{match.group(1)}***@"

    def parameter(match: re.Match) -> str:
        secret = _SECRET_NAMES.search(match.group(2)) and match.group(3)
        return f"{match.group(1)}{match.group(2)}=***" if secret else match.group(0)

    return _PARAMETER.sub(parameter, _USERINFO.sub(userinfo, text))


def source_name(source: int | str) -> str:
    """How messages, logs and alerts name a source: "camera 0", or the path or URL with its credentials hidden."""
    if isinstance(source, int):
        return f"camera {source}"
    return redact(str(source))


def frame_count(capture) -> int:
    """The number of frames a capture says it holds; 0 when it does not know (a camera, a live stream)."""
    try:
        count = float(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    except Exception:
        return 0
    return int(count) if math.isfinite(count) and 0 < count < MAX_FRAME_COUNT else 0


def usable_fps(fps: float, name: str) -> float:
    """The source's own frame rate, however slow (a 0.5 fps time-lapse is 0.5 fps: video time and the written
    video depend on it); DEFAULT_FPS, with a warning, when it reports none or an impossible one."""
    if math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS:
        return fps
    warn(f"{name} reports no usable frame rate ({fps:g} fps): assuming {DEFAULT_FPS:g} fps")
    return DEFAULT_FPS


def open_capture(source: int | str, timeout: float | None = None) -> cv2.VideoCapture:
    """A camera index, a video file or a stream URL, opened; a SourceError that says which when it cannot be.

    For a network stream, `timeout` bounds how long opening it and each read may block."""
    if isinstance(source, str) and readable_text(source) != source:
        if is_network(source):
            raise SourceError(f"cannot open the stream {source_name(source)}: its address is no valid UTF-8")
        with opencv_path(local_files(source)[-1]) as name:
            capture = cv2.VideoCapture(name)
    elif timeout and is_network(source):
        ms = int(timeout * 1000)
        capture = cv2.VideoCapture(
            source, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        )
    else:
        capture = cv2.VideoCapture(source)
    width, height = (capture.get(p) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
    if capture.isOpened() and width * height > MAX_FRAME_PIXELS:
        capture.release()
        raise SourceError(f"{source_name(source)} has frames of {width:.0f}x{height:.0f} pixels, more than 8K "
                          f"({MAX_FRAME_PIXELS / 1e6:.0f} million): each would take {width * height * 3 / 1e6:.0f} MB")
    if not capture.isOpened():
        capture.release()
        if isinstance(source, int):
            raise SourceError(f"cannot open camera {source}: is a camera connected?")
        if is_network(source):
            raise SourceError(f"cannot open the stream {source_name(source)}")
        raise SourceError(f"cannot open video {source_name(source)}: not a video, or damaged "
                          "(an .mp4 cut short loses the index it needs)")
    return capture


def reconnect_delay(attempt: int) -> float:
    """Seconds to wait before reconnection attempt `attempt` (1, 2, ...): 0.5, 1, 2, 4 ... at most 30."""
    return min(FIRST_DELAY * 2 ** (attempt - 1), MAX_DELAY)


class _Connection:
    """One opened capture, read on a daemon thread of its own, so that a read that never returns (a stream gone
    quiet, a camera unplugged) can be given up on after a timeout instead of hanging the program. The capture
    is released on that thread once its last read is over."""

    def __init__(self, capture):
        self.capture = capture
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.decode_seconds = 0.0
        self.retired = False
        self.thread = threading.Thread(target=self._work, name="capture", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            while self.requests.get():
                start = time.perf_counter()
                try:
                    ok, frame = self.capture.read()
                except Exception:  # a backend error on a damaged frame or a lost device
                    ok, frame = False, None
                self.decode_seconds += time.perf_counter() - start
                self.results.put((ok and frame is not None, frame))
        finally:
            self.capture.release()

    def read(self, timeout: float | None, cancel: threading.Event) -> tuple[bool, np.ndarray | None] | None:
        """(ok, frame); None when no answer came within `timeout` seconds, or `cancel` was set meanwhile."""
        self.requests.put(True)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not cancel.is_set():
            wait = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if wait <= 0:
                return None
            try:
                return self.results.get(timeout=wait)
            except queue.Empty:
                continue
        return None

    def get(self, prop: int) -> float:
        """A capture property; only between reads, when the capture's thread is idle."""
        try:
            return float(self.capture.get(prop))
        except Exception:
            return 0.0

    def close(self) -> None:
        self.requests.put(False)


def _join_all(threads: list[threading.Thread], timeout: float) -> None:
    """Wait for threads up to `timeout` seconds in all.

    A thread still inside OpenCV when the interpreter exits aborts the process ("terminate called without an
    active exception") as its call returns; one stuck in a read that never returns is left behind."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


class FrameReader:
    """Reads frames on a thread. A file yields every frame it can decode; a live source only the newest.

    `opener(source)` opens the capture (tests give a fake one); `stop` is an event that ends the frames early,
    also while the reader waits to reconnect."""

    def __init__(
        self,
        source: int | str,
        queue_size: int = 8,
        reconnect: int = 0,
        timeout: float = READ_TIMEOUT,
        opener: Callable[[int | str], object] | None = None,
        stop: threading.Event | None = None,
    ):
        self.source = source
        self.name = source_name(source)
        self.network = is_network(source)
        self.opener = opener or (lambda s: open_capture(s, timeout))
        capture = self.opener(source)
        self.frame_count = 0 if isinstance(source, int) else frame_count(capture)
        self.live = isinstance(source, int) or (self.network and self.frame_count == 0)
        self.reconnect = reconnect if self.live or self.network else 0
        self.timeout = timeout if self.live or self.network else None
        connection = _Connection(capture)
        self._connections = [connection]
        self.fps = usable_fps(connection.get(cv2.CAP_PROP_FPS), self.name)
        self.connection = connection
        self.frames: queue.Queue = queue.Queue(maxsize=1 if self.live else queue_size)
        self.stopped = stop or threading.Event()
        self._closed = threading.Event()
        self.decode_seconds = 0.0
        self.frames_read = 0
        self.skipped = 0  # damaged frames of a file skipped
        self.dropped = 0  # frames of a live source replaced by a newer one before the loop took them
        self.reconnects = 0  # times a live source came back
        self.lost: str | None = None  # why a live source ended: it stopped and did not come back
        self.thread = threading.Thread(target=self._read, name="frame-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        failures = 0  # failed reads in a row
        try:
            while not self._done():
                result = self.connection.read(self.timeout, self._closed)
                if result is not None and result[0]:
                    self.skipped += failures if not self.live else 0
                    failures = 0
                    self._frame(result[1])
                elif self._done():
                    break
                elif self.live:
                    if not self._reconnect(stalled=result is None):
                        break
                else:
                    failures += 1
                    if self._file_ended(result is None, failures):
                        break
                    if result is None or failures >= MAX_BAD_READS:
                        failures = 0  # a network file came back: what failed was the connection, no frame
        finally:
            self._retire(self.connection)
            self._put(_END, block=True)

    def _retire(self, connection: _Connection) -> None:
        if not connection.retired:
            connection.retired = True
            self.decode_seconds += connection.decode_seconds
            connection.close()

    def _done(self) -> bool:
        return self.stopped.is_set() or self._closed.is_set()

    def _frame(self, frame: np.ndarray) -> None:
        self.frames_read += 1
        self._put(frame)

    def _file_ended(self, stalled: bool, failures: int) -> bool:
        """After a failed read of a file: its end, or a damaged frame to skip, or a network file whose
        connection dropped before its end, reopened where it stopped? True when the frames are over."""
        if not stalled:  # the capture's thread is idle: its position can be asked
            position = self.connection.get(cv2.CAP_PROP_POS_FRAMES)
            if self.frame_count > 0 and position >= self.frame_count:
                return True
            if failures < MAX_BAD_READS:
                return False
        if self.network and self.reconnect and self._reconnect(stalled, resume=self.frames_read + self.skipped):
            return False
        if not self.lost and self.frame_count > 0 and self.frames_read + self.skipped < self.frame_count - 1:
            warn(f"{self.name} ends after {self.frames_read} of its {self.frame_count} frames: "
                 "it is truncated or damaged")
        return True

    def _reconnect(self, stalled: bool, resume: int = 0) -> bool:
        """Reopen a source that stopped delivering, with back-off; True once a frame came again.

        `resume`: frames of a file already delivered, read and dropped after reopening it, since it starts
        again from its first frame: a file is never replayed."""
        why = f"no frame for {self.timeout:g} s" if stalled else "it stopped delivering frames"
        self._retire(self.connection)
        for attempt in range(1, self.reconnect + 1):
            delay = reconnect_delay(attempt)
            warn(f"{self.name}: {why}; reconnecting in {delay:g} s (attempt {attempt} of {self.reconnect})")
            if self.stopped.wait(delay) or self._closed.is_set():
                return False
            try:
                connection = _Connection(self.opener(self.source))
                self._connections = [c for c in self._connections if c.thread.is_alive()] + [connection]
            except Exception as e:  # SourceError, or whatever a backend raises
                why = f"cannot reopen it ({e})"
                continue
            result, caught_up = self._first_new_frame(connection, resume)
            if result is not None and result[0]:
                self.connection = connection
                self.reconnects += 1
                notice(f"reconnected to {self.name} (attempt {attempt})")
                self._frame(result[1])
                return True
            self._retire(connection)
            if resume and caught_up and result is not None:  # reopened, and nothing after what was delivered
                return False  # the file's true end: its frame count was an estimate
            why = f"no frame for {self.timeout:g} s after reopening" if result is None else "no frame after reopening"
        if self.reconnect:
            self.lost = f"lost {self.name}: {why}; gave up after {self.reconnect} reconnection attempt(s)"
        else:
            self.lost = f"lost {self.name}: {why} (--reconnect N retries it)"
        return False

    def _first_new_frame(self, connection: _Connection, resume: int) -> tuple[tuple | None, bool]:
        """(the first good read of a reopened source past the `resume` frames it delivered before, or the
        failed read when there is none; whether those frames were all read again). Each read, good or
        damaged, is one frame."""
        reads = failures = 0
        while True:
            result = connection.read(self.timeout, self._closed)
            if result is None:
                return None, reads >= resume
            reads += 1
            if reads > resume and result[0]:
                return result, True
            failures = 0 if result[0] else failures + 1
            if failures >= MAX_BAD_READS:
                return result, reads - failures >= resume

    def _put(self, item, block: bool = False) -> None:
        while not self._closed.is_set():
            if self.live and not block:
                try:  # drop the stale frame the consumer has not taken yet
                    self.frames.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass
            try:
                self.frames.put(item, timeout=0.1)
                return
            except queue.Full:
                if self.stopped.is_set() and not block:
                    return
                continue

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            try:
                item = self.frames.get(timeout=0.1)
            except queue.Empty:
                if self.stopped.is_set() or self._closed.is_set():
                    return
                continue
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self._closed.set()
        self.thread.join(timeout=5)
        _join_all([c.thread for c in self._connections], timeout=5)


class FrameWriter:
    """Encodes an annotated video on a thread, under a temporary name renamed once complete.

    OpenCV only prints "Failed to write frame" when the disk is full and leaves a file that does not play (an
    .mp4 without its index), so the file is read back before it replaces anything: the previous video stays
    unless the new one holds every frame written."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = write_target(Path(path))
        fourcc = FOURCC.get(self.path.suffix.lower())
        if fourcc is None:
            raise SourceError(f"unsupported output type {self.path.suffix!r}: use one of {', '.join(FOURCC)}")
        self.size = tuple(size)
        check_regular(self.path)
        try:
            self.tmp = temp_path(self.path)
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e
        with opencv_path(self.tmp) as name:
            self.writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*fourcc), fps, self.size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {self.path}")
        self.frames: queue.Queue = queue.Queue(maxsize=16)
        self.encode_seconds = 0.0
        self.written = 0
        self.thread = threading.Thread(target=self._write, name="frame-writer", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (frame := self.frames.get()) is not _END:
            start = time.perf_counter()
            if (frame.shape[1], frame.shape[0]) != self.size:  # a stream that changed its resolution
                frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
            self.writer.write(frame)
            self.written += 1
            self.encode_seconds += time.perf_counter() - start

    def write(self, frame: np.ndarray) -> None:
        self.frames.put(frame)

    def _finish(self) -> None:
        self.frames.put(_END)
        self.thread.join()
        self.writer.release()

    def _read_back(self) -> str | None:
        """Why the temporary file is not the whole video written, or None: its frame count and its last frame,
        which a file cut short by a full disk lacks."""
        with opencv_path(self.tmp) as name:
            capture = cv2.VideoCapture(name)
        try:
            if not capture.isOpened():
                return "the video written does not open"
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if count != self.written:
                return f"the video written holds {max(int(count), 0)} of its {self.written} frames"
            capture.set(cv2.CAP_PROP_POS_FRAMES, self.written - 1)
            if not capture.read()[0]:
                return "the last frame of the video written does not decode"
        finally:
            capture.release()
        return None

    def close(self) -> None:
        """Finish the file, so that even an interrupted run leaves a video that plays, and publish it once it
        reads back whole; otherwise an OutputError, and `path` is left as it was."""
        self._finish()
        try:
            problem = self._read_back()
            if problem:
                raise OutputError(f"cannot write {self.path}: {problem} (is the disk full?); nothing was replaced")
            os.replace(self.tmp, self.path)
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e
        finally:
            self.tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Finish and remove the temporary file: the run failed, and `path` keeps what it held."""
        self._finish()
        self.tmp.unlink(missing_ok=True)
