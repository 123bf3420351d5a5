"""MobileNetV2 with the original project's head, trained fast on a CPU, saved so that nothing is half-written.

Everything below a cut point stays frozen, so its output for an image never changes: it is computed once per
augmented view of each image (`views`) and cached, instead of once per epoch. Only the part above the cut
runs in the epochs. Without fine-tuning the cut is the pooled features and an epoch takes seconds; with
`fine_tune` N the cut moves down to the first of the last N layers of the base, which then train too.
With `fine_tune` ALL nothing is cached after the head: every layer trains on a fresh augmentation of each
image every epoch. Nothing here is TensorFlow's own, so training
runs on Keras's JAX backend too.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemask.classifier import INPUT_SIZE, card_path
from facemask.errors import ModelError
from facemask.files import atomic_path, write_json
from facemask.interrupt import StopRequest, interrupt_for
from facemask.labels import CLASSES

WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
MAX_CACHE_BYTES = 6 << 30
ALL = "all"


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    views: int = 3
    fine_tune: int | str = ALL  # the last N layers of the base, or ALL
    fine_tune_epochs: int = 6
    fine_tune_learning_rate: float = 3e-5
    real_share: float = 0.5
    train_on_val: bool = False  # read by run_training: the final fit on train + validation
    members: int = 1  # read by run_training: models trained with seeds seed, seed + 1, ... and averaged
    seed: int = 42
    weights: str | None = "imagenet"


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def build_model(num_classes: int = len(CLASSES), weights: str | None = "imagenet"):
    """The classifier: RGB 0..255 in, class probabilities out; the base is frozen.

    One flat graph, as in the original project, so that any inner tensor can be a cut point.
    """
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1, name="mobilenet_v2_scaling")(inputs)
    try:
        base = keras.applications.MobileNetV2(
            input_shape=(INPUT_SIZE, INPUT_SIZE, 3), include_top=False, weights=weights, input_tensor=scaled
        )
    except Exception as e:  # no network, a damaged file: Keras raises many types
        raise ModelError(
            f"cannot load the ImageNet weights for MobileNetV2 ({e}). Put {WEIGHTS_FILE} in "
            f"{keras_home() / 'models'} (or set KERAS_HOME to a folder whose models/ holds it), "
            "or train from scratch with --weights none"
        ) from e
    base.trainable = False
    x = keras.layers.AveragePooling2D(pool_size=(7, 7), name="pool")(base.output)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mask_detector"), base


def average_models(members: list):
    """One model whose output is the mean of its members' probabilities, loaded and run like a single one.

    Runs of one recipe that differ only in their seed disagree on many hard faces, incorrectly worn masks
    above all; their mean ranks those faces better than either run alone."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    outputs = [keras.Model(m.input, m.output, name=f"member_{i + 1}")(inputs) for i, m in enumerate(members)]
    return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name="mask_detector")


def split_at_cut(model, base, fine_tune: int):
    """(below, above, cut): the frozen part up to the cut tensor and the part above it, sharing the model's layers.

    The cut is the output of the deepest base layer below the last `fine_tune` ones that the rest of
    the graph depends on alone (a residual connection cannot be cut through).
    """
    import keras

    if fine_tune == 0:
        cut = model.get_layer("pool").output
        return keras.Model(model.input, cut), keras.Model(cut, model.output), cut
    layers = base.layers
    if fine_tune >= len(layers) - 2:
        raise ModelError(f"--fine-tune {fine_tune}: the base has only {len(layers) - 2} layers; say all for every one")
    for layer in reversed(layers[1 : len(layers) - fine_tune]):
        try:
            above = keras.Model(layer.output, model.output)
        except ValueError:
            continue
        return keras.Model(model.input, layer.output), above, layer.output
    raise ModelError(f"--fine-tune {fine_tune}: no point to cut the base at")


def unfreeze_top(base, fine_tune: int) -> None:
    """Make the last `fine_tune` base layers trainable; BatchNorm stays frozen, as Keras advises for fine-tuning."""
    import keras

    base.trainable = True
    for i, layer in enumerate(base.layers):
        top = i >= len(base.layers) - fine_tune
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


