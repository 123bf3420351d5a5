"""python -m facemask.tools.evaluate: the command line."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

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
from facemask.faces import face_finder_kind, load_face_finder
from facemask.files import sha256, shown_path
from facemask.manifest import MANIFEST
from facemask.outputs import Input, Output, check_outputs
from facemask.tools.label_fixes import read_label_fixes

from .folders import evaluate_dataset
from .photos import evaluate_voc, finder_name, manifest_images
from .summary import summary_text

SPLITS = ("train", "val", "test")


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
        return MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend,
                                 min_face=args.min_face)
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
                  "split": args.split, "face_detector": finder_name(detector),
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
