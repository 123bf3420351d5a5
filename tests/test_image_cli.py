"""detect_mask_image.py as a user runs it: annotated copies, the CSV of faces, warnings and exit codes."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLASS_COLORS, FACE_IN_SCENE, read_rows, scene

from facemask import MaskDetector
from facemask.cli import image_main
from facemask.images import find_images
from facemask.interrupt import Terminated


def tinted_scene(label: str) -> np.ndarray:
    frame = scene()
    region = frame[30:450, 100:458]
    frame[30:450, 100:458] = np.clip(0.5 * region + 0.5 * np.array(CLASS_COLORS[label]), 0, 255).astype(np.uint8)
    return frame


@pytest.fixture
def photos(tmp_path) -> Path:
    """masked.jpg, bare.png (untinted: the colour model says no mask), empty.png (no face), a corrupt jpg,
    a hidden image and a text file; sub/wrong.jpg below."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    cv2.imwrite(str(root / "masked.jpg"), tinted_scene("with_mask"))
    cv2.imwrite(str(root / "bare.png"), scene())
    cv2.imwrite(str(root / "empty.png"), np.zeros((200, 300, 3), np.uint8))
    cv2.imwrite(str(root / ".hidden.jpg"), scene())
    cv2.imwrite(str(root / "sub" / "wrong.jpg"), tinted_scene("incorrect_mask"))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def check_row(row: dict, file: Path, label: str) -> None:
    assert (row["file"], row["label"]) == (str(file), label)
    box = [int(row[k]) for k in ("x1", "y1", "x2", "y2")]
    assert np.abs(np.subtract(box, FACE_IN_SCENE)).max() <= 12
    assert 0.5 < float(row["confidence"]) <= 1 and 0.5 < float(row["face_score"]) <= 1
    assert row["unsure"] == "0"


@pytest.mark.parametrize("face_detector", ["yunet", "ssd"])
def test_a_folder_gives_annotated_copies_and_a_csv_row_per_face(photos, tmp_path, color_model, capsys, face_detector):
    out = tmp_path / "out"
    argv = ["--image", str(photos), "--output", str(out), "-m", str(color_model), "--face-detector", face_detector]
    assert image_main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == (
        "3 images, faces: Mask 1, No Mask 1, Incorrect Mask 0; 1 image(s) without faces, 1 unreadable")
    assert captured.err.count("warning:") == 1 and f"cannot read {photos / 'broken.jpg'}" in captured.err
    rows = read_rows(out / "faces.csv")
    assert len(rows) == 2
    check_row(rows[0], photos / "bare.png", "without_mask")
    check_row(rows[1], photos / "masked.jpg", "with_mask")
    assert sorted(p.name for p in out.iterdir()) == ["bare.png", "empty.png", "faces.csv", "masked.jpg"]
    copy, original = cv2.imread(str(out / "bare.png")), cv2.imread(str(photos / "bare.png"))
    assert copy.shape == original.shape and (copy != original).any(axis=2).sum() > 500  # box and label drawn
    np.testing.assert_array_equal(cv2.imread(str(out / "empty.png")), cv2.imread(str(photos / "empty.png")))


def test_recursive_keeps_the_sub_folders(photos, color_model, capsys):
    out = photos.parent / "annotated"
    for _ in range(2):
        assert image_main(["--image", str(photos), "-r", "-o", str(out), "-m", str(color_model)]) == 0
    assert capsys.readouterr().out.splitlines()[-2].startswith("4 images, faces: Mask 1, No Mask 1, Incorrect Mask 1")
    rows = read_rows(out / "faces.csv")
    assert [r["label"] for r in rows] == ["without_mask", "with_mask", "incorrect_mask"]
    check_row(rows[2], photos / "sub" / "wrong.jpg", "incorrect_mask")
    assert (out / "sub" / "wrong.jpg").is_file()
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary files left


