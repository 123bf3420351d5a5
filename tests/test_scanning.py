"""The detection scale follows the smallest face asked for, and large frames are looked at in tiles."""

import itertools

import cv2
import numpy as np
import pytest
from conftest import GRACE_HOPPER

from facemask import MaskDetector
from facemask.classifier import load_classifier
from facemask.faces import YuNetFaceFinder
from facemask.pipeline import track_faces
from facemask.scanning import (
    COARSE_PIXELS,
    FRAME_PIXELS,
    RELIABLE_SIDE,
    TILE_SIDE,
    VIDEO_MIN_FACE,
    Coverage,
    detection_scale,
    plan_scan,
)
from facemask.tracking import Tracker
from facemask.types import UNSURE_BELOW

A = np.array([0.8, 0.1, 0.1])


def test_video_looks_for_the_least_face_the_classifier_can_label():
    assert VIDEO_MIN_FACE == UNSURE_BELOW


def test_the_detection_scale_puts_a_face_of_min_face_px_at_the_reliable_size():
    assert detection_scale(None, 3840, 2160) == detection_scale(0, 3840, 2160) == 1.0
    assert detection_scale(4 * RELIABLE_SIDE, 3840, 2160) == 0.25
    assert detection_scale(RELIABLE_SIDE / 2, 3840, 2160) == 1.0  # never larger than the frame


@pytest.mark.parametrize(("size", "min_face"), [((640, 480), 32), ((640, 480), 400), ((320, 240), 100)])
def test_a_frame_of_640x480_or_less_is_looked_at_in_full_whatever_min_face(size, min_face):
    assert detection_scale(min_face, *size) == 1.0
    assert detection_scale(400, 1280, 720) ** 2 * 1280 * 720 == pytest.approx(FRAME_PIXELS)


@pytest.mark.parametrize(("size", "min_face"), [((640, 480), 40), ((640, 480), None), ((1280, 720), 80)])
def test_a_frame_cheap_enough_at_the_fine_scale_is_looked_at_whole(size, min_face):
    plan = plan_scan(*size, min_face)
    assert plan.tiles == () and plan.coarse == detection_scale(min_face, *size)
    assert plan.coverage.smallest == 0  # it sees every face


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (3840, 2160)])
def test_large_frames_get_a_coarse_pass_and_fine_tiles_of_bounded_cost(size):
    width, height = size
    plan = plan_scan(width, height, 40)
    assert plan.coarse**2 * width * height == pytest.approx(COARSE_PIXELS)
    assert plan.tiles and max(t.scale for t in plan.tiles) == detection_scale(40, width, height)
    for tile in plan.tiles:
        x1, y1, x2, y2 = tile.region
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (x2 - x1) * tile.scale <= TILE_SIDE + 1 and (y2 - y1) * tile.scale <= TILE_SIDE + 1
    # The work per frame stays near FRAME_PIXELS whatever the frame's size.
    assert COARSE_PIXELS + TILE_SIDE**2 <= 1.01 * FRAME_PIXELS


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (3840, 2160), (1000, 3000)])
def test_every_face_of_min_face_px_or_more_lies_whole_in_a_pass_that_must_find_it(size):
    width, height = size
    plan = plan_scan(width, height, 40)
    rng = np.random.default_rng(0)
    for side in itertools.chain(rng.uniform(40, 600, 300), [40, plan.tiles[0].largest - 1]):
        x, y = rng.uniform(0, width - side), rng.uniform(0, height - side)
        box = (x, y, x + side, y + side)
        covering = [plan.coverage, *(t.coverage for t in plan.tiles)]
        assert any(c.sees(box) for c in covering), (box, side)


def test_a_coverage_sees_the_faces_wholly_inside_it_within_its_sizes():
    c = Coverage((100, 100, 300, 300), 20, 80)
    assert c.sees((110, 110, 150, 150))
    assert not c.sees((90, 110, 130, 150))  # reaches out of the region
    assert not c.sees((110, 110, 120, 120))  # smaller than it is sure to find
    assert not c.sees((110, 110, 200, 200))  # larger than it keeps


def test_a_box_touching_a_tiles_inner_edge_is_cut_but_one_at_the_frames_edge_is_not():
    plan = plan_scan(3840, 2160, 40)
    corner = plan.tiles[0]  # starts at the frame's top left corner
    right, bottom = corner.region[2:]
    assert not corner.cuts((0, 0, 50, 50), 3840, 2160)  # on the frame's own edges
    assert not corner.cuts((10, 10, 60, 60), 3840, 2160)
    assert corner.cuts((right - 40, 10, right, 50), 3840, 2160)
    assert corner.cuts((10, bottom - 40, 50, bottom - 1), 3840, 2160)


