"""Does watching the dashboard slow the detector? One run of the video pipeline, with --serve's dashboard up,
alternating phases with no client and with two clients reading the live video; prints each phase's FPS and
the ratio (docs/dashboard.md).

    python -m bench.dashboard [--phases 10] [--phase-seconds 8] [--clients 2] [--screenshot docs/dashboard.png]

The clients are separate processes that read the MJPEG stream as fast as it comes, as browsers on other machines
would; alternating the phases (none, two, none, two, ...) cancels the drift of anything else the machine runs.
`--screenshot` then runs detect_mask_video.py --serve on samples/demo.mp4 with headless Chromium watching, and
saves the page once the video has ended.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CLIENT = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /video.mjpg HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
while s.recv(1 << 16):
    pass
"""


def measure(video: Path, phases: int, seconds: float, clients: int) -> list[dict]:
    """Runs the pipeline in this process (the main thread, as the script does) while a thread steps through the
    phases; ends the run with SIGINT, as Ctrl-C would."""
    from facemask import MaskDetector
    from facemask.cli import video_parser
    from facemask.dashboard import Dashboard
    from facemask.live import LiveState
    from facemask.pipeline import StreamOptions
    from facemask.sinks import AlertOutputs
    from facemask.video import run

    defaults = video_parser().parse_args([])
    detector = MaskDetector.load()
    live = LiveState(str(video), max_fps=defaults.serve_fps)
    dashboard = Dashboard([live], "127.0.0.1", 0)
    dashboard.start()
    results: list[dict] = []

    def sample() -> tuple[int, int, float]:
        stats = live.stats()
        return stats["frames"], live.encoded, time.perf_counter()

    def control() -> None:
        try:
            while live.stats()["frames"] < 60:  # warm up: model, caches, the detector thread
                time.sleep(0.1)
            for phase in range(phases):
                watchers = clients if phase % 2 else 0
                procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(dashboard.port)])
                         for _ in range(watchers)]
                deadline = time.monotonic() + 10
                while live.stats()["viewers"] < watchers and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(1.0)  # the clients are reading
                f0, e0, t0 = sample()
                time.sleep(seconds)
                f1, e1, t1 = sample()
                for p in procs:
                    p.terminate()
                    p.wait()
                results.append({"clients": watchers, "fps": (f1 - f0) / (t1 - t0), "sent_fps": (e1 - e0) / (t1 - t0),
                                "frames": f1 - f0})
                if live.stats()["state"] != "running":
                    break
        finally:
            if live.stats()["state"] == "running":
                os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=control, daemon=True).start()
    try:
        summary = run(detector, str(video), StreamOptions(), alerts=AlertOutputs(bell=False), sinks=[live])
    finally:
        dashboard.stop()
    if not summary.interrupted:
        print("warning: the video ended before the last phase; use a longer one", file=sys.stderr)
    return results


def screenshot(path: Path) -> None:
    """The page of a run on the demo video, in headless Chromium, once the video has ended."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
    proc = subprocess.Popen(
        [sys.executable, "detect_mask_video.py", "--video", "samples/demo.mp4", "--no-display", "--no-bell", "-q",
         "--alert-after", "1", "--serve", "127.0.0.1:0", "--serve-linger", "120"],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        port = None
        for line in proc.stderr:
            if m := re.search(r"dashboard: http://127\.0\.0\.1:(\d+)/", line):
                port = m[1]
                break
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        driver.get(f"http://127.0.0.1:{port}/")
        deadline = time.monotonic() + 120
        while driver.find_element("id", "state").text != "ended" and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2.5)
        driver.save_screenshot(str(path))
        print(f"wrote {path}")
    finally:
        driver.quit()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phases", type=int, default=10, help="phases in all, alternately without and with clients")
    p.add_argument("--phase-seconds", type=float, default=8.0, help="length of each measured phase")
    p.add_argument("--clients", type=int, default=2, help="clients reading the video in the phases with clients")
    p.add_argument("--video", type=Path, help="video to run on (default: a generated 640x480 one with 3 faces, "
                   "long enough for the phases)")
    p.add_argument("--screenshot", type=Path, help="also save a screenshot of the page of a run on the demo video")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            from bench.speed import make_video

            video = make_video(Path(tmp) / "bench.mp4", 3, int(40 * (args.phases * (args.phase_seconds + 2) + 15)))
        results = measure(video, args.phases, args.phase_seconds, args.clients)
    print(f"{'phase':>5} {'clients':>7} {'frames':>6} {'FPS':>6} {'encoded/s':>9}")
    for i, r in enumerate(results, 1):
        print(f"{i:>5} {r['clients']:>7} {r['frames']:>6} {r['fps']:>6.1f} {r['sent_fps']:>9.1f}")
    idle = [r["fps"] for r in results if not r["clients"]]
    watched = [r["fps"] for r in results if r["clients"]]
    if idle and watched:
        a, b = sum(idle) / len(idle), sum(watched) / len(watched)
        print(f"mean FPS: no client {a:.1f}, {args.clients} clients {b:.1f}; ratio {b / a:.3f} ({b / a - 1:+.1%})")
        # each phase with clients against the mean of the phases without around it: less sensitive to drift
        pairs = [r["fps"] / statistics.mean(n["fps"] for n in results[max(i - 1, 0) : i + 2] if not n["clients"])
                 for i, r in enumerate(results) if r["clients"] and i > 0]
        if pairs:
            print(f"median ratio of each phase with clients to its neighbours without: {statistics.median(pairs):.3f}")
    if args.screenshot:
        screenshot(args.screenshot)


if __name__ == "__main__":
    main()