def _optimizer(learning_rate: float, epochs: int, steps: int):
    import keras

    decay = keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=steps, decay_rate=1 / epochs)
    return keras.optimizers.Adam(decay)


def sample_weights(labels: np.ndarray, synthetic: np.ndarray, real_share: float) -> np.ndarray:
    """Per-image loss weights, 1 on average: each class weighs the same in all, so the rare incorrect-mask class
    counts as much as the others, and within a class that has both, its real photos carry `real_share` of it.

    Synthetic masks outnumber real incorrectly worn ones about 16 to 1; weighed by count, the model would
    learn mostly what a pasted mask looks like, while it is judged on real photos."""
    weights = np.zeros(len(labels), np.float32)
    for c in np.unique(labels):
        members = labels == c
        real, fake = members & ~synthetic, members & synthetic
        if real.any() and fake.any():
            weights[real], weights[fake] = real_share / real.sum(), (1 - real_share) / fake.sum()
        else:
            weights[members] = 1 / members.sum()
    return weights * len(labels) / weights.sum()


def cache_views(below, images: np.ndarray, views: int, batch_size: int, augment) -> np.ndarray:
    """(views, N, ...) float16 outputs of the frozen part for `views` augmented passes over the images."""
    import keras
    from tqdm import tqdm

    shape = below.output.shape[1:]
    size = views * len(images) * int(np.prod(shape)) * 2
    if size > MAX_CACHE_BYTES:
        raise ModelError(f"caching {views} views needs {size / 2**30:.1f} GiB: lower --views or --fine-tune")
    cache = np.empty((views, len(images), *shape), np.float16)
    step = batch_size * 2
    for v in range(views):
        what = f"augmented view {v + 1} of {views}" if augment else "images"
        for start in tqdm(range(0, len(images), step), desc=f"frozen features, {what}", unit="batch"):
            batch = images[start : start + step].astype(np.float32)
            if augment is not None:
                batch = keras.ops.convert_to_numpy(augment(batch, training=True))
            cache[v, start : start + step] = below.predict_on_batch(batch)
    return cache


def _cached_views_dataset():
    import keras

    class CachedViews(keras.utils.PyDataset):
        """Batches from cached views: epoch e reads view e % views, a fresh augmentation each pass as on the fly.

        One view of uint8 images with `augment` serves freshly augmented batches of the images themselves."""

        def __init__(self, cache: np.ndarray, labels: np.ndarray, weights: np.ndarray, batch_size: int, seed: int,
                     augment=None):
            super().__init__()
            self.cache, self.labels, self.weights, self.batch_size = cache, labels, weights, batch_size
            self.augment = augment
            self.rng = np.random.default_rng(seed)
            self.epoch = 0
            self.order = self.rng.permutation(len(labels))

        def __len__(self) -> int:
            return int(np.ceil(len(self.labels) / self.batch_size))

        def __getitem__(self, i: int):
            idx = np.sort(self.order[i * self.batch_size : (i + 1) * self.batch_size])
            batch = self.cache[self.epoch % len(self.cache)][idx].astype(np.float32)
            if self.augment is not None:
                batch = keras.ops.convert_to_numpy(self.augment(batch, training=True))
            return batch, self.labels[idx], self.weights[idx]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self.rng.permutation(len(self.labels))

    return CachedViews


