"""facemask.tools.evaluate: the metrics on hand-computed cases, and both modes end to end with a stub detector."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_dataset

from facemask.detector import MaskDetector
from facemask.faces import iou
from facemask.labels import CLASSES
from facemask.tools import evaluate as ev
from facemask.tools.dataset.framing import expand_to_detector_box
from facemask.tools.evaluate import matching, summary
from facemask.train.report import classification_metrics, ranking_metrics

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------------------------------------ metrics


def test_widened_adds_the_margin_on_each_side():
    assert matching.widened((10, 20, 30, 60), 0.1) == pytest.approx((8, 16, 32, 64))
    assert matching.widened((10, 20, 30, 60), 0.0) == (10, 20, 30, 60)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (0, 0, 5, 5), 0.25),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
        ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),  # empty boxes
    ],
)
def test_iou(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_match_lower_score_detection_does_not_steal_a_face():
    gts = [(0, 0, 10, 10), (100, 100, 110, 110)]
    detections = [
        ((0, 0, 10, 10), 0.6),  # a perfect box, but less confident
        ((2, 0, 12, 10), 0.9),  # IoU 80/120 = 0.667 with gt 0: it goes first and takes gt 0
    ]
    pairs, unmatched_dets, unmatched_gts = matching.match(detections, gts, 0.5)
    assert [(d, g) for d, g, _ in pairs] == [(1, 0)]
    assert pairs[0][2] == pytest.approx(80 / 120)
    assert unmatched_dets == [0]
    assert unmatched_gts == [1]


def test_match_takes_the_best_overlap_and_counts_a_duplicate_as_unmatched():
    gts = [(0, 0, 10, 10), (4, 0, 14, 10)]
    detections = [((4, 0, 14, 10), 0.9), ((4, 0, 14, 10), 0.8), ((50, 50, 60, 60), 0.7)]
    pairs, unmatched_dets, unmatched_gts = matching.match(detections, gts, 0.5)
    assert [(d, g) for d, g, _ in pairs] == [(0, 1)]  # gt 1 (IoU 1), not gt 0 (IoU 0.43)
    assert unmatched_dets == [1, 2]  # the duplicate, and the one far away
    assert unmatched_gts == [0]
    # at 0.4 the duplicate finds gt 0 free (IoU 60/140 = 0.43)
    pairs, unmatched_dets, _ = matching.match(detections, gts, 0.4)
    assert [(d, g) for d, g, _ in pairs] == [(0, 1), (1, 0)]
    assert unmatched_dets == [2]


def test_match_threshold_is_inclusive_and_empty_inputs_work():
    gts = [(0, 0, 10, 10)]
    third = [((0, 0, 10, 10 / 3 * 2), 1.0)]  # IoU 2/3
    assert len(matching.match(third, gts, 2 / 3)[0]) == 1
    assert matching.match([], gts, 0.5) == ([], [], [0])
    assert matching.match(third, [], 0.5) == ([], [0], [])


def test_classification_metrics_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    m = classification_metrics(y_true, y_pred)
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    expected = {  # precision, recall, F1, support
        "with_mask": (1.0, 2 / 3, 0.8, 3),
        "without_mask": (0.5, 0.5, 0.5, 2),
        "incorrect_mask": (0.5, 1.0, 2 / 3, 1),
    }
    for c, (p, r, f, n) in expected.items():
        got = m["per_class"][c]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p, r, f, n))
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)

    from sklearn.metrics import f1_score

    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro"))


def test_classification_metrics_empty_and_absent_class():
    m = classification_metrics([], [])
    assert m["n"] == 0 and m["accuracy"] is None and m["macro_f1"] is None
    assert m["confusion"] == [[0] * 3] * 3
    m = classification_metrics([0, 1], [0, 1])  # no incorrect_mask at all: its F1 counts as 0, as in sklearn
    assert m["accuracy"] == 1.0
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["incorrect_mask"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_ranking_metrics_by_hand():
    y_true = [2, 2, 0, 1, 0]
    probs = np.array([[0.05, 0.05, 0.9], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8], [0.15, 0.75, 0.1], [0.6, 0.1, 0.3]])
    r = ranking_metrics(y_true, probs)
    # incorrect_mask, ranked: 0.9 (yes), 0.8 (no), 0.4 (yes), 0.3, 0.1: precision 1 at the first, 2/3 at both
    assert r["incorrect_mask"]["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert r["incorrect_mask"]["precision_at_recall_0.85"] == pytest.approx(2 / 3)
    assert ranking_metrics(y_true, probs, recall=0.5)["incorrect_mask"]["precision_at_recall_0.5"] == 1.0
    # with_mask, ranked: 0.6 (yes), 0.5, 0.15, 0.1 (yes), 0.05
    assert r["with_mask"]["average_precision"] == pytest.approx((1 + 2 / 4) / 2)
    assert r["without_mask"] == {"average_precision": 1.0, "precision_at_recall_0.85": 1.0}

    from sklearn.metrics import average_precision_score

    assert r["incorrect_mask"]["average_precision"] == pytest.approx(
        average_precision_score(np.array(y_true) == 2, probs[:, 2]))


def test_ranking_metrics_absent_class_and_no_faces():
    r = ranking_metrics([0, 1], np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]]))
    assert r["incorrect_mask"] == {"average_precision": None, "precision_at_recall_0.85": None}
    assert r["with_mask"]["average_precision"] == 1.0
    assert all(v["average_precision"] is None for v in ranking_metrics([], []).values())
    assert "average precision" in summary.ranking_text(r) and "-" in summary.ranking_text(r)


def test_detection_recall_by_size():
    boxes = [(0, 0, 20, 100), (0, 0, 31, 31), (0, 0, 32, 40), (0, 0, 100, 63), (0, 0, 64, 64), (0, 0, 128, 300)]
    found = [True, False, True, True, False, True]
    got = matching.detection_recall_by_size(boxes, found)
    assert list(got) == ["<32", "32-63", "64-127", ">=128"]
    assert got["<32"] == {"faces": 2, "found": 1, "recall": 0.5}
    assert got["32-63"] == {"faces": 2, "found": 2, "recall": 1.0}
    assert got["64-127"] == {"faces": 1, "found": 0, "recall": 0.0}
    assert got[">=128"] == {"faces": 1, "found": 1, "recall": 1.0}
    assert matching.detection_recall_by_size([], [])["<32"] == {"faces": 0, "found": 0, "recall": None}


def test_labels_from_confusion_round_trips():
    cm = [[2, 1, 0], [0, 1, 1], [0, 0, 3]]
    assert classification_metrics(*summary.labels_from_confusion(cm))["confusion"] == cm


# ---------------------------------------------------------------------------------------------- VOC run

# BGR colour each stub-classified class is drawn in (the stub classifier reads the dominant channel).
GREEN, RED, BLUE = (0, 200, 0), (0, 0, 200), (200, 0, 0)


class StubFinder:
    """Returns scripted (box, score) lists, chosen by the frame's width (each test image has its own)."""

    def __init__(self, by_width: dict[int, list]):
        self.by_width = by_width

    def find(self, frame):
        return list(self.by_width.get(frame.shape[1], []))


