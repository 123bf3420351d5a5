"""Measure accuracy: the full pipeline (face detector + mask classifier) on Pascal VOC photos, face detectors
side by side, the classifier alone on ground-truth face crops, or the classifier on a dataset of class
folders.

    python -m facemask.tools.evaluate --voc ../shared/datasets/ilc2021-train --crops \\
        --images-from dataset/manifest.csv --split test
    python -m facemask.tools.evaluate --dataset dataset --split test --real-only

Ground-truth boxes are widened to the SSD's framing (facemask.tools.dataset.expand_to_detector_box) before they are
matched to detections and before they are cropped: both face detectors return boxes in the SSD's framing,
taller than the VOC box and shifted up. Detections are matched to
faces greedily, most confident first, at IoU >= 0.5 (primary) and >= 0.4. Writes OUT/<name>.json (every
number, the command line and the model) and OUT/<name>_confusion.png.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from facemask.cli import (
    check_face_detector,
    check_model_arguments,
    checked,
    command_parser,
    console_entry,
    face_detector_inputs,
    int_range,
    model_arguments,
    model_inputs,
    run_command,
)
from facemask.errors import DatasetError, FacemaskError, warn
from facemask.faces import Box, clip_box, crop_box, face_finder_kind, iou, load_face_finder
from facemask.files import sha256, shown_path
from facemask.images import list_images, read_image
from facemask.labels import CLASSES, canonical_label
from facemask.manifest import MANIFEST, read_manifest, rows_by_file
from facemask.outputs import Input, Output, check_outputs
from facemask.tools.dataset import expand_to_detector_box, voc_face_name
from facemask.tools.label_fixes import fixed_label, read_label_fixes
from facemask.tools.sheets import contact_sheet
from facemask.tools.tables import text_table
from facemask.tools.voc import VocError, find_voc_image, read_voc
from facemask.train.data import class_folders
from facemask.train.report import classification_metrics, ranking_metrics

PRIMARY_IOU = 0.5
IOU_THRESHOLDS = (0.5, 0.4)
GT_BOXES = "expanded to detector framing"
# Ground-truth faces by the shorter side of their (raw, clipped) VOC box, in pixels: [low, high).
SIZE_BINS: tuple[tuple[str, float, float], ...] = (
    ("<32", 0, 32),
    ("32-63", 32, 64),
    ("64-127", 64, 128),
    (">=128", 128, math.inf),
)
SPLITS = ("train", "val", "test")
# Framings of a ground-truth face besides the SSD's, as (name: margin added on each side, as a fraction of the
# box's size): a user's own tight box, one with a margin, and a loose one.
FRAMINGS = {"box": 0.0, "box+10%": 0.10, "box+25%": 0.25}
SHEET_SIZE = 64  # examples on each contact sheet
MISSED_COLOR, UNMATCHED_COLOR = (0, 165, 255), (255, 0, 255)
BATCH_SIZE = 32


# ----------------------------------------------------------------------------------------------- metrics


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


def labels_from_confusion(cm: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """y_true, y_pred that give the confusion matrix `cm` (to print scikit-learn's report from it)."""
    cm = np.asarray(cm, dtype=int)
    true, pred = np.indices(cm.shape)
    return np.repeat(true.ravel(), cm.ravel()), np.repeat(pred.ravel(), cm.ravel())


# ------------------------------------------------------------------------------------------------ VOC run


@dataclass
class GroundTruth:
    image: str
    label: int  # index into CLASSES
    box: Box  # the VOC box, clipped to the image
    frame_box: Box  # the box the SSD would draw around this face: what is matched and cropped


class _Examples:
    """A fixed-size random sample of labelled thumbnails, the same for the same run (reservoir sampling)."""

    def __init__(self, size: int = SHEET_SIZE, seed: int = 0):
        self.size, self.seen, self.items = size, 0, []
        self.rng = random.Random(seed)

    def offer(self, make: Callable[[], tuple[str, np.ndarray]]) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(make())
        elif (slot := self.rng.randrange(self.seen)) < self.size:
            self.items[slot] = make()


@dataclass
class _DetectionTally:
    """What one face detector found, at each IoU threshold, with examples of its misses to look at."""

    found: dict[float, list[bool]] = field(default_factory=dict)
    ious: dict[float, list[float]] = field(default_factory=dict)
    raw_ious: dict[float, list[float]] = field(default_factory=dict)
    false_positives: Counter = field(default_factory=Counter)
    detections: int = 0
    missed: _Examples = field(default_factory=_Examples)
    unmatched: _Examples = field(default_factory=lambda: _Examples(seed=1))


@dataclass
class _Tally:
    """Everything evaluate_voc counts as it goes."""

    faces: list[GroundTruth] = field(default_factory=list)
    detection: _DetectionTally = field(default_factory=_DetectionTally)
    compared: dict[str, _DetectionTally] = field(default_factory=dict)
    right: dict[float, list[bool]] = field(default_factory=dict)  # per IoU threshold, per face: found, labelled right
    skipped: Counter = field(default_factory=Counter)
    ignored: Counter = field(default_factory=Counter)
    unknown_labels: Counter = field(default_factory=Counter)
    relabelled: int = 0
    pipeline: list[tuple[GroundTruth, np.ndarray]] = field(default_factory=list)
    pipeline_small: int = 0
    crops: list[tuple[GroundTruth, np.ndarray]] = field(default_factory=list)
    crops_small: int = 0
    framings: dict[str, list[tuple[GroundTruth, np.ndarray]]] = field(default_factory=dict)


def manifest_images(manifest: str | Path, split: str, voc_dir: str | Path | None = None) -> set[str]:
    """File names of the VOC images (in `<voc>/images/`) whose source_image the manifest puts in `split`.

    A source_image is matched by its `images/<name>` suffix. When some rows belong to a dataset named like
    `voc_dir` (`<name of voc_dir>/images/...`), only those count, so a same-named image of another dataset
    never decides.
    """
    rows = read_manifest(manifest)
    if rows and not {"source_image", "split"} <= set(rows[0]):
        raise DatasetError(f"{manifest} has no source_image and split columns")
    images = [PurePosixPath(row["source_image"] or "") for row in rows]
    entries = [(p.parent.parent.name, p.name, row["split"]) for p, row in zip(images, rows, strict=True)
               if p.parent.name == "images"]
    dataset = Path(voc_dir).resolve().name if voc_dir is not None else None
    if any(d == dataset for d, _, _ in entries):
        entries = [e for e in entries if e[0] == dataset]
    return {name for _, name, s in entries if s == split}


def _read_gts(annotation, image_name: str, w: int, h: int, tally: _Tally,
              fixes: dict[str, tuple[str, str]], source: str) -> list[GroundTruth]:
    gts, seen = [], set()
    for index, (name, box) in enumerate(annotation.objects):
        label = canonical_label(name)
        if label is not None:
            fixed = fixed_label(fixes, voc_face_name(source, Path(image_name).stem, index), label)
            tally.relabelled += fixed != label
            label = fixed
        if label is None:
            tally.unknown_labels[name or "<empty>"] += 1
            continue
        if box is None:
            tally.ignored["malformed_box"] += 1
            continue
        gt = clip_box(box, w, h)
        if gt[2] - gt[0] < 1 or gt[3] - gt[1] < 1:
            tally.ignored["empty_box"] += 1
            continue
        if gt in seen:
            tally.ignored["duplicate_box"] += 1
            continue
        seen.add(gt)
        gts.append(GroundTruth(image_name, CLASSES.index(label), gt, expand_to_detector_box(gt, w, h)))
    return gts


def _thumbnail(frame: np.ndarray, box: Sequence[int], color: tuple[int, int, int]) -> np.ndarray:
    """The box drawn on the frame with half a face of context around it."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) // 2 + 4, (y2 - y1) // 2 + 4
    cx1, cy1 = max(0, x1 - mx), max(0, y1 - my)
    thumb = frame[cy1 : y2 + my, cx1 : x2 + mx].copy()
    cv2.rectangle(thumb, (x1 - cx1, y1 - cy1), (x2 - cx1 - 1, y2 - cy1 - 1), color, max(1, (x2 - x1) // 40))
    return thumb


def _score_detections(image: str, frame: np.ndarray, detections: list[tuple[Box, float]], gts: list[GroundTruth],
                      tally: _DetectionTally, thresholds: Sequence[float]) -> dict[float, list[tuple[int, int, float]]]:
    """Match one detector's boxes to the faces; returns the pairs at each IoU threshold."""
    tally.detections += len(detections)
    matched = {}
    for t in thresholds:
        pairs, unmatched, missed = match(detections, [g.frame_box for g in gts], t)
        found = [False] * len(gts)
        for d, g, value in pairs:
            found[g] = True
            tally.ious.setdefault(t, []).append(value)
            tally.raw_ious.setdefault(t, []).append(iou(detections[d][0], gts[g].box))
        tally.found.setdefault(t, []).extend(found)
        tally.false_positives[t] += len(unmatched)
        matched[t] = pairs
        if t == PRIMARY_IOU:
            for g in missed:
                tally.missed.offer(lambda g=g: (f"{image[:14]} {CLASSES[gts[g].label]}",
                                                _thumbnail(frame, gts[g].frame_box, MISSED_COLOR)))
            for d in unmatched:
                tally.unmatched.offer(lambda d=d: (f"{image[:14]} {detections[d][1]:.2f}",
                                                   _thumbnail(frame, detections[d][0], UNMATCHED_COLOR)))
    return matched


def _score_image(image: str, frame: np.ndarray, gts: list[GroundTruth], detector, tally: _Tally, *, crops: bool,
                 min_size: int, thresholds: Sequence[float], compare: dict) -> None:
    faces = detector.detect(frame)
    tally.faces += gts
    matched = _score_detections(image, frame, [(f.box, f.score) for f in faces], gts, tally.detection, thresholds)
    for t, pairs in matched.items():
        right = [False] * len(gts)
        for d, g, _ in pairs:
            right[g] = CLASSES[gts[g].label] == faces[d].label and bool(np.isfinite(faces[d].probs).all())
        tally.right.setdefault(t, []).extend(right)
    for d, g, _ in matched[PRIMARY_IOU]:
        if _short_side(gts[g].box) < min_size:
            tally.pipeline_small += 1
        else:
            tally.pipeline.append((gts[g], np.asarray(faces[d].probs, dtype=float)))
    for name, finder in compare.items():
        _score_detections(image, frame, finder.find(frame), gts,
                          tally.compared.setdefault(name, _DetectionTally()), thresholds)
    if crops:
        big = [g for g in gts if _short_side(g.box) >= min_size]
        tally.crops_small += len(gts) - len(big)
        if big:
            probs = detector.classify([crop_box(frame, g.frame_box) for g in big])
            tally.crops += list(zip(big, np.asarray(probs, dtype=float), strict=True))
            h, w = frame.shape[:2]
            for name, margin in FRAMINGS.items():
                boxes = [clip_box(widened(g.box, margin), w, h) for g in big]
                probs = detector.classify([crop_box(frame, b) for b in boxes])
                tally.framings.setdefault(name, []).extend(zip(big, np.asarray(probs, dtype=float), strict=True))


def _short_side(box: Sequence[float]) -> float:
    return min(box[2] - box[0], box[3] - box[1])


def _classification(scored: list[tuple[GroundTruth, np.ndarray]], below_min_size: int) -> dict:
    """Metrics over faces with usable probabilities, the misclassified faces listed."""
    usable = [(g, p) for g, p in scored if np.isfinite(p).all()]
    y_true = [g.label for g, _ in usable]
    y_pred = [int(np.argmax(p)) for _, p in usable]
    metrics = classification_metrics(y_true, y_pred)
    metrics["ranking"] = ranking_metrics(y_true, np.array([p for _, p in usable]))
    metrics["below_min_size"] = below_min_size
    metrics["unclassifiable"] = len(scored) - len(usable)  # crops too small or empty to classify
    metrics["by_size"] = {}
    for name, _, _ in SIZE_BINS:
        picked = [i for i, (g, _) in enumerate(usable) if size_bin(g.box) == name]
        m = classification_metrics([y_true[i] for i in picked], [y_pred[i] for i in picked])
        metrics["by_size"][name] = {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                                    "incorrect_mask": m["per_class"]["incorrect_mask"]}
    metrics["misclassified"] = [
        {"image": g.image, "box": list(g.box), "true": CLASSES[t], "predicted": CLASSES[p],
         "probs": [round(float(v), 4) for v in probs]}
        for (g, probs), t, p in zip(usable, y_true, y_pred, strict=True)
        if t != p
    ]
    return metrics


def evaluate_voc(
    voc_dir: str | Path,
    detector,
    *,
    images: Iterable[str] | None = None,
    crops: bool = False,
    min_size: int = 0,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
    label_fixes: dict[str, tuple[str, str]] | None = None,
    progress: bool = False,
    compare: dict | None = None,
    sheets: str | Path | None = None,
) -> dict:
    """Run `detector` (a MaskDetector, or anything with .detect(frame) and .classify(crops)) over a Pascal VOC
    folder (`images/`, `annotations/`) and measure face detection and classification.

    `images`: only these image file names; `crops`: also classify every ground-truth face cropped in detector
    framing (the classifier alone); `min_size`: faces whose shorter side is below this many pixels are left
    out of the classification metrics (never out of detection recall); `label_fixes`: corrected labels
    (facemask.tools.label_fixes), matched by the face names the dataset tool gives a VOC folder named like
    `voc_dir`; `compare`: {name: face finder} measured for detection alone beside `detector`'s (result
    `compared`); `sheets`: write `<sheets>_<detector>_missed.png` and `..._unmatched.png`, contact sheets of
    missed faces and of boxes that match no face. Returns a JSON-ready dict.
    """
    from tqdm import tqdm

    if PRIMARY_IOU not in thresholds:
        raise ValueError(f"thresholds must include the primary IoU {PRIMARY_IOU}")
    voc_dir = Path(voc_dir)
    images_dir, annotations_dir = voc_dir / "images", voc_dir / "annotations"
    wanted = set(images) if images is not None else None
    tally = _Tally()
    todo = []
    for xml_path in sorted(annotations_dir.glob("*.xml")):
        try:
            annotation = read_voc(xml_path)
        except VocError as e:
            warn(f"skipped {xml_path}: {e}")
            tally.skipped["unparsable_xml"] += 1
            continue
        image_path = find_voc_image(images_dir, annotation, xml_path.stem)
        if image_path is None:
            warn(f"skipped {xml_path}: no image {annotation.filename or xml_path.stem} in {images_dir}")
            tally.skipped["missing_image"] += 1
        elif wanted is not None and image_path.name not in wanted:
            tally.skipped["not_selected"] += 1
        else:
            todo.append((image_path, annotation))
    if not todo:
        raise FacemaskError(f"no annotated image to evaluate in {voc_dir}" + (" (none selected)" if wanted else ""))
    for image_path, annotation in tqdm(todo, desc="images", unit="img", file=sys.stderr, disable=not progress,
                                       mininterval=2):
        frame = read_image(image_path)
        if frame is None:
            warn(f"skipped {image_path}: not a readable image")
            tally.skipped["unreadable_image"] += 1
            continue
        h, w = frame.shape[:2]
        if annotation.size and annotation.size != (w, h):
            warn(f"skipped {image_path}: image is {w}x{h}, annotation says {annotation.size[0]}x{annotation.size[1]}")
            tally.skipped["size_mismatch"] += 1
            continue
        gts = _read_gts(annotation, image_path.name, w, h, tally, label_fixes or {}, voc_dir.resolve().name)
        _score_image(image_path.name, frame, gts, detector, tally, crops=crops, min_size=min_size,
                     thresholds=thresholds, compare=compare or {})
    result = _voc_result(voc_dir, tally, todo, wanted, crops, min_size, thresholds)
    if sheets is not None:
        result["sheets"] = _write_sheets(sheets, {_finder_name(detector): tally.detection, **tally.compared})
    return result


def _finder_name(detector) -> str:
    return getattr(getattr(detector, "finder", None), "name", "detector")


def _write_sheets(prefix: str | Path, tallies: dict[str, _DetectionTally]) -> list[str]:
    """Contact sheets of each detector's missed faces and unmatched boxes: many of the unmatched are real faces
    the annotators left out, which only looking tells."""
    written = []
    for name, tally in tallies.items():
        for kind, examples in (("missed", tally.missed), ("unmatched", tally.unmatched)):
            if examples.items:
                path = Path(f"{prefix}_{name}_{kind}.png")
                path.parent.mkdir(parents=True, exist_ok=True)
                contact_sheet(sorted(examples.items, key=lambda e: e[0]), path, columns=8, tile=120)
                written.append(str(path))
    return written


def _detection_result(tally: _DetectionTally, boxes: list[Box], classes: list[str],
                      thresholds: Sequence[float]) -> dict:
    detection = {}
    for t in thresholds:
        found = tally.found.get(t, [])
        matched = sum(found)
        detection[f"{t:g}"] = {
            "faces": len(found),
            "found": matched,
            "recall": matched / len(found) if found else None,
            "by_size": detection_recall_by_size(boxes, found),
            "by_class": recall_by(classes, found, CLASSES),
            "detections": tally.detections,
            "false_positives": tally.false_positives[t],
            "precision": matched / tally.detections if tally.detections else None,
            "mean_iou": float(np.mean(tally.ious[t])) if tally.ious.get(t) else None,
            "mean_iou_with_raw_gt_box": float(np.mean(tally.raw_ious[t])) if tally.raw_ious.get(t) else None,
        }
    return detection


def _end_to_end(classes: list[str], right: list[bool]) -> dict:
    """The share of all annotated faces, found or not, that the pipeline found and labelled right."""
    rows = {**recall_by(["all faces"] * len(classes), right, ["all faces"]), **recall_by(classes, right, CLASSES)}
    return {k: {"faces": v["faces"], "right": v["found"], "share": v["recall"]} for k, v in rows.items()}


def _voc_result(voc_dir: Path, tally: _Tally, todo: list, wanted: set[str] | None, crops: bool, min_size: int,
                thresholds: Sequence[float]) -> dict:
    boxes = [g.box for g in tally.faces]
    classes = [CLASSES[g.label] for g in tally.faces]
    detection = _detection_result(tally.detection, boxes, classes, thresholds)
    evaluated = len(todo) - tally.skipped["unreadable_image"] - tally.skipped["size_mismatch"]
    result = {
        "voc": str(voc_dir),
        "gt_boxes": GT_BOXES,
        "images": evaluated,
        "images_selected": len(wanted) if wanted is not None else None,
        "images_skipped": dict(tally.skipped),
        "faces": len(tally.faces),
        "faces_by_class": dict(Counter(classes)),
        "faces_by_size": dict(Counter(size_bin(b) for b in boxes)),
        "unknown_labels": dict(tally.unknown_labels),
        "labels_fixed": tally.relabelled,
        "ignored_objects": dict(tally.ignored),
        "min_size": min_size,
        "primary_iou": PRIMARY_IOU,
        "detection": detection,
        "compared": {name: _detection_result(t, boxes, classes, thresholds) for name, t in tally.compared.items()},
        "end_to_end": {f"{t:g}": _end_to_end(classes, tally.right.get(t, [])) for t in thresholds},
        "classification": {"on": f"detections matched to faces at IoU >= {PRIMARY_IOU:g}",
                           **_classification(tally.pipeline, tally.pipeline_small)},
    }
    if crops:
        result["crops"] = {"on": f"ground-truth boxes {GT_BOXES}, cropped as for training",
                           **_classification(tally.crops, tally.crops_small)}
        result["framings"] = {name: _classification(scored, tally.crops_small)
                              for name, scored in tally.framings.items()}
    return result


# -------------------------------------------------------------------------------------------- dataset run


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


# ------------------------------------------------------------------------------------------------ summary


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def detection_text(result: dict) -> str:
    """Face-detection recall per size and class at each IoU threshold, and the false positives."""
    det = result["detection"]
    keys = list(det)
    header = ["", *(f"found@IoU{k}" for k in keys), *(f"recall@IoU{k}" for k in keys)]

    def row(name: str, stats: list[dict]) -> list[object]:
        return [name, *(f"{s['found']}/{s['faces']}" for s in stats), *(_fmt(s["recall"]) for s in stats)]

    rows = [header, row("all faces", [det[k] for k in keys])]
    rows += [row(f"size {b}", [det[k]["by_size"][b] for k in keys]) for b in det[keys[0]]["by_size"]]
    rows += [row(c, [det[k]["by_class"][c] for k in keys]) for c in CLASSES]
    rows.append(["false positives", *(det[k]["false_positives"] for k in keys), *([""] * len(keys))])
    ious = ", ".join(f"IoU>={k}: {_fmt(det[k]['mean_iou'])} (raw VOC box {_fmt(det[k]['mean_iou_with_raw_gt_box'])})"
                     for k in keys)
    return (f"face detection: {result['images']} images, {result['faces']} faces, {det[keys[0]]['detections']} "
            f"detections; GT boxes {result['gt_boxes']}\n{text_table(rows)}\nmean IoU of matched pairs: {ious}")


def comparison_text(result: dict) -> str:
    """Recall per size and class, and the share of boxes that match a face, one column per face detector."""
    det = {result.get("face_detector") or "detector": result["detection"], **result["compared"]}
    keys = list(result["detection"])
    header = [""] + [f"{name}@IoU{k}" for k in keys for name in det]

    def row(name: str, pick) -> list[object]:
        return [name, *(_fmt(pick(det[d][k])) for k in keys for d in det)]

    rows = [header, row("recall, all faces", lambda s: s["recall"])]
    bins = result["detection"][keys[0]]["by_size"]
    rows += [row(f"  size {b}", lambda s, b=b: s["by_size"][b]["recall"]) for b in bins]
    rows += [row(f"  {c}", lambda s, c=c: s["by_class"][c]["recall"]) for c in CLASSES]
    rows.append(row("boxes matching a face", lambda s: s["precision"]))
    return "face detectors side by side\n" + text_table(rows)


def classification_summary(title: str, metrics: dict) -> str:
    from facemask.train.report import classification_text

    lines = [f"{title}: {metrics['n']} faces, accuracy {_fmt(metrics['accuracy'])}, "
             f"macro-F1 {_fmt(metrics['macro_f1'])}"]
    extra = [f"{metrics[k]} {k.replace('_', ' ')}" for k in ("below_min_size", "unclassifiable") if metrics.get(k)]
    if extra:
        lines.append("left out: " + ", ".join(extra))
    if metrics["n"]:
        lines.append(classification_text(*labels_from_confusion(metrics["confusion"])))
    if metrics.get("ranking"):
        lines.append(ranking_text(metrics["ranking"]))
    if metrics.get("by_size"):
        lines.append(size_text(metrics["by_size"]))
    return "\n".join(lines)


def framings_text(result: dict) -> str:
    """The classifier on the same ground-truth faces cropped in each framing: how much the crop matters."""
    rows = [["framing", "faces", "macro-F1", "incorrect P", "incorrect R", "incorrect AP"]]
    for name, m in {"ssd": result["crops"], **result["framings"]}.items():
        inc = m["per_class"]["incorrect_mask"] if m["n"] else {}
        rows.append([name, m["n"], _fmt(m["macro_f1"]), _fmt(inc.get("precision")), _fmt(inc.get("recall")),
                     _fmt(m["ranking"]["incorrect_mask"]["average_precision"] if m["ranking"] else None)])
    return "classifier alone on ground-truth faces by framing (ssd: as the SSD frames them; box+N%: the " \
           "annotated box widened by N% a side)\n" + text_table(rows)


def size_text(by_size: dict) -> str:
    """The classifier per face size (shorter side of the annotated box): where small faces start to fail."""
    rows = [["face size", "faces", "accuracy", "macro-F1", "incorrect P", "incorrect R", "incorrect n"]]
    rows += [[name, m["n"], _fmt(m["accuracy"]), _fmt(m["macro_f1"]), _fmt(m["incorrect_mask"]["precision"]),
              _fmt(m["incorrect_mask"]["recall"]), m["incorrect_mask"]["support"]] for name, m in by_size.items()]
    return text_table(rows)


def ranking_text(ranking: dict) -> str:
    """One row per measure, one column per class: what a threshold could get out of the probabilities."""
    measures = list(next(iter(ranking.values())))
    rows = [["", *ranking]]
    rows += [[m.replace("_", " ").replace("at recall ", "at recall >= "), *(_fmt(r[m]) for r in ranking.values())]
             for m in measures]
    return text_table(rows)


def summary_text(result: dict) -> str:
    if result["mode"] == "dataset":
        parts = [classification_summary(f"classifier on {result['dataset']} crops", result["classification"])]
        parts += [f"  {s}: n={m['n']}, accuracy {_fmt(m['accuracy'])}, macro-F1 {_fmt(m['macro_f1'])}"
                  for s, m in result["by_source"].items()]
        if result["skipped"]:
            parts.append(f"left out: {result['skipped']}")
        return "\n".join(parts)
    parts = [detection_text(result), ""]
    if result["compared"]:
        parts += [comparison_text(result), ""]
    parts += [f"end to end, of all annotated faces, found (IoU >= {t}) and labelled right: " + ", ".join(
        f"{k} {v['right']}/{v['faces']} = {_fmt(v['share'])}" for k, v in e2e.items())
        for t, e2e in result["end_to_end"].items()] + [""]
    parts += [classification_summary(f"full pipeline, {result['classification']['on']}", result["classification"])]
    if "crops" in result:
        parts += ["", classification_summary(f"classifier alone, {result['crops']['on']}", result["crops"]),
                  "", framings_text(result)]
    skipped = {**result["images_skipped"], **result["ignored_objects"]}
    if skipped or result["unknown_labels"]:
        parts.append(f"skipped: {skipped}; unknown labels: {result['unknown_labels']}")
    if result["labels_fixed"]:
        parts.append(f"labels fixed by facemask/tools/label_fixes.csv: {result['labels_fixed']}")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "python -m facemask.tools.evaluate",
        "Measure accuracy: the full pipeline (face detector + mask classifier) on Pascal "
        "VOC photos, or the classifier alone on ground-truth crops or on a dataset of class folders. Writes "
        "OUT/NAME.json with every number, the command line and the model, and OUT/NAME_confusion.png.",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--voc", type=Path, metavar="DIR",
                      help="Pascal VOC folder (DIR/images, DIR/annotations/*.xml): run the face detector and the "
                      "classifier on every image; match detections to faces greedily by detector score at IoU "
                      ">= 0.5 (primary) and >= 0.4 against the ground-truth boxes expanded to the SSD's framing; "
                      "report detection recall by face size and class, false positives, and the classification "
                      "of matched faces. Labels are mapped to the three classes; unknown ones are counted; "
                      "faces listed in facemask/tools/label_fixes.csv get the label fixed there")
    mode.add_argument("--dataset", type=Path, metavar="DIR",
                      help="folder of face crops in class folders (DIR/<class>/*.jpg, as made by "
                      "python -m facemask.tools.dataset): classify every crop, no face detector")
    p.add_argument("--crops", action="store_true",
                   help="with --voc: also classify every ground-truth face, cropped in detector framing exactly "
                   "like the training crops, to measure the classifier without the detector's misses")
    p.add_argument("--images-from", type=Path, metavar="MANIFEST",
                   help="with --voc and --split: only the images whose source_image this manifest.csv puts in "
                   "that split (matched by the name in DIR/images)")
    p.add_argument("--split", choices=SPLITS,
                   help="evaluate one split only: of --images-from with --voc, of DIR/manifest.csv with --dataset")
    p.add_argument("--min-size", type=int_range(0, 100_000), default=0, metavar="N",
                   help="with --voc: leave faces whose shorter side is below N px out of the classification "
                   "metrics (they still count in detection recall)")
    p.add_argument("--original-labels", action="store_true",
                   help="with --voc: keep the annotations' labels instead of applying facemask/tools/label_fixes.csv "
                   "(faces checked by eye whose dataset label contradicts ours, e.g. a mask on the chin "
                   "labelled without_mask)")
    p.add_argument("--real-only", action="store_true",
                   help="with --dataset: leave out crops the manifest marks synthetic (synthetic=1)")
    model_arguments(p)
    p.add_argument("--compare", nargs="+", default=[], metavar="DETECTOR",
                   help="with --voc: also measure these face detectors (yunet, ssd or a path, each at its default "
                        "confidence) and report detection side by side with --face-detector's")
    p.add_argument("--out", type=Path, default=Path("plots/eval"), help="folder for NAME.json and NAME_confusion.png")
    p.add_argument("--name", help="base name of the output files; default from the mode, e.g. "
                   "voc_ilc2021-train_test or dataset_dataset_test_real")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar on stderr")
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with status 2 and argparse's message on missing paths and flags that do not fit the mode."""
    if args.voc is not None:
        if not args.voc.is_dir():
            p.error(f"--voc: not a folder: {args.voc}")
        for sub in ("images", "annotations"):
            if not (args.voc / sub).is_dir():
                p.error(f"--voc: {args.voc} has no {sub}/ folder")
        if args.real_only:
            p.error("--real-only goes with --dataset")
        if args.images_from is not None:
            if not args.images_from.is_file():
                p.error(f"--images-from: no such file: {args.images_from}")
            if not args.split:
                p.error("--images-from needs --split")
        elif args.split:
            p.error("--split with --voc needs --images-from MANIFEST")
    else:
        if not args.dataset.is_dir():
            p.error(f"--dataset: not a folder: {args.dataset}")
        for flag, used in (("--crops", args.crops), ("--images-from", args.images_from),
                           ("--min-size", args.min_size), ("--original-labels", args.original_labels)):
            if used:
                p.error(f"{flag} goes with --voc")
        if (args.split or args.real_only) and not (args.dataset / MANIFEST).is_file():
            p.error(f"--split and --real-only need {args.dataset / MANIFEST}, which does not exist")
    check_model_arguments(p, args)
    for name in args.compare:
        if args.voc is None:
            p.error("--compare goes with --voc")
        check_face_detector(p, argparse.Namespace(face_detector=name))
    if args.name is not None and (not args.name or Path(args.name).name != args.name or args.name in (".", "..")):
        p.error(f"--name must be a plain file name: {args.name!r}")
    check_outputs(p, [Output("--out", args.out, folder=True, files=output_files(args))], _inputs(args))


