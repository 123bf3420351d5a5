import json

import numpy as np
import pytest
from conftest import CLASS_COLORS, save_color_model, scene

from facemask import CLASSES, MaskDetector
from facemask.classifier import load_classifier
from facemask.errors import FacemaskError, ModelError
from facemask.faces import SSDFaceFinder, load_face_finder
from facemask.model import export_tflite


def crops_of_each_class():
    return [np.full((60, 50, 3), CLASS_COLORS[c], np.uint8) for c in CLASSES]


def test_outputs_follow_classes_order(color_model):
    probs = load_classifier(color_model, "keras").classify(crops_of_each_class())
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert list(probs.argmax(axis=1)) == [0, 1, 2]


def test_a_model_trained_on_other_folder_names_and_order_labels_faces_right(tmp_path):
    path = save_color_model(tmp_path / "other.h5", ["mask_weared_incorrect", "with_mask", "without_mask"])
    probs = load_classifier(path, "keras").classify(crops_of_each_class())
    assert list(probs.argmax(axis=1)) == [0, 1, 2]


def test_the_original_two_class_model_never_says_incorrect(tmp_path):
    path = save_color_model(tmp_path / "legacy.h5", ["with_mask", "without_mask"])
    path.with_suffix(".json").unlink()
    probs = load_classifier(path).classify(crops_of_each_class())
    assert list(probs.argmax(axis=1)[:2]) == [0, 1]
    assert np.all(probs[:, 2] == 0)


def test_tflite_twin_matches_keras(color_model, tmp_path):
    twin = export_tflite(load_classifier(color_model, "keras").model, tmp_path / "color.tflite")
    (tmp_path / "color.json").write_text(json.dumps({"classes": list(CLASSES)}))
    crops = [*crops_of_each_class(), scene()[100:300, 200:380]]
    keras_probs = load_classifier(color_model, "keras").classify(crops)
    tflite = load_classifier(twin)
    assert tflite.backend == "tflite"
    np.testing.assert_allclose(tflite.classify(crops), keras_probs, atol=1e-4)
    np.testing.assert_allclose(tflite.classify(crops[:1]), keras_probs[:1], atol=1e-4)


def test_missing_and_corrupt_models_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_classifier(tmp_path / "nothing.h5")
    (tmp_path / "bad.h5").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load"):
        load_classifier(tmp_path / "bad.h5")
    (tmp_path / "bad.tflite").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load"):
        load_classifier(tmp_path / "bad.tflite")


def test_a_card_naming_unknown_classes_is_refused(tmp_path):
    path = save_color_model(tmp_path / "odd.h5", list(CLASSES))
    path.with_suffix(".json").write_text(json.dumps({"classes": ["cat", "dog", "bird"]}))
    with pytest.raises(ModelError, match="cat"):
        load_classifier(path, "keras")


@pytest.fixture(scope="module", params=["yunet", "ssd"])
def detector(color_model, request):
    return MaskDetector(load_face_finder(request.param), load_classifier(color_model, "keras"))


def test_detect_finds_and_labels_the_face(detector):
    faces = detector.detect(scene())
    assert len(faces) == 1
    face = faces[0]
    assert face.label in CLASSES and face.label == CLASSES[int(np.argmax(face.probs))]
    assert face.confidence == pytest.approx(float(face.probs.max()))
    assert face.probs.sum() == pytest.approx(1, abs=1e-5)


def test_detect_accepts_gray_and_bgra_frames(detector):
    gray = scene()[:, :, 1]
    bgra = np.dstack([scene(), np.full((480, 640), 255, np.uint8)])
    assert len(detector.detect(gray)) == 1
    assert len(detector.detect(bgra)) == 1
    with pytest.raises(FacemaskError):
        detector.detect(np.zeros((0, 0, 3), np.uint8))


def test_classify_gives_nan_rows_for_unusable_crops(detector):
    crops = [np.zeros((0, 0, 3), np.uint8), crops_of_each_class()[1], np.zeros((1, 9, 3), np.uint8)]
    probs = detector.classify(crops)
    assert np.isnan(probs[0]).all() and np.isnan(probs[2]).all()
    assert int(np.argmax(probs[1])) == 1
    assert detector.classify([]).shape == (0, 3)


def test_shipped_tflite_twin_matches_the_shipped_keras_model_on_real_crops():
    from facemask.classifier import DEFAULT_MODEL

    frame = scene()
    (box, _), = SSDFaceFinder().find(frame)
    x1, y1, x2, y2 = box
    crops = [frame[y1:y2, x1:x2], frame[y1 + 20 : y2, x1:x2 - 10], frame[y1:y2, x1:x2][:, ::-1], frame[:240, :320]]
    keras_probs = load_classifier(DEFAULT_MODEL, "keras").classify(crops)
    tflite_probs = load_classifier(DEFAULT_MODEL, "tflite").classify(crops)
    assert len(set(np.round(keras_probs[:, 0], 3))) > 1  # a trained model: outputs differ between crops
    np.testing.assert_allclose(tflite_probs, keras_probs, atol=1e-4)
