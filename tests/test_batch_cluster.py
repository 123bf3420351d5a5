"""facemask.batch joining a running Ray cluster by its address, as on a real cluster: a head node started with
`ray start --head` on 127.0.0.1 (2 CPUs), stopped at the end by signalling the process group this test started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import scene, write_video

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head_node():
    """The address of a head node of its own (own temporary folder, own ports), whose workers import this
    checkout's facemask as a node with `pip install .[cluster]` would. Token authentication on, as Ray sets it
    up by default: the head node and the driver share Ray's token file (~/.ray/auth_token)."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    ray_cli = Path(sys.executable).with_name("ray")
    if not (Path.home() / ".ray" / "auth_token").is_file():
        subprocess.run([str(ray_cli), "get-auth-token", "--generate"], check=True, capture_output=True)
    env = os.environ | {"PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield f"127.0.0.1:{port}", Path(temp)
    finally:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(wait)
                time.sleep(1)  # the group's other processes end after the one that leads it
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(temp, ignore_errors=True)


def test_a_batch_joins_a_head_node_by_address(head_node, tmp_path):
    """The command as a user runs it on a cluster's machine: its own process, RAY_AUTH_MODE=token."""
    address, temp = head_node
    write_video(tmp_path / "cam.mp4", [np.roll(scene(), 4 * i, axis=1) for i in range(12)])
    write_video(tmp_path / "other.mp4", [scene()] * 6)
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), scene())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "facemask.batch", str(tmp_path / "cam.mp4"), str(tmp_path / "other.mp4"),
               str(photos), "--out", str(out), "--ray", address, "--workers", "2", "-q"]
    env = os.environ | {"PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "token"}
    deadline = time.monotonic() + 90
    while True:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 1 or "cannot join the Ray cluster" not in done.stderr:
            break
        assert time.monotonic() < deadline, "the head node did not come up"
        time.sleep(2)  # the head node is still starting
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [e["status"] for e in summary["inputs"]] == ["done"] * 3
    assert [e["frames"] for e in summary["inputs"]] == [12, 6, 1]
    assert sum(summary["total"]["faces"].values()) >= 12 + 6 + 1
    logs = "".join(p.read_text(errors="replace") for p in temp.glob("session_*/logs/worker-*.out"))
    assert "BatchWorker" in logs  # the workers ran on that node, not in a Ray instance of the command's own