class StubClassifier:
    """Probabilities from the crop's mean colour: green → with_mask, red → without_mask, blue → incorrect."""

    path = None
    backend = "stub"

    def classify(self, crops):
        means = np.array([c.reshape(-1, 3).mean(axis=0) for c in crops], np.float32).reshape(-1, 3)
        scores = means[:, [1, 2, 0]]
        e = np.exp((scores - scores.max(axis=1, keepdims=True)) / 10)
        return e / e.sum(axis=1, keepdims=True)


def voc_xml(path: Path, filename: str, size: tuple[int, int], objects: list[tuple[str, tuple]]) -> None:
    objs = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
        f"<ymax>{y2}</ymax></bndbox></object>"
        for name, (x1, y1, x2, y2) in objects
    )
    path.write_text(f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
                    f"<height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>", encoding="utf-8")


def draw_image(path: Path, size: tuple[int, int], faces: list[tuple[tuple, tuple]]) -> None:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for (x1, y1, x2, y2), color in faces:
        image[y1:y2, x1:x2] = color
    assert cv2.imwrite(str(path), image)


def shifted(box, dx):
    return (box[0] + dx, box[1], box[2] + dx, box[3])


@pytest.fixture
def voc(tmp_path: Path):
    """Two lossless images with seven labelled faces and a scripted face detector:

    a.png (300x200): GT1 with_mask found, plus a duplicate detection; GT2 without_mask found; GT3 a 20 px
      incorrect_mask face missed; an object labelled `face` (unknown).
    b.png (320x200): GT4 incorrect_mask found; GT5 with_mask drawn blue (found, misclassified); GT6 with_mask
      detected at IoU 0.46 (found at 0.4 only); GT7 a 1-pixel without_mask face missed; one false positive.
    """
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    gt1, gt2, gt3 = (20, 40, 80, 110), (150, 40, 210, 110), (240, 150, 260, 170)
    draw_image(root / "images" / "a.png", (300, 200), [(gt1, GREEN), (gt2, RED), (gt3, BLUE)])
    voc_xml(root / "annotations" / "a.xml", "a.png", (300, 200),
            [("with_mask", gt1), ("without_mask", gt2), ("mask_weared_incorrect", gt3), ("face", (100, 150, 130, 180))])
    gt4, gt5, gt6, gt7 = (40, 40, 120, 140), (140, 40, 190, 100), (220, 20, 280, 80), (5, 185, 6, 186)
    draw_image(root / "images" / "b.png", (320, 200), [(gt4, BLUE), (gt5, BLUE), (gt6, GREEN), (gt7, RED)])
    voc_xml(root / "annotations" / "b.xml", "b.png", (320, 200),
            [("with_incorrect_mask", gt4), ("with_mask", gt5), ("with_mask", gt6), ("without_mask", gt7)])

    def frame(box, w):
        return expand_to_detector_box(box, w, 200)

    f6 = frame(gt6, 320)
    near6 = shifted(f6, round((f6[2] - f6[0]) * 0.379))
    assert 0.4 <= iou(near6, f6) < 0.5
    finder = StubFinder({
        300: [(frame(gt1, 300), 0.99), (shifted(frame(gt1, 300), 3), 0.6), (frame(gt2, 300), 0.9)],
        320: [(frame(gt4, 320), 0.95), (frame(gt5, 320), 0.9), (near6, 0.8), ((250, 130, 300, 180), 0.7)],
    })
    return root, MaskDetector(finder, StubClassifier())


