"""Read a dataset of class folders into memory, split it, and feed it through Keras augmentation layers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemask.classifier import INPUT_SIZE, model_input
from facemask.errors import DatasetError, ImageError, warn
from facemask.images import IMAGE_SUFFIXES, list_images, load_image
from facemask.labels import CLASSES, canonical_label
from facemask.manifest import MANIFEST, read_manifest, rows_by_file


@dataclass
class Dataset:
    images: np.ndarray  # (N, 224, 224, 3) uint8 RGB
    labels: np.ndarray  # (N,) index into CLASSES
    paths: list[Path]
    splits: list[str]  # "train", "val" or "test" from the manifest; "" where none is recorded
    synthetic: np.ndarray  # (N,) bool: the manifest marks the image synthetic (a mask pasted on a face)


def class_folders(root: str | Path) -> dict[str, Path]:
    """The folder of each class, under our name or an alias (`mask_weared_incorrect/` is incorrect_mask)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    folders: dict[str, Path] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = canonical_label(sub.name)
        if label is None:
            warn(f"ignoring {sub}: not a class folder {CLASSES}")
        elif label in folders:
            raise DatasetError(f"{folders[label]} and {sub} are both {label}; merge them")
        else:
            folders[label] = sub
    missing = [c for c in CLASSES if c not in folders]
    if missing:
        raise DatasetError(f"{root} has no folder for {', '.join(missing)} (expected {root}/<class>/*.jpg)")
    for label, folder in folders.items():
        if not list_images(folder):
            raise DatasetError(f"class folder {folder} ({label}) holds no images")
    return folders


def _candidates(folder: Path) -> list[Path]:
    """Everything in a class folder named like an image, so that a folder or a broken link named x.jpg is
    reported as unreadable rather than silently left out."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_dataset(root: str | Path) -> Dataset:
    """Every readable image, resized to the model's input; each unreadable file is named once, with why.

    A class folder none of whose files can be read is a DatasetError, raised before any training starts."""
    root = Path(root)
    folders = class_folders(root)
    manifest = rows_by_file(read_manifest(root / MANIFEST))
    files = [(path, CLASSES.index(label)) for label, folder in folders.items() for path in _candidates(folder)]
    images = np.empty((len(files), INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    kept, labels, bad = [], [], 0
    for i, (path, label) in enumerate(files):
        try:
            image = load_image(path)
            if min(image.shape[:2]) < 2:
                raise ImageError(f"{path}: {image.shape[1]}x{image.shape[0]} pixels, too small to learn from")
        except ImageError as e:
            warn(f"skipping unreadable image {e}")
            bad += 1
        else:
            images[len(kept)] = model_input(image)
            kept.append(path)
            labels.append(label)
        if (i + 1) % 1000 == 0 or i + 1 == len(files):
            print(f"\rreading images: {i + 1}/{len(files)}", end="\n" if i + 1 == len(files) else "", flush=True)
    if bad:
        warn(f"skipped {bad} unreadable image(s) of {len(files)}")
    present = set(labels)
    empty = [f"{folders[c]} ({c})" for i, c in enumerate(CLASSES) if i not in present]
    if empty:
        raise DatasetError(f"no readable image in the class folder {' or '.join(empty)}: "
                           "every file there is unreadable (see the warnings above)")
    rows = [manifest.get(p.relative_to(root).as_posix(), {}) for p in kept]
    splits = [row.get("split", "") for row in rows]
    synthetic = np.array([row.get("synthetic") == "1" for row in rows], bool)
    return Dataset(images[: len(kept)], np.array(labels), kept, splits, synthetic)


def split_indices(data: Dataset, val_split: float, seed: int, train_on_val: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: the manifest's splits where recorded (its test split is held out),
    a stratified random split of the rest. `train_on_val` trains on the validation images too: the final fit
    once a recipe is chosen, for the real faces they add; the validation figures are then not held out."""
    from sklearn.model_selection import train_test_split

    splits = np.array(data.splits)
    train, val = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "val")
    rest = np.flatnonzero(splits == "")
    if len(rest):
        counts = np.bincount(data.labels[rest])
        can_stratify = counts[counts > 0].min() >= 2 and val_split * len(rest) >= np.count_nonzero(counts)
        stratify = data.labels[rest] if can_stratify else None
        rest_train, rest_val = train_test_split(rest, test_size=val_split, random_state=seed, stratify=stratify)
        train, val = np.concatenate([train, rest_train]), np.concatenate([val, rest_val])
    if not len(train) or not len(val):
        raise DatasetError("too few images to split into training and validation sets")
    if train_on_val:
        train = np.concatenate([train, val])
    return np.sort(train), np.sort(val)


def augmenter(seed: int | None = None):
    """Random changes a face crop can undergo at run time: pose, framing, light, and mask colour."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.06, fill_mode="nearest", seed=seed),
            layers.RandomZoom((-0.15, 0.1), fill_mode="nearest", seed=seed),
            layers.RandomTranslation(0.08, 0.08, fill_mode="nearest", seed=seed),
            layers.RandomBrightness(0.25, value_range=(0, 255), seed=seed),
            layers.RandomContrast(0.3, value_range=(0, 255), seed=seed),
            # Hue and saturation keep the model from learning "light blue = mask".
            layers.RandomHue(0.15, value_range=(0, 255), seed=seed),
            layers.RandomSaturation((0.3, 0.8), value_range=(0, 255), seed=seed),
        ],
        name="augmentation",
    )
