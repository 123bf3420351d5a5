"""MobileNetV2 with the original project's head, trained in two phases, saved so that nothing is ever half-written.

Phase 1 trains the head on a frozen base. Since the base does not change, its features are computed once
per augmented view of each image (`views`) instead of once per epoch: the epochs then cost seconds.
Phase 2 (`fine_tune` > 0) unfreezes the last layers of the base and trains end to end at a lower rate.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classifier import INPUT_SIZE, card_path
from .errors import ModelError
from .files import atomic_path, write_json
from .labels import CLASSES

WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    views: int = 3
    fine_tune: int = 0
    fine_tune_epochs: int = 5
    seed: int = 42
    weights: str | None = "imagenet"


@dataclass
class Trained:
    model: object
    history: dict[str, list[float]] = field(default_factory=dict)


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def build_base(weights: str | None):
    import keras

    try:
        return keras.applications.MobileNetV2(
            input_shape=(INPUT_SIZE, INPUT_SIZE, 3), include_top=False, weights=weights
        )
    except Exception as e:  # no network, a damaged file: Keras raises many types
        raise ModelError(
            f"cannot load the ImageNet weights for MobileNetV2 ({e}). Put {WEIGHTS_FILE} in "
            f"{keras_home() / 'models'} (or set KERAS_HOME to a folder whose models/ holds it), "
            "or train from scratch with --weights none"
        ) from e


def build_head(num_classes: int, features: int):
    import keras

    return keras.Sequential(
        [
            keras.Input((1, 1, features)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="head",
    )


def build_model(num_classes: int = len(CLASSES), weights: str | None = "imagenet"):
    """(model, features, head): the full model, its frozen part up to the pooled features, and the head.

    Inputs are RGB in 0..255; the model scales them the way MobileNetV2 expects.
    """
    import keras

    base = build_base(weights)
    base.trainable = False
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="mobilenet_v2_scaling")(inputs)
    x = base(x, training=False)
    pooled = keras.layers.AveragePooling2D(pool_size=(7, 7), name="pool")(x)
    head = build_head(num_classes, pooled.shape[-1])
    model = keras.Model(inputs, head(pooled), name="mask_detector")
    return model, keras.Model(inputs, pooled, name="features"), head


def _optimizer(learning_rate: float, epochs: int, steps: int):
    import keras

    decay = keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=steps, decay_rate=1 / epochs)
    return keras.optimizers.Adam(decay)


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Balanced weights, so the rare incorrect-mask class counts as much as the others."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    return {i: float(len(labels) / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def extract_features(features_model, images: np.ndarray, batch_size: int, augment=None) -> np.ndarray:
    from .data import image_batches

    ds = image_batches(images, np.zeros(len(images), np.int32), batch_size * 2, augment)
    return features_model.predict(ds, verbose=1)


def train(images_train, labels_train, images_val, labels_val, config: TrainConfig) -> Trained:
    """Train the head on cached features of augmented views, then optionally fine-tune the base's top."""
    import keras
    import tensorflow as tf

    from .data import augmenter, image_batches

    keras.utils.set_random_seed(config.seed)
    model, features_model, head = build_model(len(CLASSES), config.weights)
    augment = augmenter(config.seed)
    views = []
    for v in range(config.views):
        print(f"computing base features: augmented view {v + 1}/{config.views}")
        views.append(extract_features(features_model, images_train, config.batch_size, augment))
    print("computing base features: validation images")
    val_features = extract_features(features_model, images_val, config.batch_size)

    steps = int(np.ceil(len(images_train) / config.batch_size))
    # Epoch e sees view e % views: each pass over the data is a fresh augmentation, as with on-the-fly augmentation.
    train_ds = (
        tf.data.Dataset.from_tensor_slices((np.concatenate(views), np.tile(labels_train, config.views)))
        .shuffle(len(images_train) * config.views, seed=config.seed)
        .repeat()
        .batch(config.batch_size)
    )
    head.compile(
        optimizer=_optimizer(config.learning_rate, config.epochs, steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    weights = class_weights(labels_train, len(CLASSES))
    history = head.fit(
        train_ds, epochs=config.epochs, steps_per_epoch=steps, validation_data=(val_features, labels_val),
        class_weight=weights, shuffle=False, verbose=2,
    ).history

    if config.fine_tune > 0:
        base = model.get_layer("mobilenetv2_1.00_224")
        base.trainable = True
        for layer in base.layers[: -config.fine_tune]:
            layer.trainable = False
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        model.compile(
            optimizer=_optimizer(config.learning_rate / 10, config.fine_tune_epochs, steps),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        more = model.fit(
            image_batches(images_train, labels_train, config.batch_size, augment, shuffle=True),
            validation_data=image_batches(images_val, labels_val, config.batch_size * 2),
            epochs=config.fine_tune_epochs, class_weight=weights,
        ).history
        history = {k: history[k] + more[k] for k in history}
    return Trained(model, history)


def save_model(model, path: str | Path, card: dict) -> Path:
    """Write the model (.h5 unless the path says .keras) and its card, each atomically."""
    path = Path(path)
    if path.suffix not in (".h5", ".keras"):
        raise ModelError(f"model path must end in .h5 or .keras: {path}")
    with atomic_path(path) as tmp:
        model.save(tmp)
    write_json(card_path(path), card)
    return path


def export_tflite(model, path: str | Path) -> Path:
    """A .tflite twin of the model, which the detector prefers: the same outputs, several times faster."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints every traced tensor of the export
        data = converter.convert()
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
    return Path(path)
