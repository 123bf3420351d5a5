"""Shared fixtures: generated datasets, videos and small models, and a real photo a pip package ships."""

from __future__ import annotations

import csv
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import matplotlib
import numpy as np
import pytest

from facemask.files import write_json
from facemask.labels import CLASSES, canonical_label

ROOT = Path(__file__).resolve().parent.parent

GRACE_HOPPER = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
# Grace Hopper's face in a 640x480 frame made by scene(): where the res10 SSD finds it.
FACE_IN_SCENE = (228, 115, 347, 260)
# Dominant colour of the generated images of each class (BGR): the colour model tells them apart.
CLASS_COLORS = {"with_mask": (40, 200, 40), "without_mask": (40, 40, 200), "incorrect_mask": (200, 40, 40)}


# Tiers beside `slow` (trains a model): what a test needs besides this process. The quick local run leaves them
# out (README: python -m pytest -q -m quick); CI runs everything.
TIERS = {
    "process": "runs a script or the tool in a process of its own",
    "ray": "starts Ray",
    "browser": "drives a real (headless) Chromium",
    "broker": "starts a mosquitto MQTT broker",
}
_SPAWNS = re.compile(r"\b(Script|Served)\(|subprocess\.(run|Popen|check_output|call)\(")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains a model; CI runs them")
    for name, what in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    config.addinivalue_line("markers", "quick: none of the above: the default local run")


def pytest_collection_modifyitems(items):
    """Mark each test with the tiers it needs, from its fixtures, its module and its own code."""
    import inspect

    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError):
            source = ""
        tiers = {"browser"} & fixtures | {"broker"} & fixtures
        if item.module.__name__ in ("test_batch", "test_batch_cluster"):
            tiers.add("ray")
        if "api_run" in fixtures or item.module.__name__ == "test_interrupts" or _SPAWNS.search(source):
            tiers.add("process")
        for tier in tiers:
            item.add_marker(tier)
        if not tiers and not item.get_closest_marker("slow"):
            item.add_marker("quick")


def scene() -> np.ndarray:
    """A 640x480 frame with one real face in it."""
    frame = np.zeros((480, 640, 3), np.uint8)
    face = cv2.resize(cv2.imread(str(GRACE_HOPPER)), (358, 420))
    frame[30:450, 100:458] = face
    return frame


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def make_dataset(root: Path, per_class: int = 6, folder_names: dict[str, str] | None = None) -> Path:
    """Coloured noise images per class folder, one corrupt file among them."""
    rng = np.random.default_rng(0)
    for label, color in CLASS_COLORS.items():
        folder = root / (folder_names or {}).get(label, label)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = np.clip(np.array(color) + rng.integers(-30, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{i}.png"), image)
    (root / "with_mask" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root


def save_color_model(path: Path, classes: list[str]) -> Path:
    """A tiny Keras model whose outputs follow the crop's colour, saved with a model card.

    A random MobileNetV2 outputs a constant 1/3, which cannot tell whether outputs are mapped right.
    """
    import keras

    inputs = keras.Input((224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    dense = keras.layers.Dense(len(classes), activation="softmax")
    model = keras.Model(inputs, dense(x))
    # Inputs are RGB: output k responds to the colour channel of the class named classes[k].
    channel = {"with_mask": 1, "without_mask": 0, "incorrect_mask": 2}
    kernel = np.zeros((3, len(classes)), np.float32)
    for k, name in enumerate(classes):
        kernel[channel[canonical_label(name)], k] = 12.0
    dense.set_weights([kernel, np.zeros(len(classes), np.float32)])
    model.save(path)
    write_json(path.with_suffix(".json"), {"classes": classes})
    return path


@pytest.fixture(scope="session")
def color_model(tmp_path_factory) -> Path:
    return save_color_model(tmp_path_factory.mktemp("color") / "color.h5", list(CLASSES))


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A MobileNetV2 model trained by the real script on a tiny dataset, from random weights."""
    from facemask.cli import train_main

    root = tmp_path_factory.mktemp("train")
    dataset = make_dataset(root / "dataset")
    code = train_main([
        "--dataset", str(dataset), "--model", str(root / "model.h5"), "--plot", str(root / "plots"),
        "--weights", "none", "--epochs", "2", "--views", "1", "--batch-size", "8",
    ])
    assert code == 0
    return root / "model.h5"


@pytest.fixture(scope="session")
def scene_video(tmp_path_factory) -> Path:
    frames = [scene() for _ in range(8)] + [np.zeros((480, 640, 3), np.uint8)] * 2
    return write_video(tmp_path_factory.mktemp("video") / "scene.mp4", frames)


class Script:
    """A script in a process of its own, its output lines collected on a thread as they come."""

    def __init__(self, *args: str, env: dict[str, str | None] | None = None):
        """`env`: variables to set beside this process's own, or (None) to leave out."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONFAULTHANDLER": "1",
               **(env or {})}
        env = {k: v for k, v in env.items() if v is not None}
        # A shell starts background jobs with Ctrl-C ignored, and an ignored signal stays ignored in every child;
        # the script must get Ctrl-C as a user's terminal sends it, however the test suite was started.
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: queue.Queue = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._collect, args=(stream, sink), daemon=True).start()

    def _collect(self, stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)
            self.lines.put(line)

    def wait_for(self, predicate, timeout: float = 120) -> None:
        """Until predicate() holds; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, f"ended early ({self.proc.returncode}): {''.join(self.err)[-2000:]}"
            assert time.monotonic() < deadline, f"timed out: {''.join(self.out)[-1000:]}"
            time.sleep(0.002)

    def wait_for_line(self, text: str, timeout: float = 120) -> None:
        self.wait_for(lambda: any(text in line for line in self.out + self.err), timeout)

    def finish(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            time.sleep(3)
            self.proc.kill()
            time.sleep(0.1)
            pytest.fail(f"still running {timeout} s after the signal:\n{self.stdout[-1500:]}\n{self.stderr[-6000:]}")
        time.sleep(0.1)  # the reader threads take the last lines
        return code

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def read_frames(s, count: int) -> list[bytes]:
    """The first `count` JPEG parts of an MJPEG response read from socket `s`."""
    data, frames = b"", []
    while len(frames) < count:
        chunk = s.recv(65536)
        assert chunk, "the stream ended"
        data += chunk
        while (m := re.search(rb"Content-Length: (\d+)\r\n\r\n", data)) and len(data) >= m.end() + int(m[1]):
            frames.append(data[m.end() : m.end() + int(m[1])])
            data = data[m.end() + int(m[1]) :]
    return frames


def read_rows(path: Path) -> list[dict]:
    """A CSV file's rows as dicts, by its header."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(autouse=True, scope="session")
def _console_logging():
    """The library's warnings and notices print as the commands print them, also where a test calls it directly."""
    from facemask.errors import console_logging

    console_logging()
