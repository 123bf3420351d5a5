"""Bad frames and bad files: each gives a result or one clear error, and nothing brings the process down."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import scene

from facemask.errors import FacemaskError, ImageError
from facemask.faces import crop_box
from facemask.images import load_image, read_image

ROOT = Path(__file__).resolve().parent.parent


def test_a_thousand_bad_inputs_crash_nothing(color_model, tmp_path):
    """In a process of its own, so that a segfault fails this test instead of ending the test run."""
    result = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz_inputs", str(color_model), str(result)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    last = proc.stderr.strip().splitlines()[-3:]
    assert proc.returncode == 0, f"the fuzz process died (status {proc.returncode}) after: {last}"
    report = json.loads(result.read_text())
    assert report["failures"] == []
    assert report["cases"] >= 1000
    assert report["results"] > 1000 and report["errors"] > 200  # both outcomes are exercised


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"not an image\n", "not an image"),
        ("half.jpg", cv2.imencode(".jpg", scene())[1].tobytes()[:20000], "truncated"),
        ("half.png", cv2.imencode(".png", scene())[1].tobytes()[:20000], "truncated"),
    ],
)
def test_load_image_says_why_a_file_is_unreadable(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError, match=reason) as e:
        load_image(path)
    assert str(path) in str(e.value) and isinstance(e.value, FacemaskError)
    assert read_image(path) is None


def test_folders_links_and_missing_files_are_unreadable_images(tmp_path):
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "link.jpg").symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(ImageError, match="a folder"):
        load_image(tmp_path / "folder.jpg")
    for name in ("link.jpg", "missing.jpg"):
        with pytest.raises(ImageError, match="No such file"):
            load_image(tmp_path / name)
    assert read_image(tmp_path / "folder.jpg") is None


def test_crop_clips_boxes_crossing_the_borders():
    frame = np.zeros((100, 200, 3), np.uint8)
    assert crop_box(frame, (-5, 10, 40, 60)).shape == (50, 40, 3)  # not frame[10:60, -5:40], which is empty
    assert crop_box(frame, (150, -20, 260, 30)).shape == (30, 50, 3)
    assert crop_box(frame, (-40, -40, -5, -5)).size == 0
    assert crop_box(frame, (0, 0, 200, 100)).shape == (100, 200, 3)
