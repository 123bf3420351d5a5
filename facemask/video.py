"""The video script's run: a source, the stream of results (facemask.pipeline) and the sinks the user asked for
(facemask.sinks), until the source ends, the user presses q or Esc, or Ctrl-C; a summary at the end."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .detector import MaskDetector
from .errors import SourceError
from .interrupt import StopRequest
from .pipeline import Stream, StreamOptions
from .sinks import AlertOutputs, ProgressBar, Sink, VideoFileSink, WindowSink, close_all
from .types import Summary


def check_display() -> None:
    """Fail clearly where a window cannot open: OpenCV's Qt aborts the whole process there."""
    if sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    ):
        raise SourceError("no display to show the video on: run with --no-display (and --output to save it)")


def run(
    detector: MaskDetector,
    source: int | str,
    options: StreamOptions | None = None,
    *,
    output: str | Path | None = None,
    display: bool = False,
    alerts: AlertOutputs | None = None,
    sinks: Sequence[Sink] = (),
    progress: bool = False,
    opener: Callable[[int | str], object] | None = None,
    stop: StopRequest | None = None,
) -> Summary:
    """Detect, and show, write and report every frame until the source ends, the user presses q or Esc, or
    Ctrl-C. `sinks` get every result after the run's own (window, video file, progress bar, event outputs).

    `progress`: a bar on stderr for a source whose length is known, a file. `stop`: a StopRequest the caller can
    set from another thread (a worker that is told to stop); by default the run makes its own, set by Ctrl-C.
    Ctrl-C or SIGTERM stops after the frame in hand: the output video is finished so that it plays, and the
    summary has `interrupted` set to the signal. A live source that stops delivering is reopened up to
    `options.reconnect` times (see stream.FrameReader); `opener` opens the capture in its place (for tests)."""
    if display:
        check_display()
    own = (alerts or AlertOutputs()).sinks()  # first: a bad log path fails before a camera opens
    with stop or StopRequest() as stop:
        try:
            stream = Stream(detector, source, options, stop, opener)
        except BaseException:
            close_all(own, Summary())
            raise
        everything = [*own]
        if progress and not stream.live and stream.frame_count > 0:
            everything.insert(0, ProgressBar(stream.frame_count))
        if output is not None:
            everything.append(VideoFileSink(output, stream.fps))
        if display:
            everything.append(WindowSink(stop))
        everything += sinks
        summary, results = stream.summary, iter(stream)
        try:
            while True:
                try:
                    for result in results:
                        for sink in everything:
                            sink.observe(result)
                    break
                except KeyboardInterrupt:  # a second Ctrl-C during a sink: the stream ends its tracks, then stops
                    stop.set(signal.SIGINT)
        except BaseException:
            summary.failed = True
            results.close()  # the reader stops, the summary gets its figures
            raise
        finally:
            close_all(everything, summary)
    return summary
