"""How does the batch runner's throughput grow with workers on this machine? Prints frames per second for 1 and 2
workers (and more with --workers), measured in one run on one local Ray instance:

    python -m bench.batch [--videos 4] [--frames 150] [--faces 3] [--workers 1 2]

The inputs are copies of bench.speed's 640x480 test video (Grace Hopper's portrait, drifting); each worker takes
one CPU (--threads 1) and loads the model once. `seconds` runs from handing out the first video to the last
result, workers' start-up and model loading included, as a batch pays them; `frames/s` is all frames over that.
The figure for as many workers as the machine has cores is the per-node figure a cluster of such nodes
multiplies (nodes do not share any work but the driver's bookkeeping).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.speed import make_video
from facemask.batch.cluster import run_units
from facemask.batch.work import Options, make_jobs


def measure(videos: list[Path], workers: int, detect_every: int) -> tuple[float, int]:
    """Seconds and frames for one batch over the videos with `workers` workers, into a fresh output folder."""
    out = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        units = [u for job in make_jobs([str(v) for v in videos]) for u in job.units]
        start = time.perf_counter()
        outcomes = run_units(units, out, Options(detect_every=detect_every), workers, 1, 0, progress=False)
        seconds = time.perf_counter() - start
        failed = [o.error for o in outcomes if o.error]
        if failed:
            raise SystemExit(f"the benchmark's batch failed: {failed[0]}")
        return seconds, sum(o.summary["frames"] for o in outcomes)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--videos", type=int, default=4, help="inputs in each batch")
    p.add_argument("--frames", type=int, default=150, help="frames per video")
    p.add_argument("--faces", type=int, choices=(1, 3, 8), default=3, help="faces per frame")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    p.add_argument("--detect-every", type=int, default=1, help="as the video script's --detect-every")
    args = p.parse_args()

    import ray

    folder = Path(tempfile.mkdtemp(prefix="bench-videos-"))
    ray.init(num_cpus=max(max(args.workers), os.cpu_count() or 1), include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=False)
    try:
        video = make_video(folder / "v0.mp4", args.faces, args.frames)
        videos = [video] + [Path(shutil.copy(video, folder / f"v{i}.mp4")) for i in range(1, args.videos)]
        measure(videos[:1], 1, args.detect_every)  # warm-up: the first workers Ray starts are the slowest
        results = {n: measure(videos, n, args.detect_every) for n in args.workers}
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)

    base = results[args.workers[0]]
    print(f"{args.videos} videos x {args.frames} frames, {args.faces} faces, 640x480, --detect-every "
          f"{args.detect_every}; {os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'seconds':>8} {'frames/s':>9} {'speed-up':>9}")
    for n, (seconds, frames) in results.items():
        print(f"{n:>7} {seconds:>8.1f} {frames / seconds:>9.1f} {(frames / seconds) / (base[1] / base[0]):>8.2f}x")


if __name__ == "__main__":
    main()
