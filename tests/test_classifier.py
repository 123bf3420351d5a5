import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLASS_COLORS, save_color_model, scene

from facemask import CLASSES, MaskDetector
from facemask.classifier import load_classifier, prepare_crops
from facemask.cli import video_main
from facemask.errors import FacemaskError, ModelError
from facemask.faces import SSDFaceFinder, load_face_finder
from facemask.train.model import export_tflite


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


def test_an_average_of_models_saves_and_exports_as_one_model(tmp_path, color_model):
    from facemask.train.model import average_models

    other = save_color_model(tmp_path / "other.h5", ["incorrect_mask", "with_mask", "without_mask"])
    members = [load_classifier(path, "keras") for path in (color_model, other)]
    average = tmp_path / "average.h5"
    average_models([m.model for m in members]).save(average)
    (tmp_path / "average.json").write_text(json.dumps({"classes": list(CLASSES)}))
    crops = crops_of_each_class()
    first, second = (m.model.predict(prepare_crops(crops), verbose=0) for m in members)
    assert np.abs(first - second).max() > 0.5
    keras_probs = load_classifier(average, "keras").classify(crops)
    np.testing.assert_allclose(keras_probs, (first + second) / 2, atol=1e-5)
    twin = export_tflite(load_classifier(average, "keras").model, tmp_path / "average.tflite")
    np.testing.assert_allclose(load_classifier(twin).classify(crops), keras_probs, atol=1e-4)


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


def save_odd_model(path, input_shape: tuple, outputs: tuple = (3,)):
    """A valid model that does not take 224x224 RGB crops, or does not give one row of probabilities per crop."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(int(np.prod(outputs)), activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, keras.layers.Reshape(outputs)(x) if len(outputs) > 1 else x)
    model.save(path)
    path.with_suffix(".json").write_text(json.dumps({"classes": list(CLASSES)}))
    return model


@pytest.mark.parametrize(
    ("input_shape", "outputs", "message"),
    [
        ((128, 128, 3), (3,), "takes inputs of shape (None, 128, 128, 3), not 224x224 RGB images"),
        ((224, 224, 1), (3,), "takes inputs of shape (None, 224, 224, 1), not 224x224 RGB images"),
        ((224, 224, 3), (1, 3), "gives outputs of shape (None, 1, 3), not one probability per class"),
    ],
)
def test_a_model_of_another_shape_is_refused_when_loaded(tmp_path, input_shape, outputs, message):
    path = tmp_path / "odd.h5"
    save_odd_model(path, input_shape, outputs)
    with pytest.raises(ModelError) as e:
        load_classifier(path, "keras")
    assert str(e.value) == f"{path} {message} (batch, " + ("224, 224, 3)" if "inputs" in message else "classes)")


def test_a_tflite_model_of_another_input_size_is_refused_when_loaded(tmp_path):
    model = save_odd_model(tmp_path / "odd.h5", (128, 128, 3))
    twin = export_tflite(model, tmp_path / "odd.tflite")
    with pytest.raises(ModelError, match=r"takes inputs of shape \[-?1, 128, 128, 3\], not 224x224 RGB"):
        load_classifier(twin)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ([], "is not a JSON object: []"),
        (None, "is not a JSON object: null"),
        ("with_mask", 'is not a JSON object: "with_mask"'),
        ({"classes": 5}, '"classes" must be a list of class names, got 5'),
        ({"classes": []}, '"classes" must be a list of class names, got []'),
        ({"classes": ["with_mask", 3, "without_mask"]}, '"classes" must be a list of class names'),
        ({"classes": ["with_mask", "with_mask", "without_mask"]}, "names the class with_mask twice"),
        ({"classes": list(CLASSES), "input_size": [128, 128]}, '"input_size" is [128, 128], but faces are given'),
    ],
)
def test_a_model_card_of_the_wrong_shape_is_refused(tmp_path, color_model, card, message):
    path = tmp_path / "m.h5"
    path.write_bytes(color_model.read_bytes())
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError) as e:
        load_classifier(path, "keras")
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("odd", ["input size", "card"])
def test_the_video_script_refuses_an_odd_model_before_the_first_face(tmp_path, color_model, scene_video, capsys, odd):
    path = tmp_path / "m.h5"
    if odd == "input size":
        save_odd_model(path, (128, 128, 3))
    else:
        path.write_bytes(color_model.read_bytes())
        path.with_suffix(".json").write_text("[]")
    assert video_main(["--video", str(scene_video), "--no-display", "-m", str(path)]) == 1
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    expected = f"the model card {path.with_suffix('.json')} is not" if odd == "card" else f"{path} takes inputs"
    assert line.startswith(f"error: {expected}")
    assert "frames" not in out


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


SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# Faces in the CC0 sample photos whose label no one would argue with (samples/README.md: face-mask-voc, whose
# annotations agree), each given by a point inside its box and no other: a mask over nose and mouth, no mask
# at all, and a mask pulled down below the nose.
CLEAR_FACES = [
    ("photo1.jpg", (317, 168), "with_mask"),  # the young man in the middle, a black mask
    ("photo1.jpg", (76, 219), "incorrect_mask"),  # the man in the cap on the left, his nose out
    ("photo2.jpg", (313, 198), "without_mask"),  # the young man in the middle
    ("photo3.jpg", (316, 208), "incorrect_mask"),  # the man in glasses, his nose out
]


@pytest.mark.parametrize("backend", ["keras", "tflite"])
def test_the_shipped_model_labels_clear_faces_in_the_sample_photos_right(backend):
    detector = MaskDetector.load(backend=backend)
    for name, (x, y), label in CLEAR_FACES:
        image = cv2.imread(str(SAMPLES / name))
        (face,) = [f for f in detector.detect(image) if f.box[0] <= x < f.box[2] and f.box[1] <= y < f.box[3]]
        assert face.label == label, (name, face)
        assert face.probs[CLASSES.index(label)] > 0.5, (name, face)  # 0.98 or more when written
