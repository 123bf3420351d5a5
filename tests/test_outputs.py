"""Outputs never land on what the user gave, and a write that fails keeps the previous file.

Each case checks the exit status, the one line that says why, that every file there before is byte for byte
the same afterwards, and that no temporary file is left behind.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_dataset, scene, write_video

import facemask.sinks
import facemask.stream
from facemask.cli import image_main, train_main, video_main
from facemask.events import EventLog
from facemask.outputs import Input, Output, output_problems


def regular_files(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (links not followed) with its bytes."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if stat.S_ISREG(path.lstat().st_mode):
                files[str(path.relative_to(root))] = path.read_bytes()
    return files


def temp_files(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".tmp" in p.name]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


def small_frames(n: int, value: int = 0) -> list[np.ndarray]:
    return [np.full((96, 128, 3), (value + 20 * i) % 256, np.uint8) for i in range(n)]


@pytest.fixture
def given(tmp_path, color_model, monkeypatch):
    """What a user points the scripts at, and what earlier runs wrote; the working folder is tmp_path, so that
    relative paths can be given too."""
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "clip.mp4", small_frames(3))
    write_video(tmp_path / "earlier.mp4", small_frames(2, 100))
    (tmp_path / "events.jsonl").write_text('{"event": "alert"}\n')
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "photos" / "a.jpg"), scene())
    cv2.imwrite(str(tmp_path / "photos" / "sub" / "b.png"), small_frames(1)[0])
    (tmp_path / "elsewhere").mkdir()
    cv2.imwrite(str(tmp_path / "elsewhere" / "linked.jpg"), small_frames(1, 50)[0])
    (tmp_path / "photos" / "linked.jpg").symlink_to(tmp_path / "elsewhere" / "linked.jpg")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "clip.mp4")
    os.link(tmp_path / "clip.mp4", tmp_path / "hard.mp4")
    os.mkfifo(tmp_path / "fifo.mp4")
    os.mkfifo(tmp_path / "fifo.jsonl")
    make_dataset(tmp_path / "data", per_class=1)
    return {"tmp": str(tmp_path), "model": str(color_model), "card": str(color_model.with_suffix(".json"))}


VIDEO = ["--video", "clip.mp4", "-m", "{model}", "--no-display"]
IMAGE = ["--image", "photos", "-m", "{model}", "-o", "out"]
TRAIN = ["-d", "data", "-m", "new/m.h5", "-p", "new/plots", "--weights", "none"]


@pytest.mark.parametrize(
    ("main", "argv", "message"),
    [
        (video_main, [*VIDEO, "--output", "clip.mp4"], "--output: clip.mp4 would overwrite the input --video"),
        (video_main, [*VIDEO, "--output", "{tmp}/clip.mp4"], "would overwrite the input --video clip.mp4"),
        (video_main, [*VIDEO, "--output", "photos/../clip.mp4"], "would overwrite the input --video"),
        (video_main, [*VIDEO, "--output", "link.mp4"], "--output: link.mp4 would overwrite the input --video"),
        (video_main, [*VIDEO, "--output", "hard.mp4"], "--output: hard.mp4 would overwrite the input --video"),
        (video_main, [*VIDEO, "--log", "clip.mp4"], "--log: clip.mp4 would overwrite the input --video"),
        (video_main, [*VIDEO, "--log", "{card}"], "would overwrite the input --model"),
        (video_main, [*VIDEO, "--output", "new.mp4", "--log", "new.mp4"], "--log: new.mp4 is already the output of"),
        (video_main, [*VIDEO, "--log", "/dev/full"], "--log: not a regular file"),
        (video_main, [*VIDEO, "--log", "fifo.jsonl"], "--log: not a regular file"),
        (video_main, [*VIDEO, "--output", "fifo.mp4"], "--output: not a regular file"),
        (image_main, [*IMAGE, "--csv", "photos/a.jpg"], "--csv: photos/a.jpg would overwrite the input --image"),
        (image_main, [*IMAGE, "-r", "--csv", "photos/sub/faces.csv"], "is inside the folder photos that --image"),
        (image_main, [*IMAGE, "--csv", "photos/faces.csv"], "is inside the folder photos that --image reads"),
        (image_main, [*IMAGE, "-r", "-o", "photos"], "--output: photos would overwrite the input --image"),
        (image_main, [*IMAGE, "-r", "-o", "photos/sub"], "--output: photos/sub is inside the folder photos"),
        (image_main, [*IMAGE, "-o", "elsewhere"], "elsewhere/linked.jpg would overwrite the input --image"),
        (image_main, [*IMAGE, "--csv", "out/a.jpg"], "--csv: out/a.jpg is already the output of --output"),
        (image_main, [*IMAGE, "--csv", "/dev/full"], "--csv: not a regular file"),
        (image_main, [*IMAGE, "--csv", "{card}"], "would overwrite the input --model"),
        (train_main, [*TRAIN, "-p", "data/plots"], "--plot: data/plots is inside the folder data that --dataset"),
        (train_main, [*TRAIN, "-m", "data/with_mask/m.h5"], "--model: data/with_mask/m.h5 is inside the folder"),
        (train_main, [*TRAIN, "-m", "x.h5", "-p", "x.h5"], "--plot: x.h5 is already the output of --model"),
        (train_main, [*TRAIN, "-p", "fifo.mp4"], "--plot: not a folder"),
    ],
)
def test_an_output_that_would_land_on_an_input_or_another_output_is_refused_upfront(
    given, tmp_path, capsys, main, argv, message
):
    before = regular_files(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([a.format(**given) for a in argv])
    assert e.value.code == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert message in line, line
    assert regular_files(tmp_path) == before
    assert not temp_files(tmp_path)
    assert stat.S_ISFIFO(os.stat("fifo.mp4").st_mode)


def test_outputs_that_differ_from_every_input_pass():
    assert output_problems([Output("--output", "out.mp4"), Output("--log", "events.jsonl"),
                            Output("--snapshots", "snaps", folder=True, files=["a.jpg"])],
                           [Input("--video", "clip.mp4"), Input("--image", "photos")]) == []


class DroppingWriter:
    """cv2.VideoWriter on a disk that fills up: after `keep` frames OpenCV only prints "Failed to write
    frame"; `cut` bytes is where the file ends when its last write failed (an .mp4 without its index)."""

    real = cv2.VideoWriter

    def __init__(self, keep: int, cut: int | None):
        self.keep, self.cut = keep, cut

    def __call__(self, path, *args):
        self.path, self.writer, self.frames = path, self.real(path, *args), 0
        return self

    def isOpened(self):
        return self.writer.isOpened()

    def write(self, frame):
        self.frames += 1
        if self.frames <= self.keep:
            self.writer.write(frame)

    def release(self):
        self.writer.release()
        if self.cut is not None:
            data = Path(self.path).read_bytes()
            Path(self.path).write_bytes(data[: self.cut])


