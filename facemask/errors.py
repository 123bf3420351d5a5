"""Errors a user can act on: the command-line scripts print them and exit non-zero, without a traceback.

Warnings and notices go through the `facemask` logger, so that a program using the library can filter or route
them; the commands print them as one line each on stderr (`warning: ...` for warnings), see console_logging.
"""

import importlib.util
import logging
import re
import sys

LOG = logging.getLogger("facemask")
LOG.addHandler(logging.NullHandler())  # a library says nothing until its user configures logging

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class FacemaskError(RuntimeError):
    """Base class: a missing or damaged file, an unreadable source, an unusable dataset."""


class ModelError(FacemaskError):
    """The classifier model is missing, corrupt or does not fit the classes."""


class SourceError(FacemaskError):
    """A camera, video file or stream cannot be opened."""


class DatasetError(FacemaskError):
    """The dataset folder cannot be trained on."""


class OutputError(FacemaskError):
    """An output file that could not be written whole (a full disk, a folder gone): the previous one is kept."""


class ImageError(FacemaskError):
    """An image file that cannot be read: missing, empty, truncated, or no image at all."""


class ImageTooLarge(ImageError):
    """An image file bigger, or declaring more pixels, than the caps allow: decoding it could exhaust memory.
    `flag` names the option of the image script that raises the cap."""

    def __init__(self, message: str, flag: str = ""):
        super().__init__(message)
        self.flag = flag


def require(module: str, purpose: str, extra: str) -> None:
    """A FacemaskError naming the pip extra to install when an optional dependency is missing, instead of the
    ModuleNotFoundError a lazy import would raise deep inside a run."""
    if importlib.util.find_spec(module) is None:
        raise FacemaskError(f"{purpose} needs {module}, which is not installed: "
                            f"pip install 'facemask-detector[{extra}]' (or pip install -r requirements.txt)")


def printable(text: str) -> str:
    """`text` as one line, its control characters escaped (a newline as \\n): a file name with a newline or a
    terminal escape sequence in it must not forge a second message, or rewrite the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def warn(message: str) -> None:
    """Something skipped or retried: the run goes on (a WARNING of the `facemask` logger)."""
    LOG.warning(printable(message))


def notice(message: str) -> None:
    """Something about the run itself (an alert, a reconnection, a stop under way), kept apart from the results
    on stdout (an INFO of the `facemask` logger)."""
    LOG.info(printable(message))


class ConsoleHandler(logging.Handler):
    """The commands' format: one line per message on the stderr of the moment, `warning: ` before warnings."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        try:
            print(prefix + record.getMessage(), file=sys.stderr, flush=True)
        except (OSError, ValueError):  # a closed pipe (| head) has nowhere to take it
            pass


def console_logging() -> None:
    """Print the library's warnings and notices as the commands do (once per process; every command, and every
    worker process of the batch runner, calls this)."""
    if not any(isinstance(h, ConsoleHandler) for h in LOG.handlers):
        LOG.addHandler(ConsoleHandler())
    LOG.setLevel(logging.INFO)
    LOG.propagate = False  # not again through a handler TensorFlow or Ray put on the root logger
