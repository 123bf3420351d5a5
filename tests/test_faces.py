import shutil

import numpy as np
import pytest
from conftest import FACE_IN_SCENE, scene

from facemask.faces import FaceDetectorError, FaceFinder, clamp_box, find_face_detector


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10, 20, 50, 60), (10, 20, 50, 60)),
        ((-15.4, -3, 40, 30), (0, 0, 40, 30)),
        ((90, 80, 130, 140), (90, 80, 100, 100)),
        ((120, 10, 160, 50), None),  # wholly beyond the right edge
        ((10, 105, 50, 150), None),  # wholly below the bottom
        ((95, 10, 140, 50), None),  # a 5-pixel sliver is left
        ((30, 30, 30, 60), None),
    ],
)
def test_clamp_box(box, expected):
    assert clamp_box(box, 100, 100) == expected


@pytest.fixture(scope="module")
def finder():
    return FaceFinder()


def test_finds_the_face_in_a_real_photo(finder):
    faces = finder.find(scene())
    assert len(faces) == 1
    box, score = faces[0]
    assert score > 0.9
    assert np.abs(np.array(box) - FACE_IN_SCENE).max() <= 4


def test_finds_nothing_in_blank_or_tiny_frames(finder):
    assert finder.find(np.zeros((480, 640, 3), np.uint8)) == []
    assert finder.find(np.zeros((3, 3, 3), np.uint8)) == []


def test_boxes_stay_inside_the_frame_when_the_face_is_cut(finder):
    frame = scene()[:, 290:]  # half of the face beyond the left edge
    for (x1, y1, x2, y2), _ in finder.find(frame):
        assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]


def test_missing_face_detector_is_a_clear_error(tmp_path):
    with pytest.raises(FaceDetectorError, match="not found"):
        find_face_detector(tmp_path)


def test_a_wrong_caffemodel_is_refused(tmp_path):
    proto, _ = find_face_detector()
    shutil.copy(proto, tmp_path / "deploy.prototxt")
    (tmp_path / "res10_300x300_ssd_iter_140000.caffemodel").write_bytes(b"not the model")
    with pytest.raises(FaceDetectorError, match="sha256"):
        find_face_detector(tmp_path)
