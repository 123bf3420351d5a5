"""Errors a user can act on: the command-line scripts print them and exit non-zero, without a traceback."""

import importlib.util
import re
import sys

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
    """One line on stderr for something skipped or retried: the run goes on."""
    print(f"warning: {printable(message)}", file=sys.stderr, flush=True)


def notice(message: str) -> None:
    """One line on stderr about the run itself (an alert, a reconnection, a stop under way), kept apart from
    the results on stdout."""
    print(printable(message), file=sys.stderr, flush=True)
