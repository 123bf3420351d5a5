"""The whole training run behind train_mask_detector.py: data in; model, card, plots and report out."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from facemask.classifier import card_path
from facemask.files import check_regular, shown_path, temp_path
from facemask.interrupt import signals_held
from facemask.labels import CLASSES
from facemask.train.data import load_dataset, split_indices
from facemask.train.model import TrainConfig, average_models, export_tflite, save_model, train
from facemask.train.report import classification_metrics, plot_history, write_report

PLOT_FILES = ("training.png", "confusion_matrix.png", "report.txt")  # what a run writes in --plot


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
    train_idx, val_idx = split_indices(data, val_split, config.seed, config.train_on_val)
    counts = {c: int(n) for c, n in zip(CLASSES, np.bincount(data.labels[train_idx], minlength=3), strict=True)}
    print(f"training on {len(train_idx)} images {counts}, validating on {len(val_idx)}")

    images, labels = data.images, data.labels
    members, histories = [], []
    for i in range(config.members):
        member_config = replace(config, seed=(config.seed + i) % 2**32)
        if config.members > 1:
            print(f"model {i + 1} of {config.members} (seed {member_config.seed})")
        model, history = train(images[train_idx], labels[train_idx], data.synthetic[train_idx],
                               images[val_idx], labels[val_idx], member_config)
        members.append(model)
        histories.append(history)
    model = members[0] if len(members) == 1 else average_models(members)

    probs = model.predict(images[val_idx].astype(np.float32), batch_size=64, verbose=0)
    y_true, y_pred = labels[val_idx], probs.argmax(axis=1)
    plot_dir = Path(plot_dir)
    plot_history(histories, plot_dir / "training.png")
    seen = ", also trained on: not held out" if config.train_on_val else ""
    header = f"validation split of {shown_path(dataset)} ({len(val_idx)} images{seen})"
    print(write_report(y_true, y_pred, plot_dir, header=header))

    card = {
        "classes": list(CLASSES),
        "input_size": [224, 224],
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": shown_path(dataset),
        "images": {"train": len(train_idx), "val": len(val_idx)},
        "config": vars(config),
        "validation": classification_metrics(y_true, y_pred)["per_class"],
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    for path in save_all(model, model_path, card, tflite):
        print(f"saved {path}")
    return card


def save_all(model, model_path: str | Path, card: dict, tflite: bool = True) -> list[Path]:
    """The model, its card and (`tflite`) its .tflite twin, replacing the old ones together or not at all.

    Each is written in full under a temporary name first; an interruption then (Ctrl-C, SIGTERM, kill -9, a
    full disk) leaves the previous model as it was. Only the renames that publish them run with Ctrl-C held
    back, so that a new model never goes out with an old twin, which the detector would prefer to it. Without
    `tflite`, an old twin is removed for the same reason."""
    model_path = Path(model_path)
    for target in (model_path, card_path(model_path), model_path.with_suffix(".tflite")):
        check_regular(target)
    staged = temp_path(model_path)
    twin, staged_twin = model_path.with_suffix(".tflite"), staged.with_suffix(".tflite")
    moves = [(staged, model_path), (card_path(staged), card_path(model_path))]
    try:
        save_model(model, staged, card)
        if tflite:
            export_tflite(model, staged_twin)
            moves.append((staged_twin, twin))
        with signals_held():
            for source, target in moves:
                os.replace(source, target)
            if not tflite and twin.exists():
                twin.unlink()
                print(f"removed {twin}: it was the .tflite twin of the previous model")
    finally:
        for path in (staged, card_path(staged), staged_twin):
            path.unlink(missing_ok=True)
    return [target for _, target in moves if target.suffix != ".json"]


def export_existing(model_path: str | Path) -> Path:
    """The .tflite twin of a model trained earlier (or elsewhere), beside it."""
    from facemask.classifier import load_classifier

    return export_tflite(load_classifier(model_path, "keras").model, Path(model_path).with_suffix(".tflite"))
