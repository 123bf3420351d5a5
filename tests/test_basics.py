import cv2
import numpy as np
import pytest

from facemask.files import atomic_path, write_json
from facemask.images import read_image, to_bgr8
from facemask.labels import CLASSES, canonical_label


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("mask_weared_incorrect", "incorrect_mask"),
        ("with_incorrect_mask", "incorrect_mask"),
        ("Mask-Incorrect", "incorrect_mask"),
        ("incorrect_mask", "incorrect_mask"),
        ("with_mask", "with_mask"),
        ("without_mask", "without_mask"),
        ("no_mask", "without_mask"),
        ("hat", None),
    ],
)
def test_canonical_label(name, label):
    assert canonical_label(name) == label


def test_classes_order_is_fixed():
    assert CLASSES == ("with_mask", "without_mask", "incorrect_mask")


@pytest.mark.parametrize(
    "image",
    [
        np.full((5, 7), 128, np.uint8),
        np.full((5, 7, 1), 128, np.uint8),
        np.full((5, 7, 4), 128, np.uint8),
        np.full((5, 7, 3), 128 * 256, np.uint16),
        np.full((5, 7, 3), 128 / 255, np.float32),
        np.full((7, 5, 3), 128, np.uint8).transpose(1, 0, 2),
    ],
)
def test_to_bgr8_converts_every_layout(image):
    out = to_bgr8(image)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert abs(int(out[2, 3, 0]) - 128) <= 1


@pytest.mark.parametrize("image", [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros(5)])
def test_to_bgr8_rejects_non_images(image):
    assert to_bgr8(image) is None


def test_read_image_handles_bad_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    good = np.zeros((10, 12), np.uint16) + 1000
    cv2.imwrite(str(tmp_path / "deep.png"), good)
    assert read_image(tmp_path / "empty.jpg") is None
    assert read_image(tmp_path / "text.jpg") is None
    assert read_image(tmp_path / "missing.jpg") is None
    assert read_image(tmp_path / "deep.png").shape == (10, 12, 3)


def test_atomic_path_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.h5"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".h5" and tmp.parent == target.parent
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")
