"""Ctrl-C, SIGTERM and kill -9, sent to the real scripts: the previous model survives, the video plays."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Script, frame_count, make_dataset, scene, write_video

from facemask.classifier import load_classifier
from facemask.cli import video_main
from facemask.files import TEMP_PREFIX, remove_stale_temps, write_text
from facemask.train.model import export_tflite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def old_model(tmp_path, color_model) -> Path:
    """A working model from an earlier training, with its card and .tflite twin, for training to replace."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(color_model, folder / "m.h5")
    shutil.copy(color_model.with_suffix(".json"), folder / "m.json")
    (folder / "m.tflite").write_bytes(b"the twin of the old model")
    return folder / "m.h5"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


def train(tmp_path: Path, model: Path, epochs: int) -> Script:
    dataset = make_dataset(tmp_path / "d", per_class=4)
    return Script("train_mask_detector.py", "-d", str(dataset), "-m", str(model), "-p", str(tmp_path / "plots"),
                  "--weights", "none", "--epochs", str(epochs), "--fine-tune", "0", "--views", "1", "--no-tflite")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_during_training_keeps_the_previous_model(tmp_path, old_model, signum, code):
    before = snapshot(old_model.parent)
    script = train(tmp_path, old_model, epochs=100000)
    script.wait_for_line("Epoch 2/")
    script.proc.send_signal(signum)
    assert script.finish() == code, script.stderr[-3000:]
    assert "stopping after this batch" in script.stderr
    assert script.stderr.rstrip().endswith("interrupted") and "Traceback" not in script.stderr
    assert snapshot(old_model.parent) == before


@pytest.mark.slow
def test_ctrl_c_during_the_save_publishes_all_or_nothing(tmp_path, old_model):
    before = snapshot(old_model.parent)
    script = train(tmp_path, old_model, epochs=1)
    script.wait_for(lambda: temp_files(old_model.parent))
    script.proc.send_signal(signal.SIGINT)
    code = script.finish()
    assert code in (0, 130) and "Traceback" not in script.stderr
    assert not temp_files(old_model.parent)
    after = snapshot(old_model.parent)
    if after["m.h5"] == before["m.h5"]:
        assert after == before and code == 130  # cut before the renames: nothing changed
    else:  # the signal came during the renames, held back until they were done: the new model, whole
        assert "m.tflite" not in after and b"trained" in after["m.json"]
        load_classifier(old_model, "keras")


@pytest.mark.slow
def test_kill_9_during_the_save_keeps_the_previous_model(tmp_path, old_model):
    before = snapshot(old_model.parent)
    script = train(tmp_path, old_model, epochs=1)
    script.wait_for(lambda: temp_files(old_model.parent))
    script.proc.kill()
    assert script.finish() == -signal.SIGKILL
    assert temp_files(old_model.parent)  # it was killed in the middle of writing the new model
    assert {k: v for k, v in snapshot(old_model.parent).items() if ".tmp" not in k} == before
    probs = load_classifier(old_model, "keras").classify([np.full((30, 30, 3), (40, 200, 40), np.uint8)])
    assert probs.argmax() == 0  # the old model, loadable and working


@pytest.fixture(scope="module")
def color_tflite(color_model, tmp_path_factory) -> Path:
    """The colour model as .tflite, which starts in a second: no TensorFlow to import in the script."""
    path = tmp_path_factory.mktemp("tflite") / "color.tflite"
    export_tflite(load_classifier(color_model, "keras").model, path)
    shutil.copy(color_model.with_suffix(".json"), path.with_suffix(".json"))
    return path


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    frame = scene()
    frames = [np.roll(frame, 3 * i, axis=1) for i in range(300)]
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", frames)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_during_detection_finishes_the_video_and_prints_the_summary(
    tmp_path, color_tflite, long_video, signum, code
):
    out = tmp_path / "out.mp4"
    script = Script("detect_mask_video.py", "--video", str(long_video), "--output", str(out), "--no-display",
                    "-m", str(color_tflite))
    script.wait_for(lambda: temp_files(tmp_path))  # the first frame is written
    time.sleep(1.0)
    script.proc.send_signal(signum)
    assert script.finish() == code, script.stderr[-3000:]
    frames = int(script.stdout.split(" frames")[0])
    assert 0 < frames < 300
    assert f"stopped by {signal.Signals(signum).name}" in script.stdout and f"wrote {out}" in script.stdout
    assert "interrupted" in script.stderr and "Traceback" not in script.stderr
    assert frame_count(out) == frames  # every frame done is in the video, and it plays
    assert not temp_files(tmp_path)


def test_temporary_files_of_killed_runs_are_removed_by_the_next_write_there(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = [tmp_path / f"{TEMP_PREFIX}{dead.pid}-k3j2.tmp.mp4", tmp_path / f"{TEMP_PREFIX}{dead.pid}-x.tmp.h5",
            tmp_path / f"{TEMP_PREFIX}{dead.pid}-x.tmp.json"]
    kept = [tmp_path / f"{TEMP_PREFIX}{os.getppid()}-a.tmp.h5", tmp_path / f".other.{dead.pid}.tmp.h5",
            tmp_path / f".facemask-0another-{dead.pid}-x.tmp.h5", tmp_path / "m.h5"]  # another machine's
    for path in left + kept:
        path.write_bytes(b"x")
    write_text(tmp_path / "notes.txt", "any file written in the folder")
    assert sorted(tmp_path.iterdir()) == sorted([*kept, tmp_path / "notes.txt"])
    assert remove_stale_temps(tmp_path) == []  # once a folder and process


def test_a_rerun_removes_the_temporary_video_of_a_run_killed_with_sigkill(color_tflite, long_video, tmp_path):
    out = tmp_path / "out.mp4"
    argv = ["--video", str(long_video), "--output", str(out), "--no-display", "-m", str(color_tflite)]
    script = Script("detect_mask_video.py", *argv)
    script.wait_for(lambda: temp_files(tmp_path))
    script.proc.kill()
    script.proc.wait()
    assert temp_files(tmp_path) and not out.exists()
    assert video_main([*argv, "-q"]) == 0
    assert temp_files(tmp_path) == [] and out.exists()