def test_a_single_file_and_a_csv_elsewhere(photos, tmp_path, color_model, capsys):
    csv_path = tmp_path / "reports" / "faces.csv"
    code = image_main(["--image", str(photos / "sub" / "wrong.jpg"), "-o", str(tmp_path / "o"),
                       "--csv", str(csv_path), "-m", str(color_model)])
    assert code == 0
    assert [r["label"] for r in read_rows(csv_path)] == ["incorrect_mask"]
    assert (tmp_path / "o" / "wrong.jpg").is_file() and not (tmp_path / "o" / "faces.csv").exists()
    assert "wrote 1 annotated image(s)" in capsys.readouterr().out


def test_nothing_readable_is_an_error(photos, tmp_path, color_model, capsys):
    code = image_main(["--image", str(photos / "broken.jpg"), "-o", str(tmp_path / "o"), "-m", str(color_model)])
    assert code == 1 and "none of the 1 image(s) could be read" in capsys.readouterr().err
    assert image_main(["--image", str(photos / "sub"), "-o", str(tmp_path / "o2"), "-m", str(color_model)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert image_main(["--image", str(empty), "-o", str(tmp_path / "o3"), "-m", str(color_model)]) == 1
    assert "no images in" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--image", "no/such/folder"], "no such file or folder"),
        (["--image", "{photos}", "--output", "{photos}"], "would overwrite"),
        (["--image", "{photos}/bare.png", "--output", "{photos}"], "would overwrite"),
        (["--image", "{photos}", "-r", "--output", "{photos}/annotated"], "inside the folder"),
        (["--image", "{photos}", "--csv", "{photos}/faces.csv"], "inside the folder"),
        (["--image", "{photos}", "--output", "{photos}/notes.txt"], "not a folder"),
        (["--image", "{photos}", "--model", "no/such/model.h5"], "no such file"),
        (["--image", "{photos}", "--confidence", "2"], "between 0 and 1"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_2(photos, argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        image_main([a.format(photos=photos) for a in argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_help_explains_the_folder_rules(capsys):
    with pytest.raises(SystemExit) as e:
        image_main(["--help"])
    assert e.value.code == 0
    assert "only those directly in it unless --recursive" in " ".join(capsys.readouterr().out.split())


def test_find_images(photos):
    assert [p.name for p in find_images(photos)] == ["bare.png", "broken.jpg", "empty.png", "masked.jpg"]
    assert [p.relative_to(photos).as_posix() for p in find_images(photos, recursive=True)] == [
        "bare.png", "broken.jpg", "empty.png", "masked.jpg", "sub/wrong.jpg"]
    assert len(find_images(photos, recursive=True, exclude=photos / "sub")) == 4
    assert find_images(photos / "notes.txt") == [photos / "notes.txt"]  # a file named is taken as given


def test_a_folder_shows_a_progress_bar_on_a_terminal_unless_quiet(photos, tmp_path, color_model, capsys, monkeypatch):
    argv = ["--image", str(photos), "-m", str(color_model)]
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert image_main([*argv, "--output", str(tmp_path / "a")]) == 0
    assert "4/4" in capsys.readouterr().err  # masked.jpg, bare.png, empty.png, broken.jpg
    assert image_main([*argv, "--output", str(tmp_path / "b"), "--quiet"]) == 0
    assert "4/4" not in capsys.readouterr().err


@pytest.mark.parametrize(("interrupt", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_an_interrupted_folder_keeps_what_is_done_and_exits_with_the_signals_status(
    photos, tmp_path, color_model, capsys, monkeypatch, interrupt, code
):
    detect = MaskDetector.detect
    seen = []

    def detect_then_stop(self, image):
        seen.append(image)
        if len(seen) == 2:
            raise interrupt
        return detect(self, image)

    monkeypatch.setattr(MaskDetector, "detect", detect_then_stop)
    out = tmp_path / "out"
    assert image_main(["--image", str(photos), "-o", str(out), "-m", str(color_model)]) == code
    captured = capsys.readouterr()
    assert captured.out.startswith("1 images, faces: Mask 0, No Mask 1, Incorrect Mask 0;")
    assert captured.err.rstrip().endswith("interrupted")
    assert [r["label"] for r in read_rows(out / "faces.csv")] == ["without_mask"]
    assert sorted(p.name for p in out.iterdir()) == ["bare.png", "faces.csv"]
