"""Datasets nobody checked and command lines with mistakes in them: clear messages, nothing half done."""

import time

import cv2
from conftest import make_dataset, scene

import facemask.training
from facemask.cli import train_main

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


def test_five_percent_bad_files_train_to_the_end_each_named_once(tmp_path, capsys):
    dataset = make_dataset(tmp_path / "d", per_class=38)  # 114 images and corrupt.jpg
    spoil(dataset / "with_mask", BAD_FILES[1:4])
    spoil(dataset / "incorrect_mask", BAD_FILES[4:])
    code = train_main(["-d", str(dataset), "-m", str(tmp_path / "m.h5"), "-p", str(tmp_path / "p"),
                       "--weights", "none", "--epochs", "1", "--views", "1", "--no-tflite"])
    err = capsys.readouterr().err
    assert code == 0
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

    monkeypatch.setattr(facemask.training, "train", no_training)
    start = time.perf_counter()
    code = train_main(["-d", str(dataset), "-m", str(tmp_path / "m.h5"), "--weights", "none"])
    assert code == 1 and time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert f"error: no readable image in the class folder {dataset / 'without_mask'} (without_mask)" in err
    assert err.count("warning: skipping unreadable image") == len(BAD_FILES) + 2  # and with_mask/corrupt.jpg
    assert not (tmp_path / "m.h5").exists()
