"""Errors a user can act on: the command-line scripts print them and exit non-zero, without a traceback."""

import sys


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


def warn(message: str) -> None:
    """One line on stderr for something skipped or retried: the run goes on."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
