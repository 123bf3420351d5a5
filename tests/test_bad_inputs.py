"""Datasets nobody checked and command lines with mistakes in them: clear messages, nothing half done."""

import time

import cv2
import pytest
from conftest import make_dataset, scene, write_video

import facemask.train.training
from facemask.cli import image_main, train_main, video_main

BAD_FILES = ("corrupt.jpg", "truncated.jpg", "empty.png", "notes.jpg", "folder.jpg", "dangling.png")


def spoil(folder, names=BAD_FILES):
    """Put one of each kind of bad file in a class folder (corrupt.jpg is already there in with_mask)."""
    jpeg = cv2.imencode(".jpg", scene())[1].tobytes()
    for name in names:
        path = folder / name
        if name == "corrupt.jpg":
            path.write_bytes(b"\xff\xd8\xff not really a jpeg")
        elif name == "truncated.jpg":
            path.write_bytes(jpeg[: len(jpeg) // 2])
        elif name == "empty.png":
            path.write_bytes(b"")
        elif name == "notes.jpg":
            path.write_text("a text file named like a photo\n")
        elif name == "folder.jpg":
            path.mkdir()
        elif name == "dangling.png":
            path.symlink_to(folder / "deleted.png")


def test_five_percent_bad_files_train_to_the_end_each_named_once(tmp_path, capsys, monkeypatch):
    import keras

    def quick_training(images_train, labels_train, synthetic_train, images_val, labels_val, config):
        """A stand-in for the fit: the warnings come from loading the dataset, and the rest of the script runs."""
        trained.append(len(images_train) + len(images_val))
        inputs = keras.Input((224, 224, 3))
        model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(
            keras.layers.GlobalAveragePooling2D()(inputs)))
        return model, {"loss": [1.0], "accuracy": [0.5], "val_loss": [1.0], "val_accuracy": [0.5]}

    trained = []
    monkeypatch.setattr(facemask.train.training, "train", quick_training)
    dataset = make_dataset(tmp_path / "d", per_class=38)  # 114 images and corrupt.jpg
    spoil(dataset / "with_mask", BAD_FILES[1:4])
    spoil(dataset / "incorrect_mask", BAD_FILES[4:])
    code = train_main(["-d", str(dataset), "-m", str(tmp_path / "m.h5"), "-p", str(tmp_path / "p"),
                       "--weights", "none", "--epochs", "1", "--views", "1", "--no-tflite"])
    err = capsys.readouterr().err
    assert code == 0
    assert trained == [114]  # every readable image, and only those, went on to training
    for name in BAD_FILES:
        assert err.count(name) == 1, name
    assert "skipped 6 unreadable image(s) of 120" in err  # 5%
    assert "truncated.jpg: not an image, or damaged or truncated" in err
    assert "folder.jpg: a folder, not an image file" in err and "empty.png: empty file" in err
    assert (tmp_path / "m.h5").is_file()


def test_a_class_with_no_readable_image_fails_before_training(tmp_path, capsys, monkeypatch):
    dataset = make_dataset(tmp_path / "d", per_class=3)
    for path in (dataset / "without_mask").iterdir():
        path.unlink()
    spoil(dataset / "without_mask")
    (dataset / "without_mask" / "ok.png").symlink_to(dataset / "with_mask" / "corrupt.jpg")

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(facemask.train.training, "train", no_training)
    start = time.perf_counter()
    code = train_main(["-d", str(dataset), "-m", str(tmp_path / "m.h5"), "--weights", "none"])
    assert code == 1 and time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert f"error: no readable image in the class folder {dataset / 'without_mask'} (without_mask)" in err
    assert err.count("warning: skipping unreadable image") == len(BAD_FILES) + 2  # and with_mask/corrupt.jpg
    assert not (tmp_path / "m.h5").exists()


@pytest.fixture
def inputs(tmp_path, color_model):
    """Things to point the scripts at: a dataset, a video, a photo, a model, and a folder."""
    (tmp_path / "folder").mkdir()
    cv2.imwrite(str(tmp_path / "photo.jpg"), scene())
    write_video(tmp_path / "clip.mp4", [scene()] * 2)
    make_dataset(tmp_path / "data", per_class=1)
    return {"dir": str(tmp_path / "folder"), "video": str(tmp_path / "clip.mp4"), "photo": str(tmp_path / "photo.jpg"),
            "data": str(tmp_path / "data"), "model": str(color_model), "tmp": str(tmp_path)}


UNWRITABLE = "/proc/facemask-test"  # not even root can create files here

TRAIN = ["-d", "{data}", "-m", "{tmp}/new/m.h5", "-p", "{tmp}/new/plots", "--weights", "none"]
VIDEO = ["--video", "{video}", "-m", "{model}", "--no-display"]
IMAGE = ["--image", "{photo}", "-m", "{model}", "-o", "{tmp}/new/out"]


@pytest.mark.parametrize(
    ("main", "argv", "message"),
    [
        (train_main, [*TRAIN, "-d", "{tmp}/nope"], "not a folder"),
        (train_main, [*TRAIN, "-d", "{photo}"], "--dataset: not a folder"),
        (train_main, [*TRAIN, "-m", "{dir}"], "--model: is a folder"),
        (train_main, [*TRAIN, "-m", f"{UNWRITABLE}/m.h5"], "--model: cannot write in /proc"),
        (train_main, [*TRAIN, "-m", "{photo}/m.h5"], "is not a folder"),
        (train_main, [*TRAIN, "-p", "{photo}"], "--plot: not a folder"),
        (train_main, [*TRAIN, "-p", f"{UNWRITABLE}/plots"], "--plot: cannot write in /proc"),
        (train_main, [*TRAIN, "--export-tflite", "-m", "{tmp}/nope.h5"], "--model: no such file"),
        (train_main, [*TRAIN, "--export-tflite", "-m", "{dir}"], "--model: is a folder"),
        (train_main, [*TRAIN, "--epochs", "0"], "must be 1 or more"),
        (train_main, [*TRAIN, "--epochs", "-3"], "must be 1 or more"),
        (train_main, [*TRAIN, "--batch-size", "0"], "must be 1 or more"),
        (train_main, [*TRAIN, "--views", "-1"], "must be 1 or more"),
        (train_main, [*TRAIN, "--fine-tune", "-1"], "must be 0 or more"),
        (train_main, [*TRAIN, "--fine-tune", "most"], "a number of layers or 'all', got most"),
        (train_main, [*TRAIN, "--val-split", "0"], "between 0 and 1"),
        (train_main, [*TRAIN, "--val-split", "-0.2"], "between 0 and 1"),
        (train_main, [*TRAIN, "--val-split", "nan"], "finite"),
        (train_main, [*TRAIN, "--learning-rate=-1e-4"], "more than 0"),
        (train_main, [*TRAIN, "--fine-tune-learning-rate", "0"], "more than 0"),
        (train_main, [*TRAIN, "--learning-rate", "inf"], "finite"),
        (train_main, [*TRAIN, "--seed", "-1"], "between 0 and 2**32 - 1"),
        (train_main, [*TRAIN, "--epochs", "100000000000000000000"], "must be at most 100000"),
        (train_main, [*TRAIN, "--batch-size", "1000000"], "must be at most 4096"),
        (train_main, [*TRAIN, "--views", "1000000"], "must be at most 100"),
        (train_main, [*TRAIN, "--fine-tune", "1000000"], "must be at most 1000"),
        (train_main, [*TRAIN, "--fine-tune-epochs", "1000000"], "must be at most 100000"),
        (train_main, [*TRAIN, "--members", "1000000"], "must be at most 100"),
        (train_main, [*TRAIN, "--learning-rate", "1e306"], "must be at most 1"),
        (train_main, [*TRAIN, "--fine-tune-learning-rate", "5"], "must be at most 1"),
        (train_main, [*TRAIN, "--seed", "1e3"], "invalid seed value"),
        (video_main, [*VIDEO, "--video", "{tmp}/nope.mp4"], "--video: no such file"),
        (video_main, [*VIDEO, "--video", "{dir}"], "--video: is a folder"),
        (video_main, [*VIDEO, "-m", "{dir}"], "--model: is a folder"),
        (video_main, [*VIDEO, "-m", "{tmp}/nope.h5"], "--model: no such file"),
        (video_main, [*VIDEO, "--face-detector", "{photo}"], "--face-detector: not yunet, ssd, a .onnx"),
        (video_main, [*VIDEO, "--face-detector", "yunett"], "--face-detector: not yunet, ssd, a .onnx"),
        (video_main, [*VIDEO, "--output", "{dir}.mp4"], None),  # made below: a folder named like a video
        (video_main, [*VIDEO, "--output", f"{UNWRITABLE}/out.mp4"], "--output: cannot write in /proc"),
        (video_main, [*VIDEO, "--output", "/proc/out.mp4"], "--output: cannot write in /proc"),
        (video_main, [*VIDEO, "--log", "{dir}"], "--log: is a folder"),
        (video_main, [*VIDEO, "--log", f"{UNWRITABLE}/events.jsonl"], "--log: cannot write in /proc"),
        (video_main, [*VIDEO, "--snapshots", "{photo}"], "--snapshots: not a folder"),
        (video_main, [*VIDEO, "--snapshots", f"{UNWRITABLE}/snaps"], "--snapshots: cannot write in /proc"),
        (video_main, [*VIDEO, "--confidence", "-0.5"], "between 0 and 1"),
        (video_main, [*VIDEO, "--confidence", "1"], "between 0 and 1"),
        (video_main, [*VIDEO, "--alert-after", "-1"], "must be 0 or more"),
        (video_main, [*VIDEO, "--alert-after", "nan"], "finite"),
        (video_main, [*VIDEO, "--detect-every", "0"], "must be 1 or more"),
        (video_main, [*VIDEO, "--smooth", "-2"], "must be 1 or more"),
        (video_main, [*VIDEO, "--reconnect", "-1"], "must be 0 or more"),
        (video_main, [*VIDEO, "--read-timeout", "0"], "more than 0"),
        (video_main, ["--camera", "-1", "--no-display"], "must be 0 or more"),
        (video_main, ["--camera", "100000000000000000000", "--no-display"], "must be at most 9999"),
        (video_main, [*VIDEO, "--read-timeout", "1e306"], "must be at most 86400"),
        (video_main, [*VIDEO, "--read-timeout", "1e-400"], "more than 0"),
        (video_main, [*VIDEO, "--alert-after", "1e306"], "must be at most 86400"),
        (video_main, [*VIDEO, "--detect-every", "100000000000000000000"], "must be at most 1000"),
        (video_main, [*VIDEO, "--smooth", "100000000000000000000"], "must be at most 1000"),
        (video_main, [*VIDEO, "--reclassify-every", "100000000000000000000"], "must be at most 1000"),
        (video_main, [*VIDEO, "--reconnect", "100000000000000000000"], "must be at most 1000"),
        (video_main, [*VIDEO, "--confidence", "1e306"], "between 0 and 1"),
        (image_main, [*IMAGE, "--image", "{tmp}/nope.jpg"], "no such file or folder"),
        (image_main, [*IMAGE, "-o", "{photo}"], "--output: not a folder"),
        (image_main, [*IMAGE, "-o", f"{UNWRITABLE}/out"], "--output: cannot write in /proc"),
        (image_main, [*IMAGE, "--csv", "{dir}"], "--csv: is a folder"),
        (image_main, [*IMAGE, "--csv", f"{UNWRITABLE}/faces.csv"], "--csv: cannot write in /proc"),
        (image_main, [*IMAGE, "-m", "{dir}"], "--model: is a folder"),
        (image_main, [*IMAGE, "--confidence", "-1"], "between 0 and 1"),
    ],
)
def test_bad_command_lines_exit_2_and_write_nothing(inputs, tmp_path, capsys, main, argv, message):
    if message is None:
        (tmp_path / "folder.mp4").mkdir()
        message = "--output: is a folder"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as e:
        main([a.format(**inputs) for a in argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err and message in err, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
