"""Labelled grids of images: looking at examples is the quickest check of what numbers alone do not show."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facemask.images import resize_longest, write_image


def _tile(image: np.ndarray, label: str, size: int) -> np.ndarray:
    resized = resize_longest(image, size)
    if resized.ndim == 2:
        resized = cv2.cvtColor(resized, cv2.COLOR_GRAY2BGR)
    tile = np.full((size + 18, size, 3), 255, np.uint8)
    y, x = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    tile[y:y + resized.shape[0], x:x + resized.shape[1]] = resized[:, :, :3]
    font_scale = min(0.4, 0.4 * size / max(1, 7 * len(label)))
    cv2.putText(tile, label, (2, size + 13), cv2.FONT_HERSHEY_SIMPLEX, max(font_scale, 0.25), (0, 0, 0), 1,
                cv2.LINE_AA)
    return tile


def contact_sheet(images: Sequence[np.ndarray | tuple[str, np.ndarray]], path: str | Path, columns: int = 4,
                  tile: int = 160) -> Path:
    """Write a labelled PNG grid of examples (e.g. original, correct, nose_out, chin per row), atomically.

    Items are images or (label, image) pairs. Looking at a sheet is the quickest check that masks sit where
    they should; numbers alone do not show a mask floating over an eye.
    """
    if not images:
        raise ValueError("no images for the contact sheet")
    tiles = []
    for item in images:
        label, image = item if isinstance(item, tuple) else ("", item)
        tiles.append(_tile(np.asarray(image), label, tile))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    grid = np.vstack([np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)])
    path = Path(path)
    write_image(path, grid)
    return path