def test_evaluate_voc_counts_detection_and_classification(voc):
    root, detector = voc
    r = ev.evaluate_voc(root, detector, crops=True)
    assert r["gt_boxes"] == "expanded to detector framing"
    assert r["images"] == 2 and r["faces"] == 7
    assert r["unknown_labels"] == {"face": 1}
    d5, d4 = r["detection"]["0.5"], r["detection"]["0.4"]
    assert (d5["found"], d5["faces"], d5["detections"], d5["false_positives"]) == (4, 7, 7, 3)
    assert (d4["found"], d4["false_positives"]) == (5, 2)
    assert d5["recall"] == pytest.approx(4 / 7)
    assert {k: (v["found"], v["faces"]) for k, v in d5["by_size"].items()} == {
        "<32": (0, 2), "32-63": (3, 4), "64-127": (1, 1), ">=128": (0, 0)}
    assert d5["by_size"][">=128"]["recall"] is None
    assert d4["by_size"]["32-63"]["found"] == 4
    assert {k: (v["found"], v["faces"]) for k, v in d5["by_class"].items()} == {
        "with_mask": (2, 3), "without_mask": (1, 2), "incorrect_mask": (1, 2)}
    assert d4["by_class"]["with_mask"]["found"] == 3
    assert d5["mean_iou"] == pytest.approx(1.0)
    assert d5["mean_iou_with_raw_gt_box"] < 0.9  # the raw VOC box frames the face differently
    # Against the boxes as drawn, the detection near GT6 (made for its SSD framing) falls below IoU 0.4.
    assert (d5["with_raw_gt_box"]["found"], d4["with_raw_gt_box"]["found"]) == (4, 4)
    assert d4["with_raw_gt_box"]["by_size"]["32-63"]["found"] == 3

    c = r["classification"]
    assert c["confusion"] == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert c["accuracy"] == pytest.approx(0.75)
    assert c["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert [(e["image"], e["true"], e["predicted"]) for e in c["misclassified"]] == [
        ("b.png", "with_mask", "incorrect_mask")]
    e2e = r["end_to_end"]["0.5"]  # GT1, GT2 and GT4 found and labelled right; GT5 found but mislabelled
    assert {k: (v["right"], v["faces"]) for k, v in e2e.items()} == {
        "all faces": (3, 7), "with_mask": (1, 3), "without_mask": (1, 2), "incorrect_mask": (1, 2)}
    assert e2e["all faces"]["share"] == pytest.approx(3 / 7)
    e2e = r["end_to_end"]["0.4"]  # and GT6, found only at IoU 0.4
    assert {k: (v["right"], v["faces"]) for k, v in e2e.items()} == {
        "all faces": (4, 7), "with_mask": (2, 3), "without_mask": (1, 2), "incorrect_mask": (1, 2)}

    k = r["crops"]  # every face, GT7's 1-pixel crop unusable
    assert k["n"] == 6 and k["unclassifiable"] == 1
    assert k["confusion"] == [[2, 0, 1], [0, 1, 0], [0, 0, 2]]
    assert list(r["framings"]) == ["box", "box+10%", "box+25%"]
    for m in r["framings"].values():  # the same faces in other framings: the colour stub says the same
        assert (m["n"], m["unclassifiable"], m["confusion"]) == (6, 1, k["confusion"])
    assert "box+25%" in summary.framings_text(r)
    sizes = {name: (m["n"], m["accuracy"]) for name, m in k["by_size"].items()}  # GT3 20 px; GT7 unusable
    assert sizes == {"<32": (1, 1.0), "32-63": (4, 0.75), "64-127": (1, 1.0), ">=128": (0, None)}
    assert "face size" in summary.size_text(k["by_size"])
    assert k["accuracy"] == pytest.approx(5 / 6)


