"""facemask-batch (python -m facemask.batch): many videos, photo folders and streams on a pool of Ray workers."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from ..cli import (
    add_options,
    check_model_arguments,
    check_serve_arguments,
    checked,
    console_entry,
    face_detector_inputs,
    int_range,
    linger,
    model_arguments,
    model_inputs,
    mqtt_argument,
    options_from,
    prog,
    run_command,
    serve_arguments,
    show_progress,
    start_dashboard,
)
from ..errors import FacemaskError, notice, printable, warn
from ..files import write_json
from ..live import LiveCopy
from ..outputs import Input, Output, check_outputs
from ..pipeline import StreamOptions
from ..scanning import VIDEO_MIN_FACE
from ..stream import is_url, local_files, redact
from .work import Options, combine, expand, finish, is_complete, is_list, make_jobs, read_list, summary_lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog("python -m facemask.batch"),
        description="Detect masks in many videos, photo folders and streams at once, on a local Ray instance "
                    "or a Ray cluster. Each input gets a folder in --out (faces.csv, events.jsonl, summary.json); "
                    "--out/summary.json sums up the run. A rerun skips the inputs already complete.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="a video file or stream URL, a folder of photos (or one photo), or a text file (.txt, "
                        ".list) listing such inputs one per line (# comments; paths relative to the list)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="folder for the outputs")
    p.add_argument("--streams", metavar="FILE",
                   help="instead of INPUTs: a text file of cameras (an index) and stream URLs, each watched by a "
                        "long-lived worker until Ctrl-C; all their events go to DIR/events.jsonl")
    cluster = p.add_argument_group("Ray")
    cluster.add_argument("--ray", metavar="ADDRESS",
                         help="join this Ray cluster: auto (the one started on this machine with ray start), "
                              "ray://HOST:10001 (Ray Client) or HOST:6379; default: a local Ray instance on this "
                              "machine's cores")
    cluster.add_argument("--workers", type=int_range(1, 100_000), metavar="N",
                         help="workers, each loading the model once; default: the cluster's CPUs / --threads")
    cluster.add_argument("--threads", type=int_range(1, 256), default=1, metavar="T",
                         help="CPUs (OpenCV and classifier threads) per worker")
    cluster.add_argument("--retries", type=int_range(0, 100), default=2, metavar="R",
                         help="try an input again up to R times when it fails or its worker dies; then report it "
                              "and go on with the others")
    photos = p.add_argument_group("photos")
    photos.add_argument("--shard-size", type=int_range(1, 1_000_000), default=200, metavar="N",
                        help="photos of a folder per unit of work")
    photos.add_argument("-r", "--recursive", action="store_true", help="also take the photos in sub-folders")
    p.add_argument("--annotate", action="store_true",
                   help="also write each video annotated (annotated.mp4) and annotated copies of photos")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars (there are none when stderr is "
                   "not a terminal)")
    model_arguments(p, VIDEO_MIN_FACE)
    video = p.add_argument_group("video, as detect_mask_video.py has them")
    add_options(video, StreamOptions)
    video.add_argument("--on-alert", metavar="CMD",
                       help="shell command run on each alert with the event as JSON on its stdin: on the worker's "
                            "machine for files, on this one for --streams")
    mqtt_argument(video, "the stream's name, or a video's output folder")
    serve_arguments(p, "the streams run (--streams; ?stream=N picks one)", "every stream has ended")
    return p


def _options(args: argparse.Namespace) -> Options:
    return options_from(Options, args)


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if bool(args.inputs) == bool(args.streams):
        p.error("give either INPUTs or --streams FILE")
    if args.serve and not args.streams:
        p.error("--serve needs --streams: the dashboard shows live streams, not a batch of files")
    check_serve_arguments(p, args)
    check_model_arguments(p, args)
    given = args.inputs or [args.streams]
    for path in (g for g in given if not is_url(g)):
        if not Path(path).exists():
            p.error(f"no such file or folder: {path}")
        if args.streams and not Path(path).is_file():
            p.error(f"--streams: not a file: {path}")
    try:
        args.sources = _stream_sources(Path(args.streams)) if args.streams else expand(args.inputs)
    except FacemaskError as e:
        p.error(str(e))
    inputs = [*model_inputs("--model", args.model), *face_detector_inputs(args.face_detector)]
    inputs += [Input("INPUT", g) for g in given if is_list(g) or args.streams]
    for path in (p for s in args.sources for p in local_files(s)):
        inputs.append(Input("INPUT", path, recursive=args.recursive and path.is_dir()))
    check_outputs(p, [Output("--out", args.out, folder=True)], inputs)


def _stream_sources(path: Path) -> list[str | int]:
    """The --streams file: a camera index, a URL or a path per line."""
    sources: list[str | int] = []
    for entry in read_list(path):
        name = Path(entry).name
        sources.append(int(name) if name.isdigit() and not Path(entry).exists() else entry)
    return sources


@contextlib.contextmanager
def _locked(out: Path):
    """One run at a time per output folder: two would take the same units, and tidy each other's work away."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    try:  # never through a link planted there: opening it to write would truncate what it points at
        fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise FacemaskError(f"cannot lock {out / '.lock'}: {e.strerror or e}") from None
    with open(fd, "r+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise FacemaskError(f"another batch run is writing to {out}: wait for it, or name another --out") from None
        yield


def _batch(args: argparse.Namespace) -> None:
    from .cluster import cluster_cpus, ray_module, run_units, start_ray, watch_streams

    options, out = _options(args), Path(args.out)
    args.progress = show_progress(args)  # before Ray starts: it may wrap stderr
    ray_module()
    dashboard = start_dashboard(args, lambda: [LiveCopy(str(s)) for s in args.sources])
    try:
        options.load_detector()  # a bad model is one error line here, not a failure on every worker
        ending = None
        with _locked(out):
            started = start_ray(args.ray, os.cpu_count())
            try:
                workers = _workers(args, cluster_cpus())
                if args.streams:
                    ending = _streams(args, options, out, watch_streams, dashboard)
                else:
                    _inputs(args, options, out, workers, run_units)
            finally:
                if started:
                    ray_module().shutdown()
        if dashboard and args.serve_linger and not isinstance(ending, KeyboardInterrupt):
            linger(dashboard, args.serve_linger)  # the folder is free and Ray is down: only the page stays
        if ending:
            raise ending
    finally:
        if dashboard:
            dashboard.stop()


def _workers(args: argparse.Namespace, cpus: int) -> int:
    """As many workers as asked, or as the cluster's CPUs hold: a worker that gets no CPU never starts, and
    the units handed to it would wait for ever."""
    fits = max(1, cpus // args.threads)
    if args.streams and len(args.sources) > fits:
        warn(f"{len(args.sources)} streams need {len(args.sources) * args.threads} CPUs and the cluster has {cpus}: "
             "the streams beyond them wait until CPUs are added")
    if args.workers and args.workers > fits:
        warn(f"--workers {args.workers} x --threads {args.threads} is more than the cluster's {cpus} CPUs: "
             f"running {fits} worker(s)")
    return min(args.workers or fits, fits)


def _inputs(args, options: Options, out: Path, workers: int, run_units) -> None:
    jobs = make_jobs(args.sources, args.shard_size, args.recursive)
    units = [u for job in jobs if not job.error for u in job.units]
    todo = [u for u in units if not is_complete(u, out, options)]
    if len(todo) < len(units):
        notice(f"{len(units) - len(todo)} of {len(units)} unit(s) already complete: skipped")
    outcomes, interrupted = [], False
    try:
        outcomes = run_units(todo, out, options, workers, args.threads, args.retries, args.progress)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        errors = {o.unit: o.error for o in outcomes if o.error}
        ran = {o.unit for o in outcomes if o.summary}
        summary = finish(jobs, out, options, errors, ran, interrupted)
        for line in summary_lines(summary):
            print(printable(line))
    if summary["total"]["failed"]:
        raise FacemaskError(f"{summary['total']['failed']} of {len(jobs)} input(s) failed: see {out / 'summary.json'}")


def _streams(args, options: Options, out: Path, watch_streams, dashboard=None) -> BaseException | None:
    """Watch the streams and write their summary; returns how the command is to end: the Ctrl-C (SIGTERM) that
    stopped them, an error naming the streams lost, or None."""
    log = out / "events.jsonl"
    outcomes, interrupted = watch_streams(args.sources, log, options, args.threads, args.retries, args.on_alert,
                                          dashboard.lives if dashboard else None, args.serve_fps)
    streams = [(o.summary or {"input": redact(o.unit.source)}) | {"error": o.error} for o in outcomes]
    write_json(out / "summary.json", {"streams": streams, "total": combine(s for s in streams if "frames" in s),
                                      "events": str(log)})
    print(f"{len(outcomes)} stream(s) watched; events in {log}", flush=True)
    if interrupted:
        return interrupted
    lost = [o for o in outcomes if o.error]
    if lost:
        return FacemaskError(f"{len(lost)} of {len(outcomes)} stream(s) lost: see {out / 'summary.json'}")
    return None


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    checked(p, _check, args)
    return run_command(_batch, args)


console = console_entry(main)
