"""How fast is detection on this machine? Prints a table; every ratio comes from one run on one machine.

    python -m bench.speed [--frames 300] [--rounds 3] [--model models/mask_detector.h5]

For 1, 3 and 8 faces it builds a 640x480 test video from a photo matplotlib ships, then runs, each in a
fresh process (so start-up time and peak memory are each its own), the modes in turn, `--rounds` times
over, and reports each mode's median round: a machine whose speed drifts from one minute to the next then
slows every mode alike instead of the ones that ran during a slow minute.
  ours          detect_mask_video's pipeline (YuNet), writing the annotated video
  ours-k3       the same with --detect-every 3
  detector      decoding plus the default face detector (YuNet) alone: the floor for the whole pipeline
  detector-ssd  decoding plus the res10 SSD alone, the original design's detector
  ours-ssd      the pipeline with --face-detector ssd
  reference     the original project's loop: the res10 SSD, then one Keras model.predict per face
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from facemask.cli import int_range

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = ("ours", "ours-k3", "detector", "detector-ssd", "ours-ssd", "reference")
CHILD_MODES = (*MODES, "decode")
FACES = (1, 3, 8)


def make_video(path: Path, faces: int, frames: int, size: tuple[int, int] = (640, 480)) -> Path:
    """Copies of Grace Hopper's portrait in a grid, drifting a little each frame so tracking has work."""
    import cv2
    import matplotlib
    import numpy as np

    photo = cv2.imread(str(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"))
    cols, rows = {1: (1, 1), 3: (3, 1), 8: (4, 2)}[faces]
    width, height = size
    tw, th = width // cols, height // rows
    scale = min(tw / photo.shape[1], th / photo.shape[0]) * 0.8
    tile = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
    for f in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        dx = int(np.rint(6 * width / 640 * np.sin(f / 8)))
        for i in range(faces):
            r, c = divmod(i, cols)
            img = tile[:, ::-1] if i % 2 else tile
            y = r * th + (th - img.shape[0]) // 2
            x = c * tw + (tw - img.shape[1]) // 2 + dx
            frame[y : y + img.shape[0], x : x + img.shape[1]] = img
        writer.write(frame)
    writer.release()
    return path


class FaceCounts:
    """How many faces each frame showed: {faces in view: frames}."""

    def __init__(self):
        self.frames: Counter = Counter()

    def observe(self, result) -> None:
        if result.frame is not None:
            self.frames[len(result.faces)] += 1

    def close(self, summary) -> None:
        pass


def child(mode: str, video: str, model: str, out: str | None) -> dict:
    """Runs in its own process: one mode over the video (writing the annotated video to `out` where given);
    returns its figures."""
    start = time.perf_counter()
    import cv2
    import numpy as np

    if mode.startswith("ours"):
        from facemask import MaskDetector
        from facemask.cli import video_parser
        from facemask.pipeline import StreamOptions
        from facemask.video import run

        defaults = video_parser().parse_args([])  # the settings detect_mask_video.py runs with
        detector = MaskDetector.load(model, "ssd" if mode == "ours-ssd" else "yunet", min_face=defaults.min_face)
        counts = FaceCounts()
        options = StreamOptions(detect_every=3 if mode == "ours-k3" else 1)  # the script's defaults otherwise
        summary = run(detector, video, options, output=out, sinks=[counts])
        stages = {k: 1000 * v / summary.frames for k, v in summary.stage_seconds.items()}
        return {"frames": summary.frames, "fps": summary.fps, "ms": stages, "backend": detector.classifier.backend,
                "first_frame_s": time.perf_counter() - start - summary.seconds + summary.first_frame_seconds,
                "faces_per_frame": dict(counts.frames)}

    from facemask.faces import load_face_finder

    finder = None if mode == "decode" else load_face_finder("yunet" if mode == "detector" else "ssd")
    if mode == "reference":
        import keras

        net = keras.models.load_model(model, compile=False)
    capture = cv2.VideoCapture(video)
    frames, first, t0 = 0, None, time.perf_counter()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        boxes = finder.find(frame) if finder else []
        if mode == "reference":
            for (x1, y1, x2, y2), _ in boxes:
                face = cv2.resize(cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2RGB), (224, 224))
                net.predict(np.expand_dims(face.astype("float32"), 0), verbose=0)
        frames += 1
        first = first or time.perf_counter() - start
    return {"frames": frames, "fps": frames / (time.perf_counter() - t0), "first_frame_s": first}


def measure(mode: str, video: Path, model: str, out: Path | None, root: Path = ROOT) -> dict:
    """Run one mode in a fresh process (with the code of the checkout at `root`) and add its peak memory."""
    cmd = [sys.executable, "-m", "bench.speed", "--child", mode, "--video", str(video), "--model", model,
           *(["--out", str(out)] if out else [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=root)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{mode} failed: {cmd}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=300,
                   help="frames in each test video: 10 s at 30 FPS, so that start-up (timed apart) weighs little")
    p.add_argument("--model", default=str(ROOT / "models" / "mask_detector.h5"), help="Keras model; its .tflite "
                   "twin beside it is what ours uses")
    p.add_argument("--rounds", type=int_range(1, 100), default=3,
                   help="runs of each mode, in turn with the others; the reference loop, slow, runs once")
    p.add_argument("--child", choices=CHILD_MODES, help=argparse.SUPPRESS)
    p.add_argument("--video", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.video, args.model, args.out)))
        return

    print(f"{os.cpu_count()} CPUs; {args.frames} frames of 640x480 per video; model {args.model}\n")
    print(f"FPS: the median of {args.rounds} rounds (the slowest and fastest in brackets); the other columns are the "
          "median round's\n")
    print("| faces | mode | FPS | vs detector | vs reference | ms/frame: decode, detect, classify, track, draw, encode "
          "| first frame (s) | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for faces in FACES:
            video = make_video(workdir / f"faces{faces}.mp4", faces, args.frames)
            runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
            for round_ in range(args.rounds):
                for mode in MODES if round_ == 0 else [m for m in MODES if m != "reference"]:
                    runs[mode].append(measure(mode, video, args.model, workdir / f"{mode}.mp4"))
            results = {mode: sorted(r, key=lambda x: x["fps"])[len(r) // 2] for mode, r in runs.items()}
            for mode, r in results.items():
                spread = f" ({min(x['fps'] for x in runs[mode]):.1f}-{max(x['fps'] for x in runs[mode]):.1f})" \
                    if len(runs[mode]) > 1 else ""
                ms = r.get("ms", {})
                stages = ", ".join(f"{ms.get(s, 0):.1f}" for s in ("decode", "detect", "classify", "track", "draw",
                                                                   "encode")) if ms else "-"
                print(f"| {faces} | {mode} | {r['fps']:.1f}{spread} | {r['fps'] / results['detector']['fps']:.2f} "
                      f"| {r['fps'] / results['reference']['fps']:.1f}x | {stages} | {r['first_frame_s']:.2f} "
                      f"| {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
