"""Soak test: the detector on a generated stream for a given time, with the process's memory printed as it goes.

    python -m bench.soak [--minutes 10] [--model models/mask_detector.h5] [--every 30] [--limit-mb 50]

The frames go through the pipeline detect_mask_video.py runs (facemask.video.run): the reader thread, the face
detector one frame ahead, the classifier, tracking, the monitor with alerts, an event log and snapshots, and
the writer encoding an annotated video. They come from a generated camera: copies of a photo matplotlib ships,
drifting, coming and going, tinted now and then, so that tracks start and end, labels change and alerts fire.
The event log, snapshots and video go to a temporary folder, removed at the end.

Resident memory (RSS) is printed every --every seconds. After the warm-up (--warmup, by default a fifth of the
run, at most a minute) it must grow by less than --limit-mb: the exit status is 1 if it grew by that or more.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

PHOTO = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
WIDTH, HEIGHT, FPS = 640, 480, 15


def rss_mb() -> float:
    """Resident memory of this process in MB, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class GeneratedCamera:
    """A capture that makes its frames: up to `faces` faces drifting across a grey room, each present for a
    while, then gone; one in three is tinted green, blue or orange for a stretch. Ends after `seconds`."""

    def __init__(self, seconds: float, faces: int = 3, seed: int = 0):
        photo = cv2.imread(str(PHOTO))
        self.tile = cv2.resize(photo, (150, 176), interpolation=cv2.INTER_AREA)
        self.tints = [np.array(c, np.float32) for c in ((40, 200, 40), (200, 120, 40), (40, 140, 255))]
        self.deadline = time.monotonic() + seconds
        self.faces = faces
        self.rng = np.random.default_rng(seed)
        self.frames = 0

    def read(self):
        if time.monotonic() >= self.deadline:
            return False, None
        t = self.frames / FPS
        frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
        frame += self.rng.integers(0, 8, frame.shape, dtype=np.uint8)  # sensor noise: no two frames alike
        th, tw = self.tile.shape[:2]
        for i in range(self.faces):
            period = 20 + 7 * i  # seconds; each face is in view for the first 70% of its period
            if (t + 5 * i) % period > 0.7 * period:
                continue
            x = int((WIDTH - tw) * (0.5 + 0.45 * np.sin(t / (3 + i) + 2 * i)))
            y = int((HEIGHT - th) * (0.5 + 0.4 * np.cos(t / (4 + i) + i)))
            face = self.tile[:, ::-1] if i % 2 else self.tile
            if int(t // 10 + i) % 3 == 0:
                tint = self.tints[int(t // 30 + i) % len(self.tints)]
                face = (0.55 * face + 0.45 * tint).astype(np.uint8)
            frame[y : y + th, x : x + tw] = face
        self.frames += 1
        return True, frame

    def get(self, prop):
        return FPS if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10, help="how long to run")
    p.add_argument("--model", default=str(ROOT / "models" / "mask_detector.h5"),
                   help="classifier; its .tflite twin beside it is used when it exists, as by the scripts")
    p.add_argument("--every", type=float, default=30, help="seconds between two memory readings")
    p.add_argument("--warmup", type=float, help="seconds before the baseline reading (default: a fifth of the "
                   "run, at most 60)")
    p.add_argument("--limit-mb", type=float, default=50, help="fail when memory grows by this much after warm-up")
    p.add_argument("--faces", type=int, default=3, help="at most this many faces in view")
    p.add_argument("--detect-every", type=int, default=1, help="as detect_mask_video.py --detect-every")
    p.add_argument("--no-output", action="store_true", help="do not encode the annotated video")
    args = p.parse_args()
    seconds = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(60.0, seconds / 5)

    from facemask import MaskDetector
    from facemask.pipeline import StreamOptions
    from facemask.sinks import AlertOutputs
    from facemask.video import run

    detector = MaskDetector.load(args.model)
    print(f"soak: {args.minutes:g} min of generated {WIDTH}x{HEIGHT} frames, up to {args.faces} faces; "
          f"classifier {detector.classifier.backend}; {os.cpu_count()} CPUs; warm-up {warmup:g} s; "
          f"limit +{args.limit_mb:g} MB", flush=True)
    camera = GeneratedCamera(seconds, args.faces)
    readings: list[tuple[float, int, float]] = []
    done = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        last_frames, last_time = 0, start
        while True:
            now = time.monotonic()
            frames, rss = camera.frames, rss_mb()
            readings.append((now - start, frames, rss))
            fps = (frames - last_frames) / max(now - last_time, 1e-6)
            print(f"{now - start:7.0f} s  {frames:7d} frames  {fps:5.1f} FPS  RSS {rss:7.1f} MB", flush=True)
            last_frames, last_time = frames, now
            if done.wait(args.every):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        alerts = AlertOutputs(log=Path(tmp) / "events.jsonl", snapshots=Path(tmp) / "snapshots", bell=False)
        output = None if args.no_output else Path(tmp) / "soak.mp4"
        options = StreamOptions(detect_every=args.detect_every, alert_after=2.0)
        summary = run(detector, "generated camera", options, output=output, alerts=alerts,
                      opener=lambda source: camera)
        events = sum(1 for _ in open(alerts.log, encoding="utf-8")) if alerts.log.exists() else 0
    done.set()
    sampler.join()
    readings.append((time.monotonic() - start, camera.frames, rss_mb()))

    print(summary)
    print(f"event log: {events} lines")
    base = next(((t, rss) for t, _, rss in readings if t >= warmup), None)
    if base is None or readings[-1][0] - base[0] < args.every:
        print(f"too short to judge: no reading after the {warmup:g} s warm-up")
        return 0
    after = [rss for t, _, rss in readings if t >= base[0]]
    growth, final = max(after) - base[1], after[-1] - base[1]
    print(f"RSS after warm-up ({base[0]:.0f} s): {base[1]:.1f} MB; at most {max(after):.1f} MB, at the end "
          f"{after[-1]:.1f} MB; growth {growth:+.1f} MB (at the end {final:+.1f} MB), limit {args.limit_mb:g} MB")
    if growth >= args.limit_mb:
        print("FAIL: memory grew too much")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