def test_evaluate_voc_compares_other_detectors_side_by_side(voc):
    root, detector = voc
    other = StubFinder({300: [((150, 30, 210, 110), 0.9), ((0, 0, 20, 20), 0.5)]})  # finds GT2 only, and a box
    r = ev.evaluate_voc(root, detector, compare={"other": other})
    o5 = r["compared"]["other"]["0.5"]
    assert (o5["found"], o5["faces"], o5["detections"], o5["false_positives"]) == (1, 7, 2, 1)
    assert o5["by_class"]["without_mask"] == {"faces": 2, "found": 1, "recall": 0.5}
    assert o5["precision"] == 0.5
    assert r["detection"]["0.5"]["found"] == 4  # the pipeline's own figures are unchanged
    text = summary.comparison_text(r)
    assert "other@IoU0.5" in text and "boxes matching a face" in text


def test_evaluate_voc_min_size_and_image_selection(voc):
    root, detector = voc
    r = ev.evaluate_voc(root, detector, crops=True, min_size=32)
    assert r["detection"]["0.5"]["faces"] == 7  # small faces still count in detection recall
    assert r["crops"]["n"] == 4 + 1 and r["crops"]["below_min_size"] == 2
    assert r["classification"]["n"] == 4 and r["classification"]["below_min_size"] == 0

    r = ev.evaluate_voc(root, detector, images={"a.png"})
    assert r["images"] == 1 and r["faces"] == 3 and r["images_skipped"] == {"not_selected": 1}
    assert r["detection"]["0.5"]["false_positives"] == 1
    assert "crops" not in r


def test_evaluate_voc_applies_label_fixes_by_face_name(voc):
    root, detector = voc
    # GT5 (b.png, object 1) is labelled with_mask and classified incorrect_mask; a fix for a face of
    # another VOC folder (same image and index) must not apply.
    fixes = {"voc_b_1": ("with_mask", "incorrect_mask"), "other_b_2": ("with_mask", "without_mask")}
    r = ev.evaluate_voc(root, detector, crops=True, label_fixes=fixes)
    assert r["labels_fixed"] == 1
    assert r["classification"]["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    assert r["crops"]["confusion"] == [[2, 0, 0], [0, 1, 0], [0, 0, 3]]
    assert ev.evaluate_voc(root, detector)["labels_fixed"] == 0


def write_manifest(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "class", "split", "source", "source_image", "box", "synthetic"])
        for source_image, split in rows:
            writer.writerow(["x.jpg", "with_mask", split, source_image.split("/")[0], source_image, "", "0"])
    return path


