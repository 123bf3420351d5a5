import shutil

import cv2
import numpy as np
import pytest
from conftest import FACE_IN_SCENE, GRACE_HOPPER, scene

from facemask import faces
from facemask.faces import (
    DEFAULT_DIR,
    YUNET,
    YUNET_SHA256,
    FaceDetectorError,
    SSDFaceFinder,
    YuNetFaceFinder,
    clamp_box,
    find_face_detector,
    load_face_finder,
    yunet_scales,
)
from facemask.files import sha256


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


@pytest.fixture(scope="module", params=["yunet", "ssd"])
def finder(request):
    return load_face_finder(request.param)


def test_finds_the_face_in_a_real_photo(finder):
    faces_found = finder.find(scene())
    assert len(faces_found) == 1
    box, score = faces_found[0]
    assert score > 0.9
    # Both detectors frame the face as the SSD does: within a few pixels of its box.
    assert np.abs(np.array(box) - FACE_IN_SCENE).max() <= (4 if finder.name == "ssd" else 10)


def test_finds_nothing_in_blank_or_tiny_frames(finder):
    assert finder.find(np.zeros((480, 640, 3), np.uint8)) == []
    assert finder.find(np.zeros((3, 3, 3), np.uint8)) == []


def test_boxes_stay_inside_the_frame_when_the_face_is_cut(finder):
    # The face cut by the left, top and right edges: its box would reach beyond them.
    for frame, edge in ((scene()[:, 260:], 0), (scene()[130:], 1), (scene()[:, :330], 2)):
        (box, _), = finder.find(frame)
        x1, y1, x2, y2 = box
        assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]
        assert box[edge] == (frame.shape[1] if edge == 2 else 0)


def faces_of_several_sizes() -> tuple[np.ndarray, list[int]]:
    """A 1280x720 frame with Grace Hopper's portrait pasted at four sizes: faces of about 16, 24, 47 and 95 px."""
    photo = cv2.imread(str(GRACE_HOPPER))
    frame = np.full((720, 1280, 3), 90, np.uint8)
    x, sizes = 20, []
    for height in (40, 64, 120, 240):
        tile = cv2.resize(photo, (round(height * photo.shape[1] / photo.shape[0]), height),
                          interpolation=cv2.INTER_AREA)
        frame[300 : 300 + height, x : x + tile.shape[1]] = tile
        x += tile.shape[1] + 40
        sizes.append(height)
    return frame, sizes


def test_yunet_finds_small_faces_the_ssd_misses():
    frame, sizes = faces_of_several_sizes()
    yunet = load_face_finder("yunet").find(frame)
    ssd = load_face_finder("ssd").find(frame)
    assert len(yunet) == len(sizes)
    assert min(y2 - y1 for (_, y1, _, y2), _ in yunet) < 20
    assert len(ssd) < len(sizes)


def close_up(face_height: int) -> np.ndarray:
    """A 1920x1080 frame filled by one face about `face_height` px tall, as a webcam sees a face close to it."""
    photo = cv2.imread(str(GRACE_HOPPER))
    k = face_height / 230  # the face is about 230 px tall in the 512x600 photo, centred near (265, 223)
    big = cv2.resize(photo, None, fx=k, fy=k)
    cx, cy = round(265 * k), round(223 * k)
    part = big[max(0, cy - 540) : cy + 540, max(0, cx - 960) : cx + 960]
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[: part.shape[0], : part.shape[1]] = part
    return frame


def test_a_face_filling_a_1080p_frame_is_found_by_the_downscaled_pass(monkeypatch):
    frame = close_up(900)
    finder = YuNetFaceFinder()
    (box, score), = finder.find(frame)
    assert box[3] - box[1] > 800 and score > 0.9
    monkeypatch.setattr(faces, "yunet_scales", lambda w, h, finest: [finest])  # the frame's own size only
    assert all(s < 0.9 for _, s in finder.find(frame))


@pytest.mark.parametrize(("size", "expected"), [
    ((640, 480), [1.0, 1 / 3]),
    ((1280, 720), [1.0, 160 / 720]),
    ((300, 200), [1.0]),
    ((4000, 3000), [1.0, 1 / 8, 160 / 3000]),
])
def test_yunet_scales_reach_faces_as_large_as_the_frame(size, expected):
    assert yunet_scales(*size) == pytest.approx(expected)


@pytest.mark.parametrize(("frame_size", "face_height"), [((640, 480), 450), ((1920, 1080), 600)])
def test_faces_of_any_size_up_to_the_whole_frame_are_found(frame_size, face_height):
    frame = close_up(face_height)
    frame = cv2.resize(frame, frame_size) if frame_size != (1920, 1080) else frame
    (box, score), = YuNetFaceFinder().find(frame)
    expected = face_height * frame_size[1] / 1080
    assert score > 0.9 and abs((box[3] - box[1]) / expected - 1) < 0.15


def test_the_shipped_yunet_model_is_the_official_file():
    assert sha256(DEFAULT_DIR / YUNET) == YUNET_SHA256
    assert (DEFAULT_DIR / "LICENSE-yunet").read_text().startswith("MIT License")


def test_face_detector_choices(tmp_path):
    assert isinstance(load_face_finder(), YuNetFaceFinder)
    assert isinstance(load_face_finder("ssd"), SSDFaceFinder)
    assert load_face_finder("ssd").confidence == 0.5 and load_face_finder().confidence == 0.6
    assert load_face_finder("ssd", 0.8).confidence == 0.8
    shutil.copy(DEFAULT_DIR / YUNET, tmp_path / YUNET)
    assert isinstance(load_face_finder(tmp_path), YuNetFaceFinder)  # a folder holding the YuNet model
    assert isinstance(load_face_finder(tmp_path / YUNET), YuNetFaceFinder)
    _, model = find_face_detector()
    assert isinstance(load_face_finder(model), SSDFaceFinder)  # an SSD .caffemodel beside its prototxt
    with pytest.raises(FaceDetectorError, match="not a face detector"):
        load_face_finder(tmp_path / "notes.txt")


def test_a_damaged_yunet_model_is_a_clear_error(tmp_path):
    (tmp_path / YUNET).write_bytes(b"not the model")
    with pytest.raises(FaceDetectorError, match="sha256"):
        YuNetFaceFinder(tmp_path / YUNET)
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not an onnx model")
    with pytest.raises(FaceDetectorError, match="not a YuNet ONNX model"):
        YuNetFaceFinder(other)
    with pytest.raises(FaceDetectorError, match="not found"):
        YuNetFaceFinder(tmp_path / "missing.onnx")


def test_missing_face_detector_is_a_clear_error(tmp_path):
    with pytest.raises(FaceDetectorError, match="not found"):
        find_face_detector(tmp_path)


def test_a_wrong_caffemodel_is_refused(tmp_path):
    proto, _ = find_face_detector()
    shutil.copy(proto, tmp_path / "deploy.prototxt")
    (tmp_path / "res10_300x300_ssd_iter_140000.caffemodel").write_bytes(b"not the model")
    with pytest.raises(FaceDetectorError, match="sha256"):
        find_face_detector(tmp_path)


def test_yunet_rows_that_are_not_numbers_are_dropped(monkeypatch):
    finder = YuNetFaceFinder()
    rows = np.array([[np.nan, 2, 30, 30, *[0] * 10, 0.9], [10, 10, 40, 40, *[0] * 10, 0.95]], np.float32)
    monkeypatch.setattr(finder, "_detect", lambda image: rows)
    (box, score), = finder.find(np.zeros((100, 100, 3), np.uint8))
    assert score == pytest.approx(0.95) and box[0] < 10 < box[2]
