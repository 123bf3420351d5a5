"""The whole training run behind train_mask_detector.py: data in; model, card, plots and report out."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .data import load_dataset, split_indices
from .labels import CLASSES
from .model import TrainConfig, export_tflite, save_model, train
from .report import per_class_metrics, plot_history, write_report


def run_training(
    dataset: str | Path,
    model_path: str | Path,
    plot_dir: str | Path,
    config: TrainConfig,
    val_split: float = 0.2,
    tflite: bool = True,
) -> dict:
    """Train, report on the validation split, save; return the model card that was written."""
    started = time.perf_counter()
    data = load_dataset(dataset)
    train_idx, val_idx = split_indices(data, val_split, config.seed)
    counts = {c: int(n) for c, n in zip(CLASSES, np.bincount(data.labels[train_idx], minlength=3), strict=True)}
    print(f"training on {len(train_idx)} images {counts}, validating on {len(val_idx)}")

    images, labels = data.images, data.labels
    model, history = train(images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], config)

    probs = model.predict(images[val_idx].astype(np.float32), batch_size=64, verbose=0)
    y_true, y_pred = labels[val_idx], probs.argmax(axis=1)
    plot_dir = Path(plot_dir)
    plot_history(history, plot_dir / "training.png")
    print(write_report(y_true, y_pred, plot_dir, header=f"validation split of {dataset} ({len(val_idx)} images)"))

    card = {
        "classes": list(CLASSES),
        "input_size": [224, 224],
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": str(dataset),
        "images": {"train": len(train_idx), "val": len(val_idx)},
        "config": vars(config),
        "validation": per_class_metrics(y_true, y_pred),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    save_model(model, model_path, card)
    print(f"saved {model_path}")
    if tflite:
        print(f"saved {export_tflite(model, Path(model_path).with_suffix('.tflite'))}")
    return card


def export_existing(model_path: str | Path) -> Path:
    """The .tflite twin of a model trained earlier (or elsewhere), beside it."""
    from .classifier import load_classifier

    return export_tflite(load_classifier(model_path, "keras").model, Path(model_path).with_suffix(".tflite"))
