"""Where the scripts write, checked before any work: an output must never land on what the user gave.

Each path is resolved first (symlinks, `..`, relative paths), and two existing paths that are one file (hard
links, bind mounts) count as one, so no second spelling of a file slips through. An output is refused when it
is an input, another output, inside a folder that is being read, not a regular file (a device such as
/dev/full, a fifo, a folder), or in a folder where nothing can be created. All the scripts and
`python -m facemask.tools.evaluate` go through `check_outputs`, which ends the run with argparse's exit status 2.
"""

from __future__ import annotations

import argparse
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Input:
    """A path a script reads: a file, or a folder whose files it reads (`recursive`: its whole tree)."""

    flag: str
    path: str | Path
    recursive: bool = False


@dataclass(frozen=True)
class Output:
    """A file a script replaces whole, or (`folder`) a folder it writes files in: `files`, relative to it,
    when their names are known beforehand, so that each is checked like a file output of its own."""

    flag: str
    path: str | Path
    folder: bool = False
    files: Sequence[str | Path] = ()


@dataclass(frozen=True)
class _Place:
    """A path as given (for messages) and resolved (for comparisons)."""

    flag: str
    given: Path
    real: Path
    folder: bool = False
    recursive: bool = False


def _place(flag: str, path: str | Path, folder: bool = False, recursive: bool = False) -> _Place:
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError):  # a symlink loop: stat() says so where it matters
        real = Path(path).absolute()
    return _Place(flag, Path(path), real, folder, recursive)


def _stat(path: Path) -> os.stat_result | None:
    """None when nothing is there, or nothing that can be looked at (a name too long, a symlink loop)."""
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    """What makes two existing paths one file (hard links, bind mounts); None for a path not there yet."""
    st = _stat(path)
    return None if st is None else (st.st_dev, st.st_ino)


def _is_dir(path: Path) -> bool:
    st = _stat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


class _Index:
    """Places found by resolved path or by file identity, in O(1): a folder of images has thousands."""

    def __init__(self, places: Iterable[_Place] = ()):
        self.by_path: dict[Path, _Place] = {}
        self.by_identity: dict[tuple[int, int], _Place] = {}
        for place in places:
            self.add(place)

    def add(self, place: _Place) -> None:
        self.by_path.setdefault(place.real, place)
        identity = _identity(place.real)
        if identity is not None:
            self.by_identity.setdefault(identity, place)

    def find(self, path: Path) -> _Place | None:
        found = self.by_path.get(path)
        if found is None and (identity := _identity(path)) is not None:
            found = self.by_identity.get(identity)
        return found


def _what(place: _Place) -> str:
    return "folder" if place.folder else "file"


def _kind_problem(place: _Place) -> str | None:
    """Why the path cannot be written as the kind of output it is: a file, or a folder."""
    try:
        mode = place.real.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None  # it will be created, or the folder check says why it cannot be
    except OSError as e:
        return f"cannot use {place.given}: {e.strerror or e}"
    if place.folder:
        return None if stat.S_ISDIR(mode) else f"not a folder: {place.given}"
    if stat.S_ISDIR(mode):
        return f"is a folder, expected a file name: {place.given}"
    if not stat.S_ISREG(mode):
        return f"not a regular file (a device, a fifo or a socket): {place.given}"
    return None


def _inside(out: _Place, folder: _Place) -> bool:
    """Whether writing `out` adds to what the folder input reads: its files, or (recursive) its whole tree."""
    if folder.recursive:
        return out.real.is_relative_to(folder.real)
    if out.folder:
        return False  # a sub-folder is not read
    parent = out.real.parent
    return parent == folder.real or _identity(parent) == _identity(folder.real)


def _input_problem(out: _Place, inputs: _Index, folders: list[_Place]) -> str | None:
    """Why writing `out` would overwrite what an input is, or add to a folder that is being read."""
    source = inputs.find(out.real)
    if source is not None:
        return f"{out.given} would overwrite the input {source.flag} {source.given}: name another {_what(out)}"
    folder = next((f for f in folders if _inside(out, f)), None)
    if folder is not None:
        return f"{out.given} is inside the folder {folder.given} that {folder.flag} reads: name a place outside it"
    return None


class _Probe:
    """Whether files can be created where each output goes, probed once per folder that exists."""

    def __init__(self):
        self.results: dict[Path, str | None] = {}

    def problem(self, out: _Place) -> str | None:
        """Files must be creatable in the output's folder, or in the nearest folder above it that exists (it
        would be made there): a probe with an anonymous temporary file, which leaves nothing behind."""
        existing = out.real if out.folder else out.real.parent
        while _stat(existing) is None and existing != existing.parent:
            existing = existing.parent
        if existing not in self.results:
            self.results[existing] = self._probe(existing)
        return self.results[existing]

    @staticmethod
    def _probe(folder: Path) -> str | None:
        if not _is_dir(folder):
            return f"{folder} is not a folder"
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            return f"cannot write in {folder}: {e.strerror or e}"
        return None


def _expand(outputs: Iterable[Output]) -> list[_Place]:
    """Each output, and each file named in a folder output as a file output of its own."""
    places = []
    for output in outputs:
        places.append(_place(output.flag, output.path, folder=output.folder))
        places += [_place(output.flag, Path(output.path) / name) for name in output.files]
    return places


def output_problems(outputs: Iterable[Output], inputs: Iterable[Input] = ()) -> list[str]:
    """What is wrong with the outputs, one "--flag: why" line each; empty when all may be written."""
    sources = [_place(i.flag, i.path, recursive=i.recursive) for i in inputs]
    index, folders = _Index(sources), [s for s in sources if _is_dir(s.real)]
    written, probe, problems = _Index(), _Probe(), []
    for out in _expand(outputs):
        problem = _kind_problem(out) or _input_problem(out, index, folders)
        other = written.find(out.real)
        if problem is None and other is not None:
            problem = f"{out.given} is already the output of {other.flag}: name another {_what(out)}"
        problem = problem or probe.problem(out)
        if problem:
            problems.append(f"{out.flag}: {problem}")
        written.add(out)
    return problems


def check_outputs(parser: argparse.ArgumentParser, outputs: Iterable[Output], inputs: Iterable[Input] = ()) -> None:
    """Refuse, before any work and with exit status 2, the first output that may not be written (see above)."""
    problems = output_problems(outputs, inputs)
    if problems:
        parser.error(problems[0])