def test_manifest_images_uses_rows_of_the_same_dataset(tmp_path: Path):
    manifest = write_manifest(tmp_path / "m.csv", [
        ("voc/images/a.png", "test"), ("voc/images/a.png", "test"), ("voc/images/b.png", "train"),
        ("other/images/b.png", "test"), ("other/images/c.png", "test"), ("folder/with_mask/d.png", "test")])
    assert ev.manifest_images(manifest, "test", tmp_path / "voc") == {"a.png"}
    assert ev.manifest_images(manifest, "train", tmp_path / "voc") == {"b.png"}
    assert ev.manifest_images(manifest, "test", tmp_path / "elsewhere") == {"a.png", "b.png", "c.png"}
    assert ev.manifest_images(manifest, "test") == {"a.png", "b.png", "c.png"}


def test_cli_voc_writes_json_and_plots(voc, tmp_path: Path, capsys):
    root, detector = voc
    manifest = write_manifest(tmp_path / "m.csv", [("voc/images/a.png", "test"), ("voc/images/b.png", "train")])
    out = tmp_path / "out"
    argv = ["--voc", str(root), "--crops", "--images-from", str(manifest), "--split", "test",
            "--out", str(out), "--no-progress"]
    assert ev.main(argv, detector=detector) == 0
    name = "voc_voc_test"
    result = json.loads((out / f"{name}.json").read_text())
    assert result["command"].startswith("python -m facemask.tools.evaluate --voc ")
    assert result["mode"] == "voc" and result["split"] == "test" and result["images"] == 1
    assert result["gt_boxes"] == "expanded to detector framing"
    assert result["classification"]["n"] == 2 and result["crops"]["n"] == 3
    for png in (f"{name}_confusion.png", f"{name}_crops_confusion.png"):
        assert (out / png).stat().st_size > 0
    sheets = [f"{name}_detector_missed.png", f"{name}_detector_unmatched.png"]  # GT3 missed, GT1 detected twice
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{name}.json", f"{name}_confusion.png",
                                                            f"{name}_crops_confusion.png", *sheets])
    missed = cv2.imread(str(out / sheets[0]))
    assert missed.shape == (120 + 18, 8 * 120, 3)  # one labelled tile in a row of eight
    text = capsys.readouterr().out
    assert "recall" in text and "macro avg" in text and "false positives" in text


# ------------------------------------------------------------------------------------------ dataset run


@pytest.fixture
def crops_dataset(tmp_path: Path) -> Path:
    root = make_dataset(tmp_path / "ds", per_class=4)
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "class", "split", "source", "source_image", "box", "synthetic"])
        for label in CLASSES:
            for i in range(4):
                writer.writerow([f"{label}/{i}.png", label, "test" if i < 2 else "train",
                                 "synth" if i == 1 else "real", "", "", int(i == 1)])
    return root


def test_evaluate_dataset_split_and_real_only(crops_dataset: Path):
    detector = MaskDetector(None, StubClassifier())
    r = ev.evaluate_dataset(crops_dataset, detector, split="test")
    assert r["classification"]["n"] == 6 and r["classification"]["accuracy"] == 1.0
    assert {v["average_precision"] for v in r["classification"]["ranking"].values()} == {1.0}
    assert r["skipped"] == {"not_in_manifest": 1, "other_split": 6}
    assert set(r["by_source"]) == {"real", "synth"}
    r = ev.evaluate_dataset(crops_dataset, detector, split="test", real_only=True)
    assert r["classification"]["n"] == 3 and r["skipped"]["synthetic"] == 3
    r = ev.evaluate_dataset(crops_dataset, detector)  # everything, the corrupt file counted as unreadable
    assert r["classification"]["n"] == 12 and r["skipped"] == {"unreadable": 1}


