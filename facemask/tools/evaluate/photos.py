"""The evaluation on annotated photos (Pascal VOC): the face detector and the classifier together, the
classifier alone on the annotated faces in several framings, and other face detectors side by side."""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from facemask.errors import DatasetError, FacemaskError, warn
from facemask.faces import clip_box, crop_box, iou
from facemask.images import read_image
from facemask.labels import CLASSES, canonical_label
from facemask.manifest import read_manifest
from facemask.tools.dataset.framing import expand_to_detector_box
from facemask.tools.dataset.from_voc import voc_face_name
from facemask.tools.label_fixes import fixed_label
from facemask.tools.sheets import contact_sheet
from facemask.tools.voc import VocError, find_voc_image, read_voc
from facemask.train.report import classification_metrics, ranking_metrics
from facemask.types import Box

from .matching import (
    IOU_THRESHOLDS,
    PRIMARY_IOU,
    SIZE_BINS,
    detection_recall_by_size,
    match,
    recall_by,
    size_bin,
    widened,
)

GT_BOXES = "expanded to detector framing"
# Framings of a ground-truth face besides the SSD's, as (name: margin added on each side, as a fraction of the
# box's size): a user's own tight box, one with a margin, and a loose one.
FRAMINGS = {"box": 0.0, "box+10%": 0.10, "box+25%": 0.25}
SHEET_SIZE = 64  # examples on each contact sheet
MISSED_COLOR, UNMATCHED_COLOR = (0, 165, 255), (255, 0, 255)


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
    found_raw: dict[float, list[bool]] = field(default_factory=dict)  # matched to the annotated box as drawn
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


def _found(pairs: list[tuple[int, int, float]], faces: int) -> list[bool]:
    """Per face, whether a detection was matched to it."""
    matched = {g for _, g, _ in pairs}
    return [g in matched for g in range(faces)]


def _score_detections(image: str, frame: np.ndarray, detections: list[tuple[Box, float]], gts: list[GroundTruth],
                      tally: _DetectionTally, thresholds: Sequence[float]) -> dict[float, list[tuple[int, int, float]]]:
    """Match one detector's boxes to the faces; returns the pairs at each IoU threshold."""
    tally.detections += len(detections)
    matched = {}
    for t in thresholds:
        pairs, unmatched, missed = match(detections, [g.frame_box for g in gts], t)
        for d, g, value in pairs:
            tally.ious.setdefault(t, []).append(value)
            tally.raw_ious.setdefault(t, []).append(iou(detections[d][0], gts[g].box))
        tally.found.setdefault(t, []).extend(_found(pairs, len(gts)))
        raw_pairs, _, _ = match(detections, [g.box for g in gts], t)
        tally.found_raw.setdefault(t, []).extend(_found(raw_pairs, len(gts)))
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
        result["sheets"] = _write_sheets(sheets, {finder_name(detector): tally.detection, **tally.compared})
    return result


def finder_name(detector) -> str:
    """The face detector's name (yunet, ssd) for file names and the result; "detector" for a stand-in."""
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
            **_recall(found, boxes),
            "by_class": recall_by(classes, found, CLASSES),
            "detections": tally.detections,
            "false_positives": tally.false_positives[t],
            "precision": matched / tally.detections if tally.detections else None,
            "mean_iou": float(np.mean(tally.ious[t])) if tally.ious.get(t) else None,
            "mean_iou_with_raw_gt_box": float(np.mean(tally.raw_ious[t])) if tally.raw_ious.get(t) else None,
            # matched to the annotated boxes as drawn, as a benchmark that knows nothing of our framing counts
            "with_raw_gt_box": _recall(tally.found_raw.get(t, []), boxes),
        }
    return detection


def _recall(found: list[bool], boxes: list[Box]) -> dict:
    """Faces found, recall, and recall by face size."""
    return {"found": sum(found), "recall": sum(found) / len(found) if found else None,
            "by_size": detection_recall_by_size(boxes, found)}


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
