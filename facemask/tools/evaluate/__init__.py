"""Measure accuracy: the full pipeline (face detector + mask classifier) on Pascal VOC photos, face detectors
side by side, the classifier alone on ground-truth face crops, or the classifier on a dataset of class
folders.

    python -m facemask.tools.evaluate --voc ../shared/datasets/ilc2021-train --crops \\
        --images-from dataset/manifest.csv --split test
    python -m facemask.tools.evaluate --dataset dataset --split test --real-only

Ground-truth boxes are widened to the SSD's framing (facemask.tools.dataset.framing.expand_to_detector_box)
before they are matched to detections and before they are cropped: both face detectors return boxes in the
SSD's framing, taller than the VOC box and shifted up; recall against the boxes as drawn is reported too.
Detections are matched to faces greedily, most confident first, at IoU >= 0.5 (primary) and >= 0.4. Writes
OUT/<name>.json (every number, the command line and the model) and OUT/<name>_confusion.png.
"""

from .cli import build_parser, console, main
from .folders import evaluate_dataset
from .photos import evaluate_voc, manifest_images

__all__ = ["build_parser", "console", "evaluate_dataset", "evaluate_voc", "main", "manifest_images"]
