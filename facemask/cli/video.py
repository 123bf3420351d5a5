"""detect_mask_video.py (facemask-video): its arguments, its checks, and the run they describe."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OutputError, SourceError
from ..interrupt import interrupt_for
from ..live import LiveState
from ..outputs import Input, Output, check_outputs
from ..pipeline import StreamOptions
from ..scanning import VIDEO_MIN_FACE
from ..stream import is_url, local_files
from .arguments import (
    add_options,
    check_input_file,
    check_model_arguments,
    check_serve_arguments,
    checked,
    face_detector_inputs,
    int_range,
    model_arguments,
    model_inputs,
    mqtt_argument,
    options_from,
    serve_arguments,
    show_progress,
)
from .process import command_parser, console_entry, run_command
from .serving import linger, start_dashboard


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


def _video(args) -> None:
    from ..mqtt import MqttSink
    from ..sinks import AlertOutputs
    from ..video import run

    source = args.video if args.video else args.camera
    dashboard = start_dashboard(args, lambda: [LiveState(str(source), max_fps=args.serve_fps)])
    try:
        from ..detector import MaskDetector

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
    if args.video and not is_url(args.video) and not args.video.lower().startswith("file:"):  # a plain path
        check_input_file(parser, "--video", args.video, "a video file")
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


video_console = console_entry(video_main)
