"""The two scripts as a user runs them: outputs, messages and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import frame_count, make_dataset

from facemask import CLASSES
from facemask.classifier import load_classifier
from facemask.cli import train_main, video_main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_training_writes_a_model_that_reloads_with_its_classes(trained_model, capsys):
    card = json.loads(trained_model.with_suffix(".json").read_text())
    assert card["classes"] == list(CLASSES)
    assert set(card["validation"]) == set(CLASSES)
    plots = trained_model.parent / "plots"
    for name in ("training.png", "confusion_matrix.png", "report.txt"):
        assert (plots / name).stat().st_size > 0
    assert "incorrect_mask" in (plots / "report.txt").read_text()
    assert trained_model.with_suffix(".tflite").is_file()
    for backend in ("keras", "tflite"):
        probs = load_classifier(trained_model, backend).classify([np.zeros((40, 30, 3), np.uint8)] * 2)
        assert probs.shape == (2, 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert not [p for p in trained_model.parent.iterdir() if ".tmp" in p.name]


@pytest.mark.slow
def test_members_trains_one_model_per_seed_and_saves_their_average(tmp_path, capsys):
    dataset = make_dataset(tmp_path / "d", per_class=3)
    model_path = tmp_path / "m.h5"
    code = train_main([
        "-d", str(dataset), "-m", str(model_path), "-p", str(tmp_path / "p"), "--weights", "none",
        "--epochs", "1", "--fine-tune", "0", "--views", "1", "--members", "2", "--seed", "7", "--no-tflite",
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert "model 1 of 2 (seed 7)" in out and "model 2 of 2 (seed 8)" in out
    assert json.loads(model_path.with_suffix(".json").read_text())["config"]["members"] == 2

    model = load_classifier(model_path, "keras").model
    one, two = model.get_layer("member_1"), model.get_layer("member_2")
    head = two.get_layer("predictions")
    kernel, _ = head.get_weights()
    head.set_weights([kernel, np.array([6.0, 0.0, 0.0], np.float32)])  # the members now disagree
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    first, second = one.predict(x, verbose=0), two.predict(x, verbose=0)
    assert np.abs(first - second).max() > 0.5
    np.testing.assert_allclose(model.predict(x, verbose=0), (first + second) / 2, atol=1e-5)


@pytest.mark.slow
def test_training_names_each_unreadable_file_once(tmp_path, capsys):
    dataset = make_dataset(tmp_path / "d", per_class=3, folder_names={"incorrect_mask": "mask_weared_incorrect"})
    code = train_main([
        "-d", str(dataset), "-m", str(tmp_path / "m.keras"), "-p", str(tmp_path / "p"),
        "--weights", "none", "--epochs", "1", "--fine-tune", "0", "--no-tflite", "--val-split", "0.34",
    ])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("corrupt.jpg") == 1
    assert "skipped 1 unreadable image(s) of 10" in err
    assert (tmp_path / "m.keras").is_file() and (tmp_path / "m.json").is_file()


@pytest.mark.parametrize(
    ("remove", "message"),
    [("incorrect_mask", "no folder for incorrect_mask"), ("without_mask/*", "holds no images")],
)
def test_training_refuses_a_dataset_missing_a_class(tmp_path, capsys, remove, message):
    dataset = make_dataset(tmp_path / "d", per_class=2)
    for path in sorted(dataset.glob(remove), reverse=True):
        path.unlink() if path.is_file() else [p.unlink() for p in path.iterdir()] and None
        if path.is_dir():
            path.rmdir()
    code = train_main(["-d", str(dataset), "-m", str(tmp_path / "m.h5"), "--weights", "none"])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.h5").exists()


def test_training_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["-d", str(tmp_path / "nope")])
    assert e.value.code == 2 and "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        train_main(["-d", str(tmp_path), "-m", "model.pt"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        train_main(["-d", str(tmp_path), "--val-split", "1.5"])
    assert e.value.code == 2


def test_missing_imagenet_weights_say_where_to_put_them(tmp_path):
    dataset = make_dataset(tmp_path / "d", per_class=2)
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras_home")}
    result = subprocess.run(
        [sys.executable, "train_mask_detector.py", "-d", str(dataset), "-m", str(tmp_path / "m.h5")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" in result.stderr
    assert str(tmp_path / "keras_home" / "models") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_video_detection_writes_every_frame_annotated(trained_model, scene_video, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code = video_main(["--video", str(scene_video), "--output", str(out), "--no-display", "-m", str(trained_model)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith("10 frames, faces: ")
    counts = [int(part.split()[-1]) for part in stdout.split("faces: ")[1].split(";")[0].split(", ")]
    assert len(counts) == len(CLASSES) and sum(counts) == 8  # the face in each of the 8 frames that show it
    assert frame_count(out) == 10
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 640 and capture.get(cv2.CAP_PROP_FPS) == 15
    ok, frame = capture.read()
    original = cv2.VideoCapture(str(scene_video)).read()[1]
    assert ok and np.abs(frame.astype(int) - original).mean() > 0.5  # boxes and labels were drawn


@pytest.mark.parametrize("face_detector", ["yunet", "ssd"])
def test_video_detection_counts_one_face_per_face_frame(color_model, scene_video, capsys, face_detector):
    argv = ["--video", str(scene_video), "--no-display", "-m", str(color_model), "--face-detector", face_detector]
    assert video_main(argv) == 0
    summary = capsys.readouterr().out
    counts = [int(part.split()[-1]) for part in summary.split("faces: ")[1].split(";")[0].split(", ")]
    assert sum(counts) == 8


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (CI runs the tests under Xvfb)")
def test_video_with_a_window(color_model, scene_video, capsys):
    assert video_main(["--video", str(scene_video), "-m", str(color_model)]) == 0
    assert capsys.readouterr().out.startswith("10 frames")


def test_no_display_is_a_clear_error(color_model, scene_video, capsys, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert video_main(["--video", str(scene_video), "-m", str(color_model)]) == 1
    assert "--no-display" in capsys.readouterr().err


def test_missing_camera_is_a_clear_error(color_model, capsys):
    assert video_main(["--camera", "99", "--no-display", "-m", str(color_model)]) == 1
    assert "cannot open camera 99" in capsys.readouterr().err


def test_unreadable_video_is_a_clear_error(color_model, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert video_main(["--video", str(bad), "--no-display", "-m", str(color_model)]) == 1
    assert f"cannot open video {bad}" in capsys.readouterr().err


def test_a_damaged_face_detector_is_one_error_line(color_model, scene_video, tmp_path, capsys):
    bad = tmp_path / "face_detection_yunet_2023mar.onnx"
    bad.write_bytes(b"not the model")
    argv = ["--video", str(scene_video), "--no-display", "-m", str(color_model), "--face-detector", str(bad)]
    assert video_main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "not the official YuNet model" in err[0]


def test_corrupt_model_is_a_clear_error(tmp_path, scene_video, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not a model")
    assert video_main(["--video", str(scene_video), "--no-display", "-m", str(bad)]) == 1
    assert "cannot load the model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--video", "no/such/file.mp4"],
        ["--model", "no/such/model.h5"],
        ["--face-detector", "no/such/dir"],
        ["--confidence", "1.5"],
        ["--output", "out.gif"],
        ["--camera", "-1"],
    ],
)
def test_video_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as e:
        video_main([*argv, "--no-display"])
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "abc", "1e9", "100001", "3.5", ""])
@pytest.mark.parametrize("script", ["video", "image", "batch"])
def test_min_face_refuses_what_is_no_face_size_before_anything_runs(script, value, tmp_path, capsys):
    from facemask.batch.cli import main as batch_main
    from facemask.cli import image_main

    photo = tmp_path / "a.jpg"
    cv2.imwrite(str(photo), np.zeros((64, 64, 3), np.uint8))
    main, argv = {"video": (video_main, ["--no-display"]), "image": (image_main, ["--image", str(photo)]),
                  "batch": (batch_main, [str(photo), "--out", str(tmp_path / "out")])}[script]
    with pytest.raises(SystemExit) as e:
        main([*argv, f"--min-face={value}"])
    assert e.value.code == 2 and "--min-face" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_explains_every_flag():
    for main in (train_main, video_main):
        with pytest.raises(SystemExit) as e:
            main(["--help"])
        assert e.value.code == 0


def test_a_video_file_without_a_display_shows_a_progress_bar_on_a_terminal_only(color_model, scene_video, capsys,
                                                                                 monkeypatch):
    from facemask.detector import MaskDetector
    from facemask.video import run

    detector = MaskDetector.load(color_model)
    run(detector, str(scene_video), display=False, progress=True)
    assert "10/10" in capsys.readouterr().err  # frames done of the file's 10
    argv = ["--video", str(scene_video), "--no-display", "-m", str(color_model)]
    assert video_main(argv) == 0
    assert "10/10" not in capsys.readouterr().err  # stderr is no terminal here
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert video_main(argv) == 0
    assert "10/10" in capsys.readouterr().err
    assert video_main([*argv, "--quiet"]) == 0
    assert "10/10" not in capsys.readouterr().err