def _inputs(args: argparse.Namespace) -> list[Input]:
    """What an evaluation reads, which --out must not land on or in."""
    inputs = model_inputs("--model", args.model)
    if args.voc is not None:
        inputs.append(Input("--voc", args.voc, recursive=True))
    else:
        inputs.append(Input("--dataset", args.dataset, recursive=True))
    if args.images_from is not None:
        inputs.append(Input("--images-from", args.images_from))
    for spec in (args.face_detector, *args.compare):
        inputs += face_detector_inputs(spec)
    return inputs


def output_files(args: argparse.Namespace) -> list[str]:
    """The files written in --out, named before the evaluation runs so that they can be checked upfront."""
    name = args.name or default_name(args)
    if args.voc is None:
        return [f"{name}.json", f"{name}_confusion.png"]
    crops = [f"{name}_crops_confusion.png"] if args.crops else []
    sheets = [f"{name}_{face_finder_kind(spec)}_{kind}.png" for spec in (args.face_detector, *args.compare)
              for kind in ("missed", "unmatched")]
    return [f"{name}.json", f"{name}_confusion.png", *crops, *sheets]


def default_name(args: argparse.Namespace) -> str:
    if args.voc is not None:
        parts = ["voc", args.voc.resolve().name, args.split, f"min{args.min_size}" if args.min_size else None]
    else:
        parts = ["dataset", args.dataset.resolve().name, args.split, "real" if args.real_only else None]
    return "_".join(p for p in parts if p)


