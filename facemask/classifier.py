"""Load a trained mask classifier (.h5, .keras or .tflite) and classify batches of face crops."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelError, require, warn
from .files import shipped
from .labels import CLASSES, canonical_label

INPUT_SIZE = 224
DEFAULT_MODEL = shipped("models") / "mask_detector.h5"
# The original project's 2-class model has no model card; its outputs were in this order.
LEGACY_CLASSES = {2: ("with_mask", "without_mask"), 3: CLASSES}


def card_path(model_path: str | Path) -> Path:
    """The model card beside a model: class names in output order, and how it was trained.

    One card serves a model's .h5, .keras and .tflite forms alike.
    """
    return Path(model_path).with_suffix(".json")


def read_card(model_path: str | Path) -> dict:
    """The model card as a dict; {} when there is none. A ModelError when it is not a card: a card of the
    wrong shape would otherwise fail later, at the first face, with a traceback."""
    path = card_path(model_path)
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: lists nested thousands deep
        raise ModelError(f"cannot read the model card {path}: {e}") from e
    _check_card(card, path)
    return card


def _check_card(card: object, path: Path) -> None:
    if not isinstance(card, dict):
        raise ModelError(f"the model card {path} is not a JSON object: {json.dumps(card)[:80]}")
    classes = card.get("classes")
    if classes is not None and not (
        isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
    ):
        raise ModelError(f"the model card {path}: \"classes\" must be a list of class names, "
                         f"got {json.dumps(classes)[:80]}")
    size = card.get("input_size")
    if size is not None and size != [INPUT_SIZE, INPUT_SIZE]:
        raise ModelError(f"the model card {path}: \"input_size\" is {json.dumps(size)[:80]}, "
                         f"but faces are given as {INPUT_SIZE}x{INPUT_SIZE}")


def _shape(value) -> tuple | None:
    """A tensor shape as a tuple, None and -1 for any size; None when it is not one shape (several inputs)."""
    if isinstance(value, list | tuple) and len(value) == 1 and isinstance(value[0], list | tuple):
        value = value[0]  # a model built with a list of one input
    try:
        dims = tuple(None if d is None else int(d) for d in value)
    except (TypeError, ValueError):
        return None
    return dims


def check_shapes(path: Path, input_shape, output_shape) -> int:
    """The number of classes; a ModelError when the model does not take batches of 224x224 RGB crops and give
    one row of class probabilities for each: such a model loads, then fails at the first face."""
    expected = (INPUT_SIZE, INPUT_SIZE, 3)
    inputs, outputs = _shape(input_shape), _shape(output_shape)
    if inputs is None or len(inputs) != 4 or any(d not in (None, -1, e) for d, e in zip(inputs[1:], expected,
                                                                                      strict=True)):
        raise ModelError(f"{path} takes inputs of shape {input_shape}, not {INPUT_SIZE}x{INPUT_SIZE} RGB images "
                         f"(batch, {INPUT_SIZE}, {INPUT_SIZE}, 3)")
    if outputs is None or len(outputs) != 2 or outputs[1] is None or outputs[1] < 1:
        raise ModelError(f"{path} gives outputs of shape {output_shape}, not one probability per class "
                         "(batch, classes)")
    return outputs[1]


def model_input(crop: np.ndarray) -> np.ndarray:
    """A BGR face crop of any size as the model sees it: 224x224 RGB uint8.

    Training and run time both go through here, so the model learns from the pixels it will be shown: almost
    every face crop is enlarged, and OpenCV's INTER_AREA enlarges blockily where INTER_LINEAR is smooth."""
    h, w = crop.shape[:2]
    interpolation = cv2.INTER_AREA if min(h, w) > INPUT_SIZE else cv2.INTER_LINEAR
    return cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=interpolation)[:, :, ::-1]


