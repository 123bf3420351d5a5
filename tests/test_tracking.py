import numpy as np
import pytest
from conftest import FACE_IN_SCENE, scene

from facemask import MaskDetector
from facemask.classifier import load_classifier
from facemask.faces import load_face_finder
from facemask.pipeline import track_faces
from facemask.tracking import Tracker, iou
from facemask.types import Summary

A, B = np.array([0.8, 0.1, 0.1]), np.array([0.1, 0.2, 0.7])


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0


def test_ids_follow_faces_and_end_when_they_leave():
    tracker = Tracker(max_misses=1)
    tracker.update([((10, 10, 50, 50), 0.9)], A[None])
    first = tracker.tracks[0].id
    tracker.update([((14, 12, 54, 52), 0.9), ((200, 10, 240, 50), 0.8)], np.stack([A, B]))
    assert [t.id for t in tracker.tracks] == [first, first + 1]
    tracker.update([((200, 10, 240, 50), 0.8)], B[None])
    assert [t.id for t in tracker.visible()] == [first + 1]
    tracker.update([((200, 10, 240, 50), 0.8)], B[None])
    assert [t.id for t in tracker.ended] == [first]
    assert tracker.ended[0].labels == ["with_mask", "with_mask"]


def test_one_ambiguous_frame_does_not_flip_a_smoothed_label():
    tracker = Tracker(smooth=5)
    labels = []
    for probs in (A, A, B, A, A):
        tracker.update([((10, 10, 50, 50), 0.9)], probs[None])
        labels.append(tracker.tracks[0].label)
    assert labels == ["with_mask"] * 5
    unsmoothed = Tracker(smooth=1)
    for probs in (A, B):
        unsmoothed.update([((10, 10, 50, 50), 0.9)], probs[None])
    assert unsmoothed.tracks[0].label == "incorrect_mask"


def test_boxes_glide_towards_new_detections_instead_of_jumping():
    tracker = Tracker(box_alpha=0.5)
    tracker.update([((10, 10, 50, 50), 0.9)], A[None])
    tracker.update([((20, 10, 60, 50), 0.9)], A[None])
    np.testing.assert_allclose(tracker.tracks[0].box, [15, 10, 55, 50])


def test_optical_flow_moves_boxes_with_the_face():
    frame = scene()
    moved = np.roll(frame, (6, 10), axis=(0, 1))  # 10 px right, 6 px down
    tracker = Tracker()
    tracker.follow(frame)
    tracker.update([(FACE_IN_SCENE, 0.9)], A[None])
    tracker.follow(moved)
    np.testing.assert_allclose(tracker.tracks[0].box, np.add(FACE_IN_SCENE, [10, 6, 10, 6]), atol=2)


@pytest.mark.parametrize("face_detector", ["yunet", "ssd"])
def test_faces_are_followed_between_detections(color_model, face_detector):
    detector = MaskDetector(load_face_finder(face_detector), load_classifier(color_model, "keras"))
    (first, _), = detector.finder.find(scene())
    shifts = [(0, 4 * i) for i in range(9)]
    frames = [np.roll(scene(), s, axis=(0, 1)) for s in shifts]
    summary = Summary()
    results = list(track_faces(detector, frames, Tracker(), detect_every=3, summary=summary))
    assert len(results) == 9
    for (dy, dx), (_, faces) in zip(shifts, results, strict=True):
        assert len(faces) == 1
        expected = np.add(first, [dx, dy, dx, dy])
        assert np.abs(np.array(faces[0].box) - expected).max() <= 6
    assert len({faces[0].track_id for _, faces in results}) == 1
    assert summary.stage_seconds["detect"] > 0 and summary.stage_seconds["classify"] > 0


def test_confident_faces_are_reclassified_every_nth_detection_only():
    tracker = Tracker(smooth=3, reclassify_every=3)
    box = [((10, 10, 50, 50), 0.9)]
    new = [((200, 10, 240, 50), 0.9)]
    asked = []
    for _ in range(5):
        asked.append(tracker.needs_classifying(box)[0])
        tracker.update(box, A[None] if asked[-1] else np.full((1, 3), np.nan))
    assert asked == [True, False, False, True, False]
    assert tracker.needs_classifying(box + new) == [False, True]
    assert tracker.tracks[0].labels == ["with_mask"] * 5 and len(tracker.tracks[0].history) == 2


def test_uncertain_faces_are_classified_at_every_detection():
    tracker = Tracker(smooth=3, reclassify_every=3)
    unsure = np.array([0.5, 0.3, 0.2])
    box = [((10, 10, 50, 50), 0.9)]
    for _ in range(4):
        assert tracker.needs_classifying(box) == [True]
        tracker.update(box, unsure[None])