def _load_detector(args: argparse.Namespace):
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)  # Keras warns through absl that .h5 is a legacy format
    from facemask.detector import MaskDetector

    if args.voc is not None:
        return MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend)
    from facemask.classifier import load_classifier

    return MaskDetector(None, load_classifier(args.model, args.backend))  # no face detector needed


def run(args: argparse.Namespace, argv: list[str], detector=None) -> dict:
    """Evaluate as the parsed arguments say, write OUT/NAME.json and the confusion plot(s); return the result."""
    from facemask.files import write_json
    from facemask.train.report import plot_confusion

    start = time.monotonic()
    detector = detector if detector is not None else _load_detector(args)
    progress = not args.no_progress
    if args.voc is not None:
        images = manifest_images(args.images_from, args.split, args.voc) if args.images_from else None
        fixes = {} if args.original_labels else read_label_fixes()
        compare = {face_finder_kind(spec): load_face_finder(spec) for spec in args.compare}
        result = {"mode": "voc", "manifest": str(args.images_from) if args.images_from else None,
                  "split": args.split, "face_detector": _finder_name(detector),
                  "confidence": getattr(detector.finder, "confidence", args.confidence),
                  **evaluate_voc(args.voc, detector, images=images, crops=args.crops, min_size=args.min_size,
                                 label_fixes=fixes, progress=progress, compare=compare,
                                 sheets=args.out / (args.name or default_name(args)))}
    else:
        result = {"mode": "dataset", **evaluate_dataset(args.dataset, detector, split=args.split,
                                                       real_only=args.real_only, progress=progress)}
    classifier = getattr(detector, "classifier", None)
    model = getattr(classifier, "path", None)
    name = args.name or default_name(args)
    result = {
        "name": name,
        "command": shlex.join(["python", "-m", "facemask.tools.evaluate", *argv]),
        "model": shown_path(model) if model else args.model,
        "model_sha256": sha256(model) if model and Path(model).is_file() else None,
        "backend": getattr(classifier, "backend", args.backend),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **result,
        "seconds": round(time.monotonic() - start, 1),
    }
    write_json(args.out / f"{name}.json", result)
    title = f"{name}: " + ("matched faces, IoU>=0.5" if args.voc is not None else "crops")
    plot_confusion(np.array(result["classification"]["confusion"]), args.out / f"{name}_confusion.png", title)
    if "crops" in result:
        plot_confusion(np.array(result["crops"]["confusion"]), args.out / f"{name}_crops_confusion.png",
                       f"{name}: ground-truth crops")
    return result


def main(argv: list[str] | None = None, detector=None) -> int:
    """The CLI; `detector` replaces the model loaded from --model/--face-detector (for tests)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    checked(parser, check_args, args)

    def evaluate(args: argparse.Namespace) -> None:
        result = run(args, argv, detector)
        print(summary_text(result))
        sheets = set(result.get("sheets", []))
        written = [str(args.out / f) for f in output_files(args) if not f.endswith(("_missed.png", "_unmatched.png"))]
        print("wrote " + ", ".join([*written, *sorted(sheets)]))

    return run_command(evaluate, args)


console = console_entry(main)

if __name__ == "__main__":
    console()
