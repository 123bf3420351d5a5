"""Plots and text a person reads after training or evaluation: curves, confusion matrix, per-class report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facemask.files import atomic_path, write_text
from facemask.labels import CLASSES, DISPLAY_NAMES


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        _pyplot().close(fig)


def plot_history(histories: list[dict[str, list[float]]], path: str | Path) -> None:
    """Loss and accuracy per epoch for training and validation, side by side, for each model trained."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for i, history in enumerate(histories):
            which = f", model {i + 1}" if len(histories) > 1 else ""
            for key, name in ((metric, "train"), (f"val_{metric}", "validation")):
                if key in history:
                    ax.plot(range(1, len(history[key]) + 1), history[key], label=name + which)
        ax.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, Path(path))


def plot_confusion(cm: np.ndarray, path: str | Path, title: str = "Confusion matrix") -> None:
    """Counts with row-normalised shading, so the rare incorrect-mask row reads as clearly as the others."""
    plt = _pyplot()
    names = [DISPLAY_NAMES[c] for c in CLASSES]
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            color = "white" if rates[i, j] > 0.6 else "black"
            ax.text(j, i, f"{cm[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center", color=color)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    _save(fig, Path(path))


def classification_text(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    from sklearn.metrics import classification_report

    return classification_report(
        y_true, y_pred, labels=list(range(len(CLASSES))), target_names=list(CLASSES), digits=3, zero_division=0
    )


def write_report(y_true: np.ndarray, y_pred: np.ndarray, folder: str | Path, header: str = "") -> str:
    """Write report.txt and confusion_matrix.png into `folder`; return the report text."""
    from sklearn.metrics import confusion_matrix

    folder = Path(folder)
    text = (header + "\n" if header else "") + classification_text(y_true, y_pred)
    write_text(folder / "report.txt", text)
    plot_confusion(confusion_matrix(y_true, y_pred, labels=list(range(len(CLASSES)))), folder / "confusion_matrix.png")
    return text


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str] = CLASSES) -> dict:
    """Confusion matrix (rows true, columns predicted, in `classes` order), per-class precision, recall, F1 and
    support, macro-F1 over all classes and accuracy. A ratio with a zero denominator is 0, as in scikit-learn's
    zero_division=0; accuracy and macro-F1 are None when there is nothing to score."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} and {len(y_pred)}")
    k = len(classes)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    n = len(y_true)
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else None,
        "macro_f1": float(f1.mean()) if n else None,
        "per_class": {
            c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "classes": list(classes),
        "confusion": cm.tolist(),
    }


TARGET_RECALL = 0.85  # the project's target for incorrectly worn masks: this recall at precision >= 0.80


def ranking_metrics(y_true: Sequence[int], probs: np.ndarray, classes: Sequence[str] = CLASSES,
                    recall: float = TARGET_RECALL) -> dict:
    """Per class, how well the model's probability ranks that class's faces above the others, whatever the
    threshold: average precision, and the best precision any threshold reaches at `recall` or more.

    The argmax's precision and recall of a rare class swing from one training run to the next as its
    operating point moves; average precision moves far less, so it is what tells two recipes apart. The
    precision at the target recall says whether a threshold alone could meet the target. None where the
    class has no faces."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float).reshape(len(y_true), len(classes))
    out = {}
    for i, c in enumerate(classes):
        positive = y_true == i
        if not positive.any():
            out[c] = {"average_precision": None, f"precision_at_recall_{recall}": None}
            continue
        precision, reached, _ = precision_recall_curve(positive, probs[:, i])
        out[c] = {"average_precision": float(average_precision_score(positive, probs[:, i])),
                  f"precision_at_recall_{recall}": float(precision[reached >= recall].max())}
    return out
