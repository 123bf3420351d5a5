"""Does a stock-photo watermark change the label? The same real faces classified with and without one.

    python -m bench.watermark --dataset dataset [--split val] [-m MODEL] [--copies 3]

Every real (not synthetic) crop of the split is classified as it is and with `--copies` watermarks pasted on
(facemask.tools.watermark: a brand name, a credit line, a diagonal pattern; a different one each copy). Prints
the share of labels that change, per kind of watermark and per source, and the share labelled incorrect with
and without. Watermarks occur only among incorrectly worn masks in the training data: a model that learned
them labels watermarked faces incorrect.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from facemask.classifier import load_classifier
from facemask.images import read_image
from facemask.labels import CLASSES
from facemask.manifest import read_manifest
from facemask.tools.tables import text_table
from facemask.tools.watermark import KINDS, paste_watermark

INCORRECT = CLASSES.index("incorrect_mask")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.watermark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("dataset"), help="a dataset with manifest.csv")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("-m", "--model", default=None, help="the model (default: the shipped one)")
    parser.add_argument("--copies", type=int, default=3, help="watermarked copies of each face")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rows = [r for r in read_manifest(args.dataset / "manifest.csv")
            if r["split"] == args.split and r["synthetic"] == "0"]
    classifier = load_classifier(args.model)
    rng = np.random.default_rng(args.seed)
    changed: dict[str, Counter] = defaultdict(Counter)  # kind or source -> changed, total
    labels_before, labels_after = Counter(), Counter()
    batch, meta = [], []

    def flush() -> None:
        probs = classifier.classify(batch)
        for (kind, source, first), p in zip(meta, probs, strict=True):
            label = int(np.argmax(p))
            if kind is None:
                labels_before[label] += 1
                meta_first[first] = label
                continue
            labels_after[label] += 1
            differs = label != meta_first[first]
            for key in (kind, f"source {source}", "all"):
                changed[key]["changed"] += differs
                changed[key]["total"] += 1
        batch.clear()
        meta.clear()

    meta_first: dict[int, int] = {}
    for n, row in enumerate(rows):
        image = read_image(args.dataset / row["file"])
        if image is None:
            continue
        batch.append(image)
        meta.append((None, row["source"], n))
        for copy in range(args.copies):
            kind = KINDS[copy % len(KINDS)]
            batch.append(paste_watermark(image, rng, kind))
            meta.append((kind, row["source"], n))
        if len(batch) >= 128:
            flush()
    if batch:
        flush()

    faces = sum(labels_before.values())
    table = [["watermarks", "faces x copies", "labels changed"]]
    for key in (*KINDS, *sorted(k for k in changed if k.startswith("source")), "all"):
        c = changed[key]
        table.append([key, c["total"], f"{c['changed'] / max(c['total'], 1):.3f}"])
    print(f"{args.split} split of {args.dataset}: {faces} real faces, {args.copies} watermarked copies each, "
          f"model {args.model or 'shipped'}")
    print(text_table(table))
    before = labels_before[INCORRECT] / max(faces, 1)
    after = labels_after[INCORRECT] / max(sum(labels_after.values()), 1)
    print(f"labelled incorrect: {before:.3f} without, {after:.3f} with a watermark ({after - before:+.3f})")


if __name__ == "__main__":
    main()