def test_cli_dataset(crops_dataset: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    argv = ["--dataset", str(crops_dataset), "--split", "test", "--real-only", "--out", str(out), "--no-progress"]
    assert ev.main(argv, detector=MaskDetector(None, StubClassifier())) == 0
    result = json.loads((out / "dataset_ds_test_real.json").read_text())
    assert result["classification"]["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert (out / "dataset_ds_test_real_confusion.png").is_file()


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--voc", "{tmp}/missing"],
        ["--voc", "{tmp}/noann"],
        ["--voc", "{voc}", "--split", "test"],
        ["--voc", "{voc}", "--images-from", "{tmp}/missing.csv", "--split", "test"],
        ["--voc", "{voc}", "--images-from", "{tmp}/m.csv"],
        ["--voc", "{voc}", "--real-only"],
        ["--voc", "{voc}", "--model", "{tmp}/missing.h5"],
        ["--voc", "{voc}", "--face-detector", "{tmp}/missing"],
        ["--voc", "{voc}", "--name", "a/b"],
        ["--voc", "{voc}", "--dataset", "{tmp}"],
        ["--dataset", "{tmp}/missing"],
        ["--dataset", "{tmp}", "--crops"],
        ["--dataset", "{tmp}", "--split", "test"],  # no manifest.csv there
        ["--voc", "{voc}", "--min-size", "100000000000000000000"],
        ["--voc", "{voc}", "--confidence", "1e306"],
    ],
)
def test_cli_usage_errors_exit_2(argv, voc, tmp_path: Path, capsys):
    root, detector = voc
    (tmp_path / "noann" / "images").mkdir(parents=True)
    write_manifest(tmp_path / "m.csv", [])
    argv = [a.format(tmp=tmp_path, voc=root) for a in argv]
    with pytest.raises(SystemExit) as e:
        ev.main(argv, detector=detector)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_library_error_is_one_line_exit_1(tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "annotations").mkdir()
    assert ev.main(["--voc", str(empty), "--out", str(tmp_path / "out")],
                   detector=MaskDetector(StubFinder({}), StubClassifier())) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no annotated image")
    assert not (tmp_path / "out").exists()


def test_module_runs_as_a_script(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "facemask.tools.evaluate", "--voc", str(tmp_path / "missing")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--voc: not a folder" in done.stderr


class NeverCalled:
    path = None
    backend = "stub"

    def classify(self, crops):
        raise AssertionError("the evaluation ran")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("/proc/facemask-test/eval", "--out: cannot write in /proc"),
        ("{ds}/eval", "--out: {ds}/eval is inside the folder {ds} that --dataset reads"),
        ("{tmp}/fifo", "--out: not a regular file (a device, a fifo or a socket): {tmp}/fifo/dataset_ds.json"),
        ("{tmp}/read-only", "--out: cannot write in {tmp}/read-only"),
    ],
)
def test_an_out_that_cannot_be_written_is_refused_before_the_evaluation(crops_dataset, tmp_path, capsys, out, message):
    if "read-only" in out and os.geteuid() == 0:
        pytest.skip("root writes in read-only folders")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "dataset_ds.json")
    (tmp_path / "read-only").mkdir(mode=0o500)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as e:
        ev.main(["--dataset", str(crops_dataset), "--out", out.format(ds=crops_dataset, tmp=tmp_path)],
                detector=MaskDetector(None, NeverCalled()))
    assert e.value.code == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert message.format(ds=crops_dataset, tmp=tmp_path) in line, line
    assert sorted(tmp_path.rglob("*")) == before


def test_a_write_failure_at_the_end_is_one_error_line_and_keeps_the_earlier_results(
    crops_dataset, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "dataset_ds.json").write_text('{"earlier": true}\n')
    (out / "dataset_ds_confusion.png").write_bytes(b"an earlier plot")

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", no_space)
    code = ev.main(["--dataset", str(crops_dataset), "--out", str(out), "--no-progress"],
                   detector=MaskDetector(None, StubClassifier()))
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: cannot write {out / 'dataset_ds.json'}: No space left on device"]
    assert (out / "dataset_ds.json").read_bytes() == b'{"earlier": true}\n'
    assert (out / "dataset_ds_confusion.png").read_bytes() == b"an earlier plot"
    assert sorted(p.name for p in out.iterdir()) == ["dataset_ds.json", "dataset_ds_confusion.png"]