def fit_on_cache(trainable, cache, labels, weights, val_x, val_y, epochs: int, learning_rate: float, batch_size: int,
                 seed: int, augment=None):
    """Train a model on cached views of the training images (augmented per batch by `augment`); return its
    Keras history."""
    data = _cached_views_dataset()(cache, labels, weights, batch_size, seed, augment)
    trainable.compile(
        optimizer=_optimizer(learning_rate, epochs, len(data)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    with StopRequest("stopping after this batch (Ctrl-C again to quit at once)") as stop:
        history = trainable.fit(data, epochs=epochs, validation_data=(val_x.astype(np.float32), val_y), verbose=1,
                                callbacks=[_stop_between_batches(stop)]).history
    if stop.is_set():
        raise interrupt_for(stop.signum)
    return history


def _stop_between_batches(stop: StopRequest):
    """A callback that ends fit (or its validation) after the batch in progress once `stop` is set: a
    KeyboardInterrupt raised inside fit can land while TensorFlow's threads are mid-batch."""
    import keras

    class StopBetweenBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training |= stop.is_set()

        def on_test_batch_end(self, batch, logs=None):
            self.model.stop_evaluating |= stop.is_set()

    return StopBetweenBatches()


def fit_end_to_end(model, images, labels, weights, val_x, val_y, config: TrainConfig):
    """Train the whole model on a fresh augmentation of every image each epoch; return its Keras history.

    Each batch is augmented eagerly before the training step, not inside it: under JAX, Keras's random
    augmentation layers inside the compiled step make it as slow on a GPU as on 2 CPU cores (keras#23229).
    A twin that shares the model's layers is compiled, as in the other stages, so that the saved model carries
    no optimizer state."""
    import keras

    from facemask.train.data import augmenter

    trainer = keras.Model(model.input, model.output, name="trainer")
    return fit_on_cache(trainer, images[None], labels, weights, val_x, val_y, config.fine_tune_epochs,
                        config.fine_tune_learning_rate, config.batch_size, config.seed, augmenter(config.seed))


def train(images_train, labels_train, synthetic_train, images_val, labels_val, config: TrainConfig):
    """Train the head, then (fine_tune N or ALL) the top of the base or all of it with it; return (model, history).

    `synthetic_train` marks the training images that are synthetic (see `sample_weights`)."""
    import keras

    from facemask.train.data import augmenter

    keras.utils.set_random_seed(config.seed)
    model, base = build_model(len(CLASSES), config.weights)
    cut_layers = 0 if config.fine_tune == ALL else config.fine_tune
    below, above, cut = split_at_cut(model, base, cut_layers)
    cache = cache_views(below, images_train, config.views, config.batch_size, augmenter(config.seed))
    val_cache = cache_views(below, images_val, 1, config.batch_size, None)[0]

    pooled = model.get_layer("pool").output
    head = keras.Model(pooled, model.output)
    if cut_layers:
        to_pooled = keras.Model(cut, pooled)
        print("pooling cached features for the head")
        head_cache = np.stack([to_pooled.predict(v, batch_size=256, verbose=0) for v in cache]).astype(np.float16)
        head_val = to_pooled.predict(val_cache, batch_size=256, verbose=0)
    else:
        head_cache, head_val = cache, val_cache
    weights = sample_weights(labels_train, synthetic_train, config.real_share)
    print("training the head")
    history = fit_on_cache(head, head_cache, labels_train, weights, head_val, labels_val,
                           config.epochs, config.learning_rate, config.batch_size, config.seed)
    if cut_layers:
        print(f"fine-tuning the last {cut_layers} layers of MobileNetV2 with the head")
        unfreeze_top(base, cut_layers)
        more = fit_on_cache(above, cache, labels_train, weights, val_cache, labels_val,
                            config.fine_tune_epochs, config.fine_tune_learning_rate, config.batch_size, config.seed)
    elif config.fine_tune == ALL:
        print("fine-tuning all of MobileNetV2 with the head, on freshly augmented images")
        unfreeze_top(base, len(base.layers))
        more = fit_end_to_end(model, images_train, labels_train, weights, images_val, labels_val, config)
    else:
        return model, history
    return model, {k: history[k] + more[k] for k in history}


def save_model(model, path: str | Path, card: dict) -> Path:
    """Write the model (.h5 unless the path says .keras) and its card, each atomically."""
    path = Path(path)
    if path.suffix not in (".h5", ".keras"):
        raise ModelError(f"model path must end in .h5 or .keras: {path}")
    with atomic_path(path, named=True) as tmp:
        model.save(tmp)
    write_json(card_path(path), card)
    return path


def export_tflite(model, path: str | Path) -> Path:
    """A .tflite twin of the model, which the detector prefers: the same outputs, several times faster."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints every traced tensor of the export
        data = converter.convert()
    with atomic_path(Path(path), named=True) as tmp:
        tmp.write_bytes(data)
    return Path(path)
