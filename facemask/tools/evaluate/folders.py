"""The classifier alone on a dataset of face crops in class folders."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

from facemask.errors import DatasetError
from facemask.images import list_images, read_image
from facemask.labels import CLASSES
from facemask.manifest import MANIFEST, read_manifest, rows_by_file
from facemask.train.data import class_folders
from facemask.train.report import classification_metrics, ranking_metrics

BATCH_SIZE = 32


def evaluate_dataset(
    root: str | Path,
    detector,
    *,
    split: str | None = None,
    real_only: bool = False,
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
) -> dict:
    """Classify every crop in class folders (`root/<class>/*.jpg`) with `detector.classify`.

    `split`: only crops the manifest (root/manifest.csv) puts in that split; `real_only`: leave out crops it
    marks synthetic. With either, crops the manifest does not list are left out and counted.
    """
    from tqdm import tqdm

    root = Path(root)
    folders = class_folders(root)
    manifest = rows_by_file(read_manifest(root / MANIFEST))
    if (split or real_only) and not manifest:
        raise DatasetError(f"{root / MANIFEST} is missing or empty; --split and --real-only need it")
    skipped: Counter = Counter()
    files = []
    for label, folder in folders.items():
        for path in list_images(folder):
            row = manifest.get(path.relative_to(root).as_posix())
            if (split or real_only) and row is None:
                skipped["not_in_manifest"] += 1
            elif split and row.get("split") != split:
                skipped["other_split"] += 1
            elif real_only and row.get("synthetic") == "1":
                skipped["synthetic"] += 1
            else:
                files.append((path, CLASSES.index(label), (row or {}).get("source") or "unknown"))
    if not files:
        raise DatasetError(f"no crops to evaluate in {root}" + (f" (split {split})" if split else ""))
    y_true, y_probs, sources = [], [], []
    bar = tqdm(total=len(files), desc="crops", unit="img", file=sys.stderr, disable=not progress, mininterval=2)
    for start in range(0, len(files), batch_size):
        batch = files[start : start + batch_size]
        images = [read_image(p) for p, _, _ in batch]
        readable = [(f, im) for f, im in zip(batch, images, strict=True) if im is not None]
        skipped["unreadable"] += len(batch) - len(readable)
        probs = detector.classify([im for _, im in readable]) if readable else np.empty((0, len(CLASSES)))
        for ((_, label, source), _), p in zip(readable, probs, strict=True):
            if not np.isfinite(p).all():
                skipped["unclassifiable"] += 1
                continue
            y_true.append(label)
            y_probs.append(p)
            sources.append(source)
        bar.update(len(batch))
    bar.close()
    y_pred = np.reshape(y_probs, (-1, len(CLASSES))).argmax(axis=1)
    by_source = {}
    for source in dict.fromkeys(sources):
        idx = [i for i, s in enumerate(sources) if s == source]
        by_source[source] = classification_metrics([y_true[i] for i in idx], [y_pred[i] for i in idx])
    return {
        "dataset": str(root),
        "split": split,
        "real_only": real_only,
        "files": len(files),
        "skipped": {k: v for k, v in skipped.items() if v},
        "classification": {**classification_metrics(y_true, y_pred), "ranking": ranking_metrics(y_true, y_probs)},
        "by_source": by_source,
    }
