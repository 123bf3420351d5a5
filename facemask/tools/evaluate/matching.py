"""Matching detections to annotated faces, and recall grouped by face size or class: the measures both runs share."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from facemask.faces import iou

PRIMARY_IOU = 0.5
IOU_THRESHOLDS = (0.5, 0.4)
# Ground-truth faces by the shorter side of their (raw, clipped) VOC box, in pixels: [low, high).
SIZE_BINS: tuple[tuple[str, float, float], ...] = (
    ("<32", 0, 32),
    ("32-63", 32, 64),
    ("64-127", 64, 128),
    (">=128", 128, math.inf),
)



def widened(box: Sequence[float], margin: float) -> tuple[float, float, float, float]:
    """The box with `margin` of its width and height added on each side."""
    x1, y1, x2, y2 = box
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    return x1 - dx, y1 - dy, x2 + dx, y2 + dy


def match(
    detections: Sequence[tuple[Sequence[float], float]], gts: Sequence[Sequence[float]], threshold: float
) -> tuple[list[tuple[int, int, float]], list[int], list[int]]:
    """Match detections, given as (box, score), to ground-truth boxes greedily by score.

    The most confident detection goes first and takes the still-free ground truth it overlaps most, if that
    IoU is at least `threshold`; a less confident detection can never take a face from a more confident one,
    and a second detection of a face already taken stays unmatched (a false positive).
    Returns (pairs as (detection index, gt index, IoU) in the order made, unmatched detection indices,
    unmatched gt indices), the index lists sorted.
    """
    order = sorted(range(len(detections)), key=lambda i: -detections[i][1])  # stable: ties keep input order
    free = set(range(len(gts)))
    pairs: list[tuple[int, int, float]] = []
    unmatched_dets: list[int] = []
    for d in order:
        box = detections[d][0]
        best, best_iou = -1, -1.0
        for g in sorted(free):
            value = iou(box, gts[g])
            if value > best_iou:
                best, best_iou = g, value
        if best >= 0 and best_iou >= threshold:
            pairs.append((d, best, best_iou))
            free.discard(best)
        else:
            unmatched_dets.append(d)
    return pairs, sorted(unmatched_dets), sorted(free)


def size_bin(box: Sequence[float], bins: Sequence[tuple[str, float, float]] = SIZE_BINS) -> str:
    """The name of the size bin a box falls in, by its shorter side."""
    side = min(box[2] - box[0], box[3] - box[1])
    return next(name for name, low, high in bins if low <= side < high)


def recall_by(keys: Sequence[str], found: Sequence[bool], order: Iterable[str] = ()) -> dict[str, dict]:
    """{key: {"faces", "found", "recall"}} over faces grouped by key; keys in `order` come first, even empty
    (recall None)."""
    faces, hits = Counter(keys), Counter(k for k, f in zip(keys, found, strict=True) if f)
    names = list(dict.fromkeys([*order, *faces]))
    return {k: {"faces": faces[k], "found": hits[k], "recall": hits[k] / faces[k] if faces[k] else None}
            for k in names}


def detection_recall_by_size(
    gt_boxes: Sequence[Sequence[float]], found: Sequence[bool], bins: Sequence[tuple[str, float, float]] = SIZE_BINS
) -> dict[str, dict]:
    """Recall of the face detector per size bin of the ground-truth faces (shorter side of the raw box)."""
    return recall_by([size_bin(b, bins) for b in gt_boxes], found, [name for name, _, _ in bins])