def run_quietly(main, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("suffix", "keep", "cut", "why"),
    [
        (".mp4", 2, None, "the video written holds 2 of its 6 frames"),
        (".mp4", 6, 3000, "the video written does not open"),
        (".avi", 2, None, "the video written holds 2 of its 6 frames"),
        (".avi", 6, 3000, "the video written does not open"),
    ],
)
def test_a_full_disk_during_output_keeps_the_earlier_video_and_exits_1(
    given, tmp_path, monkeypatch, suffix, keep, cut, why
):
    write_video(tmp_path / "clip.mp4", small_frames(6))
    earlier = tmp_path / f"annotated{suffix}"
    earlier.write_bytes((tmp_path / "earlier.mp4").read_bytes())
    before = regular_files(tmp_path)
    monkeypatch.setattr(facemask.stream.cv2, "VideoWriter", DroppingWriter(keep, cut))
    code, out, err = run_quietly(video_main, ["--video", "clip.mp4", "-m", given["model"], "--no-display",
                                              "--output", earlier.name])
    assert code == 1
    assert err.strip().splitlines() == [f"error: cannot write {earlier.name}: {why} (is the disk full?); "
                                        "nothing was replaced"]
    assert "wrote" not in out
    assert regular_files(tmp_path) == before
    assert not temp_files(tmp_path)


class FullDisk:
    """A file that takes no more bytes: each write fails as on a full disk, and so does closing it, since
    Python flushes what it buffered then."""

    def write(self, *text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    flush = close = write

    def fileno(self):
        return 1


class LogOnAFullDisk(EventLog):
    def __init__(self, path):
        super().__init__(path)
        self.file.close()
        self.file = FullDisk()


def test_a_log_that_cannot_be_written_mid_run_is_one_error_and_keeps_the_earlier_video(
    given, tmp_path, monkeypatch
):
    write_video(tmp_path / "clip.mp4", [scene()] * 3)
    before = regular_files(tmp_path)
    monkeypatch.setattr(facemask.sinks, "EventLog", LogOnAFullDisk)
    code, out, err = run_quietly(video_main, [
        "--video", "clip.mp4", "-m", given["model"], "--no-display", "--no-bell", "--alert-after", "0",
        "--log", "events.jsonl", "--output", "earlier.mp4"])
    assert code == 1
    assert err.strip().splitlines()[-1] == "error: cannot write the event log events.jsonl: No space left on device"
    assert error_lines(err) == [err.strip().splitlines()[-1]] and "Traceback" not in err
    assert "wrote" not in out
    assert regular_files(tmp_path) == before  # the log as it was, the earlier video too
    assert not temp_files(tmp_path)


def short_write(path: Path, data: bytes) -> int:
    """Path.write_bytes on a disk that filled up half way, without a word, as some network file systems do."""
    with open(path, "wb") as f:
        return f.write(data[: len(data) // 2])


def no_space(path: Path, data: bytes) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@pytest.mark.parametrize(
    ("write_bytes", "why"),
    [(short_write, "the image written does not read back (is the disk full?)"), (no_space, "No space left on device")],
)
def test_a_full_disk_during_image_copies_keeps_the_earlier_copies_and_exits_1(
    given, tmp_path, monkeypatch, write_bytes, why
):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.jpg").write_bytes(b"an earlier copy")
    (tmp_path / "out" / "faces.csv").write_text("an earlier csv\n")
    before = regular_files(tmp_path)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    code, out, err = run_quietly(image_main, ["--image", "photos/a.jpg", "-m", given["model"], "-o", "out"])
    assert code == 1
    assert err.strip().splitlines() == [f"warning: cannot write out/a.jpg: {why}: skipped",
                                        "error: 1 annotated copies could not be written to out (their faces are "
                                        "not in the CSV)"]
    after = regular_files(tmp_path)
    assert after.pop("out/faces.csv").startswith(b"file,x1")  # the run went on: its CSV, without the photo
    assert after == {k: v for k, v in before.items() if k != "out/faces.csv"}  # the earlier copy is kept
    assert "1 not written" in out and not temp_files(tmp_path)
