"""`dataset/manifest.csv`: one row per face image with its class, split, source photo and box, and whether its
mask was pasted on by software. The dataset and synthesis tools write it; training and evaluation read it, so
that a face's split follows its source photo everywhere."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import DatasetError
from .files import atomic_path, read_csv

MANIFEST = "manifest.csv"
COLUMNS = ("file", "class", "split", "source", "source_image", "box", "synthetic")


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """The manifest's rows; [] when there is none. A DatasetError when it cannot be read or lists no files."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = read_csv(path, "manifest")
    if rows and "file" not in rows[0]:
        raise DatasetError(f"cannot read the manifest {path}: it has no file column")
    return rows


def rows_by_file(rows: Iterable[dict[str, str]]) -> dict[str, dict[str, str]]:
    """file (relative to the dataset, e.g. with_mask/x.jpg) → its row."""
    return {row["file"]: row for row in rows}


def write_manifest(path: str | Path, rows: Iterable[dict[str, str]], columns: Sequence[str] = COLUMNS) -> None:
    """Rewrite the manifest atomically, so that a training run never reads half of it. Columns a row has
    beyond `columns` are left out."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