def prepare_crops(crops: list[np.ndarray]) -> np.ndarray:
    """BGR face crops of any size → (N, 224, 224, 3) float32 RGB in 0..255 (the model rescales itself)."""
    batch = np.empty((len(crops), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    for i, crop in enumerate(crops):
        batch[i] = model_input(crop)
    return batch


def _output_order(names: list[str], model_path: Path) -> np.ndarray:
    """Index into CLASSES for each model output, so any folder names or order label faces right."""
    order = []
    for name in names:
        label = canonical_label(name)
        if label is None:
            raise ModelError(f"{model_path}: class {name!r} in its model card is not one of {CLASSES}")
        if CLASSES.index(label) in order:
            raise ModelError(f"{model_path}: its model card names the class {label} twice: {names}")
        order.append(CLASSES.index(label))
    return np.array(order)


class Classifier:
    """A mask classifier: crops in, (N, 3) probabilities in CLASSES order out."""

    backend = "none"

    def __init__(self, path: Path, num_outputs: int):
        self.path = path
        self.card = read_card(path)
        names = self.card.get("classes") or LEGACY_CLASSES.get(num_outputs)
        if not names or len(names) != num_outputs:
            raise ModelError(f"{path} has {num_outputs} outputs but its model card names {names}")
        self.order = _output_order(list(names), path)
        self._warned = False

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Probabilities for each BGR crop, as a (N, 3) float32 array in CLASSES order; a NaN row where the
        model gave no probabilities (NaN, infinite, negative, or not summing to 1), with one warning a run."""
        probs = np.zeros((len(crops), len(CLASSES)), np.float32)
        if crops:
            probs[:, self.order] = self._predict(prepare_crops(crops))
        bad = ~_probabilities(probs)
        if bad.any():
            probs[bad] = np.nan
            if not self._warned:
                warn(f"the model {self.path.name} gave no probabilities for {int(bad.sum())} face(s) "
                     "(NaN or out of range): they are left unlabelled")
                self._warned = True
        return probs

    def check(self) -> None:
        """Refuse a model that gives no probabilities for a plain face-sized crop: a damaged file, or weights
        that overflowed in training, would otherwise label every face with confidence NaN."""
        crop = np.full((INPUT_SIZE, INPUT_SIZE, 3), 128, np.uint8)
        probs = np.zeros((1, len(CLASSES)), np.float32)
        probs[:, self.order] = self._predict(prepare_crops([crop]))
        if not _probabilities(probs).all():
            raise ModelError(f"the model {self.path} gives no probabilities for a plain crop ({probs[0]}): "
                             "it is damaged or did not train")


def _probabilities(probs: np.ndarray) -> np.ndarray:
    """Which rows are probabilities: finite, 0 to 1, summing to 1."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(probs).all(axis=1)
        return finite & (probs >= -1e-6).all(axis=1) & (np.abs(probs.sum(axis=1) - 1) < 1e-3)


class KerasClassifier(Classifier):
    backend = "keras"

    def __init__(self, path: Path):
        require("keras", f"the model {path.name} (--backend keras)", "train")
        import keras

        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as e:  # Keras raises many types for a damaged file
            raise ModelError(f"cannot load the model {path}: {e}") from e
        shapes = getattr(self.model, "input_shape", None), getattr(self.model, "output_shape", None)
        super().__init__(path, check_shapes(path, *shapes))

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        # Padding to a power of two bounds how often Keras retraces its predict function.
        size = 1 << (len(batch) - 1).bit_length()
        padded = np.concatenate([batch, np.zeros((size - len(batch), *batch.shape[1:]), batch.dtype)])
        return np.asarray(self.model.predict_on_batch(padded))[: len(batch)]


class TFLiteClassifier(Classifier):
    backend = "tflite"

    def __init__(self, path: Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"cannot load the model {path}: {e}") from e
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs, not one of each")
        if inputs[0]["dtype"] != np.float32:
            raise ModelError(f"{path} takes {np.dtype(inputs[0]['dtype']).name} inputs, not float32 (a quantised "
                             "model?)")
        num_outputs = check_shapes(path, _signature(inputs[0]).tolist(), _signature(outputs[0]).tolist())
        self.input, self.output = inputs[0]["index"], outputs[0]["index"]
        self.batch_size = 0
        super().__init__(path, num_outputs)

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) != self.batch_size:
            self.interpreter.resize_tensor_input(self.input, batch.shape)
            self.interpreter.allocate_tensors()
            self.batch_size = len(batch)
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def _signature(details: dict) -> np.ndarray:
    """A TFLite tensor's shape, -1 where any size goes (the batch)."""
    shape, signature = details["shape"], details.get("shape_signature")
    return np.asarray(signature if signature is not None and len(signature) == len(shape) else shape)


def load_classifier(path: str | Path | None = None, backend: str = "auto", threads: int | None = None) -> Classifier:
    """Load a model by path; `auto` prefers the faster .tflite twin of a Keras model when it exists.

    `threads`: the TFLite interpreter's threads (default: every core), fewer where several workers share a
    machine, each with its own model."""
    path = Path(path) if path else DEFAULT_MODEL
    if backend == "auto":
        twin = path.with_suffix(".tflite")
        path, backend = (twin, "tflite") if twin.is_file() else (path, "keras")
        if path.suffix == ".tflite":
            backend = "tflite"
    elif backend == "tflite" and path.suffix != ".tflite":
        path = path.with_suffix(".tflite")
    if not path.is_file():
        raise ModelError(f"model not found: {path} (train one with train_mask_detector.py)")
    classifier = TFLiteClassifier(path, threads) if backend == "tflite" else KerasClassifier(path)
    classifier.check()
    return classifier