def frame_with_small_faces(size: tuple[int, int], face_side: int, at: tuple[int, int]) -> np.ndarray:
    """A plain frame with Grace Hopper's portrait shrunk so that her face is about `face_side` px tall."""
    photo = cv2.imread(str(GRACE_HOPPER))  # her face is about 230 px tall in the 512x600 photo
    k = face_side / 230
    small = cv2.resize(photo, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    x, y = at
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def test_a_face_of_min_face_px_in_a_4k_frame_is_found_and_cropped_at_full_resolution(color_model):
    frame = frame_with_small_faces((3840, 2160), 48, (2900, 1500))
    classifier = load_classifier(color_model, "keras")
    seen = []
    classify = classifier.classify
    classifier.classify = lambda crops: seen.extend(c.shape for c in crops) or classify(crops)
    detector = MaskDetector(YuNetFaceFinder(min_face=40), classifier)
    (face,) = detector.detect(frame)
    x1, y1, x2, y2 = face.box
    assert 2900 < x1 < x2 < 2900 + 120 and 1500 < y1 < y2 < 1500 + 140
    assert seen == [(y2 - y1, x2 - x1, 3)]  # the crop is the frame's own pixels, not the detector's reduced copy


def test_min_face_looks_at_a_large_frame_more_coarsely_and_still_finds_its_faces():
    frame = frame_with_small_faces((1920, 1080), 100, (600, 300))
    full, coarse = YuNetFaceFinder(), YuNetFaceFinder(min_face=80)
    sizes = []
    for finder in (full, coarse):
        detect = finder._detect
        finder._detect = lambda image, detect=detect: sizes.append(image.shape[:2]) or detect(image)
        (box, _), = finder.find(frame)
        assert 600 < box[0] < 700
    finest = round(1080 * detection_scale(80, 1920, 1080))
    assert sizes[0] == (1080, 1920) and max(s[0] for s in sizes[len(sizes) // 2 :]) == finest < 1080 / 2


def test_the_fine_tiles_find_a_small_face_the_coarse_pass_cannot_and_the_tracker_keeps_it(color_model):
    frame = frame_with_small_faces((1920, 1080), 44, (1400, 700))
    finder = YuNetFaceFinder(min_face=40)
    plan = plan_scan(1920, 1080, 40)
    assert RELIABLE_SIDE / plan.coarse > 80  # the coarse pass is not sure to find faces under 80 px...
    assert finder._merge(finder._passes(frame, [plan.coarse]), 1920, 1080) == []  # ...and misses this one
    detector = MaskDetector(finder, load_classifier(color_model, "keras"))
    frames = (frame for _ in range(len(plan.tiles) + 20))
    counts = [len(faces) for _, faces in track_faces(detector, frames, Tracker())]
    first = counts.index(1)  # found once its tile's turn came
    assert 0 < first < len(plan.tiles)
    assert counts[first:] == [1] * (len(counts) - first)  # and kept while the coarse pass goes on missing it


def test_a_followed_face_no_pass_could_see_is_not_missed():
    tracker = Tracker(max_misses=0)
    tracker.update([((1000, 500, 1040, 540), 0.9)], A[None])
    elsewhere = [Coverage((0, 0, 1920, 1080), smallest=100), Coverage((0, 0, 400, 400))]
    tracker.update([], np.zeros((0, 3)), elsewhere)
    assert len(tracker.visible()) == 1
    tracker.update([], np.zeros((0, 3)), [Coverage((900, 400, 1300, 800))])
    assert tracker.visible() == [] and len(tracker.ended) == 1


def test_a_face_only_tiles_missed_stays_in_view_until_it_ends():
    tracker = Tracker(max_misses=2)
    tracker.update([((1000, 500, 1040, 540), 0.9)], A[None])
    tile = Coverage((900, 400, 1300, 800), every_time=False)
    for _ in range(2):  # a tile comes again only a cycle later: no flicker for whole cycles
        tracker.update([], np.zeros((0, 3)), [tile])
        assert len(tracker.visible()) == 1
    tracker.update([], np.zeros((0, 3)), [tile])
    assert tracker.visible() == [] and len(tracker.ended) == 1
    tracker.update([((1000, 500, 1040, 540), 0.9)], A[None], [tile])
    tracker.update([], np.zeros((0, 3)), [Coverage((0, 0, 1920, 1080))])  # a pass that comes every time
    assert tracker.visible() == [] and len(tracker.tracks) == 1
    tracker.update([], np.zeros((0, 3)), [tile])
    assert tracker.visible() == []  # out of view until found again


def test_the_tile_cycle_at_4k_is_bounded():
    """The fine tiles of a 4K frame at the video default come round within a few seconds at 30 FPS."""
    tiles = len(plan_scan(3840, 2160, VIDEO_MIN_FACE).tiles)
    whole = 3840 * 2160 * detection_scale(VIDEO_MIN_FACE, 3840, 2160) ** 2 / (FRAME_PIXELS / 2)
    assert whole < tiles < 3 * whole


def test_only_faces_waiting_for_their_tile_need_the_optical_flow():
    tracker = Tracker()
    coverage = [Coverage((0, 0, 1920, 1080), smallest=88), Coverage((0, 0, 400, 400), every_time=False)]
    tracker.update([((500, 500, 700, 700), 0.9)], A[None])
    assert not tracker.waiting(coverage)  # the pass over the whole frame finds it every frame
    tracker.update([((500, 500, 700, 700), 0.9), ((100, 100, 140, 140), 0.9)], np.stack([A, A]))
    assert tracker.waiting(coverage)


def test_a_small_face_leaving_a_large_frame_is_missed_by_the_tiles_and_ends():
    plan = plan_scan(1920, 1080, 32)
    tracker = Tracker(max_misses=2)
    tracker.update([((1890, 500, 1930, 540), 0.9)], A[None])  # its box reaches past the right edge
    for i in range(3 * len(plan.tiles)):
        tracker.update([], np.zeros((0, 3)), [plan.coverage, plan.tiles[i % len(plan.tiles)].coverage])
    assert tracker.tracks == [] and len(tracker.ended) == 1
