"""Writing files so that an interrupted run never leaves a truncated one behind."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import DatasetError, OutputError


def shipped(folder: str) -> Path:
    """A folder the project ships (models/, face_detector/): inside the package once pip installed it there,
    beside the package in a checkout of the repository."""
    package = Path(__file__).resolve().parent
    installed = package / folder
    return installed if installed.is_dir() else package.parent / folder


def shown_path(path: str | Path) -> str:
    """`path` relative to the working folder when it lies inside it: results and reports that are committed
    must not hold one machine's folders."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


# This machine's temporary files: only their process IDs can be checked here (a folder may be shared by several
# machines' workers, over NFS).
TEMP_PREFIX = f".facemask-{hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]}-"
_STALE = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-.*\.tmp")
_cleaned: set[Path] = set()


def temp_path(path: Path) -> Path:
    """A new empty file of this process beside `path`, on the same file system so that os.replace is atomic.

    It is created exclusively under a short random name: nothing planted in a folder others may write (a
    symlink under a predictable name) is ever followed, and a `path` whose name takes all 255 bytes still
    leaves room for it. It keeps a short suffix, since Keras and OpenCV pick the format from it, and this
    process's ID, by which a later run removes what a killed one left (remove_stale_temps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    fd, name = tempfile.mkstemp(suffix=".tmp" + suffix, prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=path.parent)
    os.close(fd)
    return Path(name)


def readable_text(text: str) -> str:
    """`text` as valid UTF-8: a Linux file name may hold any bytes (caf\xe9.jpg), which a UTF-8 CSV cannot."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def opencv_path(path: str | Path) -> Iterator[str]:
    """A name OpenCV can open `path` by while the block runs: the path itself, or, when it is no valid UTF-8
    (legal on Linux; OpenCV's Python binding dies of a segmentation fault on it), a link to it under a plain
    name in a private temporary folder. OpenCV keeps a file open once it has opened it."""
    text = str(path)
    if readable_text(text) == text:
        yield text
        return
    folder = tempfile.mkdtemp(prefix="facemask-")
    link = os.path.join(folder, "file" + readable_text(Path(text).suffix))
    try:
        os.symlink(os.path.abspath(text), link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_regular(path: Path) -> None:
    """An OutputError when `path` exists and is no regular file: a rename would replace a device node such as
    /dev/full or a fifo (root may), and opening a fifo to append blocks until a reader comes, maybe never."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return  # not there yet, or under a file: the write itself will say
    except (OSError, ValueError) as e:  # a symlink loop, a name too long
        raise OutputError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}") from e
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise OutputError(f"cannot write {path}: {what}")


def write_target(path: Path) -> Path:
    """Where writing `path` lands: what a symlink points at, so that the rename that publishes a file replaces
    the file and keeps the link the user made."""
    try:
        return path.resolve() if path.is_symlink() else path
    except (OSError, RuntimeError):  # a symlink loop: check_regular says so
        return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temporary files in `folder` left by runs on this machine that were killed (kill -9, a power
    cut) while writing there: those whose process is gone. Once per folder and process, since a folder of photos is
    written thousands of times. Returns what it removed."""
    folder = Path(folder)
    if folder in _cleaned:
        return []
    _cleaned.add(folder)
    removed = []
    with contextlib.suppress(OSError):
        for candidate in folder.iterdir():
            match = _STALE.match(candidate.name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path, named: bool = False, new: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    `named`: the user named this file, so a symlink there is theirs and the file it points at is replaced.
    Otherwise (a name the tool made up in a folder, where others may have planted a link) the rename replaces
    whatever entry is there and never writes through it; `new`: nothing there is replaced at all, and an
    OutputError says so. A write that fails (a full disk, a folder gone read-only) leaves `path` as it was,
    removes the temporary file and raises an OutputError naming `path`: the scripts print it as one line,
    not a traceback."""
    path = write_target(Path(path)) if named else Path(path)
    try:
        planted = not named and path.is_symlink()
    except OSError as e:  # a name too long, a folder that may not be looked into
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    if not planted:
        check_regular(path)
    try:
        tmp = temp_path(path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        yield tmp
        if new:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        os.replace(tmp, path)
    except FileExistsError as e:
        raise OutputError(f"cannot write {path}: something is already there") from e
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: object) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_csv(path: str | Path, what: str) -> list[dict[str, str]]:
    """The rows of a CSV file with a header line; a DatasetError naming `what` it is when it cannot be read."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"cannot read the {what} {path}: {e}") from e


def sha256(path: str | Path) -> str:
    """The file's SHA-256, read in chunks: model files are large."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
