"""Frames in and out on their own threads, so decoding and encoding overlap with detection."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import SourceError
from .files import temp_path

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
_END = object()


def is_live(source: int | str) -> bool:
    """Cameras and network streams run in real time: a slow consumer must skip frames, not fall behind."""
    return isinstance(source, int) or "://" in str(source)


def open_capture(source: int | str) -> cv2.VideoCapture:
    """A camera index, a video file or a stream URL, opened; a SourceError that says which when it cannot be."""
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        if isinstance(source, int):
            raise SourceError(f"cannot open camera {source}: is a camera connected?")
        raise SourceError(f"cannot open video {source}")
    return capture


class FrameReader:
    """Reads frames on a thread. A file yields every frame; a live source only the newest."""

    def __init__(self, source: int | str, queue_size: int = 8):
        self.source = source
        self.capture = open_capture(source)
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else 30.0
        self.live = is_live(source)
        self.frames: queue.Queue = queue.Queue(maxsize=1 if self.live else queue_size)
        self.stopped = threading.Event()
        self.decode_seconds = 0.0
        self.thread = threading.Thread(target=self._read, name="frame-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while not self.stopped.is_set():
                start = cv2.getTickCount()
                ok, frame = self.capture.read()
                self.decode_seconds += (cv2.getTickCount() - start) / cv2.getTickFrequency()
                if not ok:
                    break
                self._put(frame)
        finally:
            self._put(_END, block=True)

    def _put(self, item, block: bool = False) -> None:
        while not self.stopped.is_set():
            if self.live and not block:
                try:  # drop the stale frame the consumer has not taken yet
                    self.frames.get_nowait()
                except queue.Empty:
                    pass
            try:
                self.frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self.frames.get()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.capture.release()


class FrameWriter:
    """Encodes an annotated video on a thread, under a temporary name renamed once complete."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        fourcc = FOURCC.get(self.path.suffix.lower())
        if fourcc is None:
            raise SourceError(f"unsupported output type {self.path.suffix!r}: use one of {', '.join(FOURCC)}")
        self.tmp = temp_path(self.path)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise SourceError(f"cannot write {self.path}")
        self.frames: queue.Queue = queue.Queue(maxsize=16)
        self.encode_seconds = 0.0
        self.thread = threading.Thread(target=self._write, name="frame-writer", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (frame := self.frames.get()) is not _END:
            start = cv2.getTickCount()
            self.writer.write(frame)
            self.encode_seconds += (cv2.getTickCount() - start) / cv2.getTickFrequency()

    def write(self, frame: np.ndarray) -> None:
        self.frames.put(frame)

    def close(self) -> None:
        """Finish the file, so that even an interrupted run leaves a video that plays."""
        self.frames.put(_END)
        self.thread.join()
        self.writer.release()
        os.replace(self.tmp, self.path)
