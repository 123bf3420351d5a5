"""The text a run prints: the tables of its result."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facemask.labels import CLASSES
from facemask.tools.tables import text_table


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
    raw = "; ".join(f"IoU>={k}: {_fmt(det[k]['with_raw_gt_box']['recall'])} (" + ", ".join(
        f"{b} {_fmt(v['recall'])}" for b, v in det[k]["with_raw_gt_box"]["by_size"].items()) + ")" for k in keys)
    return (f"face detection: {result['images']} images, {result['faces']} faces, {det[keys[0]]['detections']} "
            f"detections; GT boxes {result['gt_boxes']}\n{text_table(rows)}\nmean IoU of matched pairs: {ious}\n"
            f"recall matched to the annotated boxes as drawn: {raw}")


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




def labels_from_confusion(cm: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """y_true, y_pred that give the confusion matrix `cm` (to print scikit-learn's report from it)."""
    cm = np.asarray(cm, dtype=int)
    true, pred = np.indices(cm.shape)
    return np.repeat(true.ravel(), cm.ravel()), np.repeat(pred.ravel(), cm.ravel())
