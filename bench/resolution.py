"""Real time at the sizes cameras deliver: frames per second from 640x480 to 4K. Prints a table; every ratio comes
from one run on one machine.

    python -m bench.resolution [--frames 150] [--rounds 1] [--sizes 640x480 1280x720 1920x1080 3840x2160]

For each size it builds a video of 3 people side by side, each a third of the frame wide, drifting a little
each frame, then runs each mode in a fresh process (bench.speed's child):
  ours        detect_mask_video.py's pipeline with its defaults (--min-face included), no video written
  ours-write  the same, writing the annotated video at full size
  ours-k3     ours with --detect-every 3
  detector    decoding plus YuNet at the frame's own size alone (min_face None: what ours did before)
  ours-ssd    the pipeline with --face-detector ssd
  decode      decoding alone
  before      with --before DIR: ours as the checkout in DIR runs it (an earlier commit), writing the video
`vs 640x480` is a mode's FPS over the same mode's at 640x480; `3 faces` the share of frames in which ours showed
exactly the 3 faces.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.speed import ROOT, make_video, measure
from facemask.cli import int_range

MODES = ("ours", "ours-write", "ours-k3", "detector", "ours-ssd", "decode")
SIZES = ("640x480", "1280x720", "1920x1080", "3840x2160")


def size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int_range(10, 10_000), default=150, help="frames in each test video")
    p.add_argument("--rounds", type=int_range(1, 100), default=1,
                   help="runs of each mode, in turn with the others; the median round is reported")
    p.add_argument("--sizes", nargs="+", type=size, default=[size(s) for s in SIZES], metavar="WxH")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--model", default=str(ROOT / "models" / "mask_detector.h5"), help="Keras model; its .tflite "
                   "twin beside it is what ours uses")
    p.add_argument("--before", type=Path, metavar="DIR",
                   help="a checkout of an earlier commit (git worktree add DIR COMMIT): adds the mode 'before'")
    args = p.parse_args()
    if args.before:
        args.modes.append("before")

    print(f"{os.cpu_count()} CPUs; {args.frames} frames a video, 3 people each a third of the frame wide\n")
    print("| size | mode | FPS | vs 640x480 | 3 faces | ms/frame: decode, detect, classify, track, draw, encode "
          "| peak MB |")
    print("|---|---|---|---|---|---|---|")
    base: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for width, height in args.sizes:
            video = make_video(workdir / f"{width}x{height}.mp4", 3, args.frames, (width, height))
            runs: dict[str, list[dict]] = {mode: [] for mode in args.modes}
            for _ in range(args.rounds):
                for mode in args.modes:
                    out = workdir / "out.mp4" if mode in ("ours-write", "before") else None
                    if mode == "before":
                        runs[mode].append(measure("ours", video, args.model, out, args.before))
                    else:
                        runs[mode].append(measure(mode.replace("-write", ""), video, args.model, out))
            for mode, results in runs.items():
                r = sorted(results, key=lambda x: x["fps"])[len(results) // 2]
                base.setdefault(mode, r["fps"])
                per_frame = r.get("faces_per_frame")
                three = f"{int(per_frame.get('3', 0)) / r['frames']:.2f}" if per_frame else "-"
                ms = r.get("ms", {})
                stages = ", ".join(f"{ms.get(s, 0):.1f}" for s in ("decode", "detect", "classify", "track", "draw",
                                                                   "encode")) if ms else "-"
                print(f"| {width}x{height} | {mode} | {r['fps']:.1f} | {r['fps'] / base[mode]:.2f} | {three} "
                      f"| {stages} | {r['peak_mb']:.0f} |", flush=True)
            (workdir / "out.mp4").unlink(missing_ok=True)
            video.unlink()


if __name__ == "__main__":
    main()
