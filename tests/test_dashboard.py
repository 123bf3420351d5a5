"""The dashboard (--serve): the page in a real browser, the JSON API against the event log and the summary, the
token, what a request may not reach, clients that vanish or stall, Ctrl-C; all on generated videos, localhost only.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import redirect_stderr
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import Script, read_frames, scene, write_video

from facemask.cli import serve_address, video_main
from facemask.live import MAX_WIDTH, THUMB_WIDTH, LiveCopy, LiveState, encode_jpeg
from facemask.types import Face, FrameResult, Summary

pytest.importorskip("starlette", reason="the dashboard extra is not installed")
pytest.importorskip("uvicorn", reason="the dashboard extra is not installed")

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789"
FPS = 10  # of the generated videos; the shipped model calls Grace Hopper unmasked: one alert at frame 10


def moving_face_video(path: Path, frames: int) -> Path:
    """Grace Hopper drifting right, so that each frame differs from the last."""
    base = scene()
    return write_video(path, [np.roll(base, 2 * (i % 60), axis=1) for i in range(frames)], fps=FPS)


class Served(Script):
    """detect_mask_video.py --serve in a process of its own, its output collected on threads as it comes."""

    def __init__(self, video: Path, *extra: str, token: str | None = TOKEN):
        self.token = token
        super().__init__("detect_mask_video.py", "--video", str(video), "--no-display", "--no-bell", "-q",
                         "--alert-after", "1", "--serve", "127.0.0.1:0", *extra,
                         env={"FACEMASK_SERVE_TOKEN": token})
        self.wait_for(lambda: "dashboard: http://" in self.stderr, 60)
        self.port = int(re.search(r"dashboard: http://127\.0\.0\.1:(\d+)/", self.stderr).group(1))

    def request(self, path: str, token: str | None = "default", headers: dict | None = None,
                query_token: str | None = None) -> tuple[int, bytes, dict]:
        token = self.token if token == "default" else token
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if query_token:
            path += ("&" if "?" in path else "?") + f"token={query_token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def json(self, path: str):
        status, body, _ = self.request(path)
        assert status == 200, (status, body)
        return json.loads(body)

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int:
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"still running {timeout} s after {signal.Signals(signum).name}: {self.stderr[-3000:]}")
        time.sleep(0.2)  # the reader threads take the last lines
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def summary_counts(stdout: str) -> dict:
    """The figures of the summary the script prints: frames, faces per class, people per class, alerts."""
    names = {"Mask": "with_mask", "No Mask": "without_mask", "Incorrect Mask": "incorrect_mask"}
    faces_line = next(line for line in stdout.splitlines() if " frames, faces: " in line)
    people_line = next(line for line in stdout.splitlines() if line.startswith("people (one per track): "))

    def per_class(text: str) -> dict:
        return {names[m[1]]: int(m[2]) for m in re.finditer(r"(Incorrect Mask|No Mask|Mask) (\d+)", text)}

    return {"frames": int(faces_line.split()[0]), "faces": per_class(faces_line.split(";")[0]),
            "people": per_class(people_line.split(";")[0]), "alerts": int(people_line.rsplit(" ", 1)[1])}


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def mjpeg_client(port: int, token: str | None) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    s.sendall(f"GET /video.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
    return s


# The arguments.


@pytest.mark.parametrize(("text", "expected"), [
    ("8000", ("127.0.0.1", 8000)), ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:0", ("::1", 0)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_serve_address(text, expected):
    assert serve_address(text) == expected


@pytest.mark.parametrize(("argv", "message"), [
    (["--serve", "70000"], "from 0 to 65535"), (["--serve", "host:"], "from 0 to 65535"),
    (["--serve", ":80"], "expected [HOST:]PORT"), (["--serve", "a/b:80"], "not a host"),
    (["--serve-token", "0123456789"], "--serve-token needs --serve"),
    (["--serve", "0", "--serve-token", "short"], "at least 8"),
    (["--serve-linger", "5"], "--serve-linger needs --serve"), (["--serve", "0", "--serve-fps", "0"], "more than 0"),
])
def test_bad_serve_arguments_exit_2(argv, message, scene_video, capsys):
    with pytest.raises(SystemExit) as e:
        video_main(["--video", str(scene_video), "--no-display", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_an_address_in_use_is_one_error_line_before_the_run(scene_video):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        err = io.StringIO()
        with redirect_stderr(err):
            code = video_main(["--video", str(scene_video), "--no-display", "--serve",
                               f"127.0.0.1:{taken.getsockname()[1]}"])
    assert code == 1
    assert re.fullmatch(r"error: --serve: cannot listen on 127\.0\.0\.1:\d+: .*\n", err.getvalue())


def test_without_the_extra_serve_names_it(scene_video, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "starlette" else real(name, *a))
    err = io.StringIO()
    with redirect_stderr(err):
        code = video_main(["--video", str(scene_video), "--no-display", "--serve", "0"])
    assert code == 1
    assert "--serve needs starlette" in err.getvalue() and "facemask-detector[dashboard]" in err.getvalue()


# The state the frame loop publishes.


def face(label: str, track: int) -> Face:
    return Face((10, 10, 100, 100), label, 0.9, np.array([0.9, 0.05, 0.05]), 1.0, track)


def test_nothing_is_encoded_unless_watched_and_then_at_the_capped_rate():
    live = LiveState("cam", max_fps=5)
    frame = np.zeros((480, 640, 3), np.uint8)
    try:
        for i in range(40):
            live.observe(FrameResult(i, i / 10, [face("with_mask", 1)], [], frame=frame, fps=10.0))
            time.sleep(0.005)
        assert live.encoded == 0 and live.jpeg_after(0) is None
        start = time.perf_counter()
        with live.watching():
            while time.perf_counter() - start < 1.0:
                live.observe(FrameResult(0, 0.0, [], [], frame=frame.copy(), fps=10.0))
                time.sleep(0.005)
            seconds = time.perf_counter() - start
            _, jpeg = live.jpeg_after(0)
        assert 2 <= live.encoded <= 5 * seconds + 1  # ~180 frames offered in that second
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
        time.sleep(0.5)  # an encoding begun before the watcher left may still finish
        count = live.encoded
        live.observe(FrameResult(1, 0.1, [], [], frame=frame, fps=10.0))
        time.sleep(0.3)
        assert live.encoded == count  # nobody watches any more
    finally:
        live.shutdown()


def test_counts_history_and_events():
    live = LiveState("rtsp://user:secret@camera/stream")
    frame = np.zeros((480, 640, 3), np.uint8)
    try:
        alert = {"event": "alert", "track": 2, "label": "without_mask"}
        two = [face("with_mask", 1), face("without_mask", 2)]
        live.observe(FrameResult(0, 30.0, two, [alert], frame=frame, fps=12.0))
        live.observe(FrameResult(1, 61.0, [face("with_mask", 1)], [], frame=frame, fps=12.0))
        stats = live.stats()
        assert "secret" not in stats["source"]
        assert stats["in_view"] == {"with_mask": 1, "without_mask": 0, "incorrect_mask": 0}
        assert stats["faces"] == {"with_mask": 2, "without_mask": 1, "incorrect_mask": 0}
        assert (stats["compliance"], stats["run_compliance"], stats["alerts"]) == (1.0, 0.6667, 1)
        assert [(b["minute"], b["faces"], b["compliance"]) for b in stats["history"]] == [(0, 2, 0.5), (1, 1, 1.0)]
        (event,) = live.events()
        assert event == alert | {"id": 1, "thumbnail": "snapshots/1.jpg"}
        thumb = cv2.imdecode(np.frombuffer(live.thumbnail(1), np.uint8), cv2.IMREAD_COLOR)
        assert thumb.shape == (240, THUMB_WIDTH, 3)
        assert live.events(since=1) == [] and live.thumbnail(2) is None
        from collections import Counter

        live.observe(FrameResult(2, 0.2, [], [{"event": "track_end", "track": 1}]))  # a run's last result
        live.close(Summary(frames=2, seconds=2 / 11.5, people=Counter(with_mask=1, without_mask=1), alerts=1))
        stats = live.stats()
        assert (stats["state"], stats["people"]["without_mask"], stats["mean_fps"]) == ("ended", 1, 11.5)
        assert [e["id"] for e in live.events()] == [1, 2]
    finally:
        live.shutdown()


def test_a_copy_in_another_process_gets_what_changed_and_frames_only_while_watched():
    """LiveCopy, as the batch streams runner's driver keeps one per stream: events renumbered across runs,
    stale answers ignored, frames encoded at the source only while the copy is watched."""
    from collections import Counter

    frame = np.zeros((480, 640, 3), np.uint8)
    copy = LiveCopy("rtsp://user:secret@camera/stream")
    first, second = LiveState("rtsp://user:secret@camera/stream", max_fps=20), LiveState("cam", max_fps=20)
    try:
        alert = {"event": "alert", "track": 2, "label": "without_mask"}
        first.observe(FrameResult(0, 1.0, [face("without_mask", 2)], [alert], frame=frame, fps=10.0))
        stale = first.changes(copy.since, False)
        first.observe(FrameResult(1, 1.1, [face("with_mask", 1)], [], frame=frame, fps=10.0))
        copy.apply(first.changes(copy.since, False))
        copy.apply(stale)  # fetched earlier, arrived later: changes nothing
        assert copy.stats()["frames"] == 2 and "secret" not in copy.stats()["source"]
        assert [e["id"] for e in copy.events()] == [1]
        assert copy.events()[0]["thumbnail"] == "snapshots/1.jpg" and copy.thumbnail(1).startswith(b"\xff\xd8")
        assert first.encoded == 0 and copy.jpeg_after(0) is None  # nobody watches: no frame encoded

        with copy.watching():
            assert copy.viewers == 1
            first.changes(copy.since, copy.viewers > 0)
            deadline = time.monotonic() + 10
            while copy.jpeg_after(0) is None and time.monotonic() < deadline:
                first.observe(FrameResult(2, 1.2, [], [], frame=frame.copy(), fps=10.0))
                time.sleep(0.05)
                copy.apply(first.changes(copy.since, True))
            _, jpeg = copy.jpeg_after(0)
            assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
        first.changes(copy.since, False)
        time.sleep(0.3)  # an encoding begun while watched may still end
        encoded = first.encoded
        first.observe(FrameResult(3, 1.3, [], [], frame=frame.copy(), fps=10.0))
        time.sleep(0.3)
        assert first.encoded == encoded  # the copy's watcher has left

        first.observe(FrameResult(4, 1.4, [], [{"event": "track_end", "track": 2}]))
        first.close(Summary(frames=4, seconds=4 / 9.5, people=Counter(without_mask=1, with_mask=1), alerts=1))
        copy.apply(first.changes(copy.since, False))
        assert copy.stats()["state"] == "ended"
        copy.end("lost")  # the driver gives the stream up: its watcher could only say it ended
        copy.apply(first.changes(copy.since, False))
        assert (copy.stats()["state"], copy.stats()["frames"]) == ("lost", 4)
        second.observe(FrameResult(0, 0.0, [face("without_mask", 1)], [alert | {"track": 1}], frame=frame, fps=10.0))
        copy.apply(second.changes(copy.since, False))  # watched again: a new run
        copy.apply(stale)  # an answer of the run before changes nothing
        assert [(e["id"], e["track"]) for e in copy.events()] == [(1, 2), (2, 2), (3, 1)]
        assert copy.events(since=2)[0]["thumbnail"] == "snapshots/3.jpg" and copy.thumbnail(3)
        assert (copy.stats()["state"], copy.stats()["frames"]) == ("running", 1)
    finally:
        first.shutdown()
        second.shutdown()
        copy.shutdown()


# The API of a real run.


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    video = moving_face_video(root / "face.mp4", 200)
    run = Served(video, "--log", str(root / "events.jsonl"), "--snapshots", str(root / "snaps"),
                 "--serve-linger", "300")
    run.root = root
    yield run
    run.close()


def frames_per_second(run: Served, seconds: float = 1.0) -> float:
    first, start = run.json("/api/stats")["frames"], time.perf_counter()
    time.sleep(seconds)
    return (run.json("/api/stats")["frames"] - first) / (time.perf_counter() - start)


def test_a_client_that_vanishes_or_stalls_leaves_the_pipeline_running(api_run):
    api_run.wait_for(lambda: api_run.json("/api/stats")["frames"] >= 3)
    before = frames_per_second(api_run)
    stalled = mjpeg_client(api_run.port, TOKEN)  # never reads a byte
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    watcher = mjpeg_client(api_run.port, TOKEN)
    frames = read_frames(watcher, 3)
    assert all(cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3) for f in frames)
    assert api_run.json("/api/stats")["viewers"] == 2
    watcher.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # close with a reset
    watcher.close()
    api_run.wait_for(lambda: api_run.json("/api/stats")["viewers"] == 1, 10)
    stats = api_run.json("/api/stats")
    assert stats["state"] == "running", "the video ended too soon for this test"
    after = frames_per_second(api_run)
    assert after >= 0.5 * before, (before, after)
    api_run.stalled = stalled  # still connected when the run ends (test_the_figures_match...)


def test_a_wrong_or_missing_token_is_refused(api_run):
    for path in ("/", "/api/stats", "/api/events", "/metrics", "/video.mjpg", "/snapshots/1.jpg", "/nowhere"):
        for kwargs in ({"token": None}, {"token": "wrong-token-0123456789"}, {"token": TOKEN[:-1]},
                       {"token": None, "query_token": "wrong"}, {"token": TOKEN, "query_token": "wrong"},
                       {"token": None, "headers": {"Authorization": f"Basic {TOKEN}"}}):
            status, body, headers = api_run.request(path, **kwargs)
            assert (status, headers.get("www-authenticate")) == (401, "Bearer"), (path, kwargs)
            assert b"token" in body and b"{" not in body
    status, body, headers = api_run.request("/", token=None, query_token=TOKEN)
    assert status == 200 and b"<canvas" in body
    assert headers["x-content-type-options"] == "nosniff" and "frame-ancestors 'none'" in headers[
        "content-security-policy"]
    assert api_run.request("/api/stats")[0] == 200


def test_metrics_in_prometheus_text_format_follow_the_stats(api_run):
    parser = pytest.importorskip("prometheus_client.parser")
    api_run.wait_for(lambda: api_run.json("/api/stats")["frames"] >= 5)
    before = api_run.json("/api/stats")
    status, body, headers = api_run.request("/metrics")
    after = api_run.json("/api/stats")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in parser.text_string_to_metric_families(body.decode())}
    kinds = {name: f.type for name, f in families.items()}
    assert kinds == {"facemask_frames": "counter", "facemask_fps": "gauge", "facemask_faces": "counter",
                     "facemask_people_in_view": "gauge", "facemask_people_seen": "gauge",
                     "facemask_alerts": "counter", "facemask_dropped_frames": "counter",
                     "facemask_reconnects": "counter", "facemask_stage_seconds": "counter",
                     "facemask_frame_seconds": "histogram"}
    samples = {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("stream", "source")))): s.value
               for f in families.values() for s in f.samples}
    assert all(s.labels["stream"] == "0" and s.labels["source"] == before["source"]
               for f in families.values() for s in f.samples)
    assert before["frames"] <= samples["facemask_frames_total", ()] <= after["frames"]
    for label in before["faces"]:
        assert before["faces"][label] <= samples["facemask_faces_total", (("label", label),)] <= after["faces"][label]
    assert samples["facemask_dropped_frames_total", ()] == 0  # a file: every frame is taken
    assert {dict(k).get("stage") for name, k in samples if name == "facemask_stage_seconds_total"} >= {
        "detect", "classify", "draw"}
    buckets = [v for (name, k), v in samples.items() if name == "facemask_frame_seconds_bucket"]
    count = samples["facemask_frame_seconds_count", ()]
    assert buckets == sorted(buckets) and buckets[-1] == count
    assert before["frames"] - 1 <= count <= after["frames"] - 1  # one interval between two frames
    assert 0 < samples["facemask_frame_seconds_sum", ()]


def test_no_path_from_a_request_reaches_the_disk(api_run):
    api_run.wait_for(lambda: any(e["event"] == "alert" for e in api_run.json("/api/events")))
    snapshot = next(e for e in api_run.json("/api/events") if e["event"] == "alert")["snapshot"]
    assert Path(snapshot).is_file()
    for path in ("/snapshots/../../../../etc/passwd", "/snapshots/..%2F..%2F..%2Fetc%2Fpasswd",
                 "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd", "/dashboard.html",
                 "/facemask/dashboard.html", "/snapshots/" + Path(snapshot).name, "/snapshots/" + snapshot,
                 "/snapshots/%2F" + snapshot.lstrip("/"), "/snapshots/999.jpg", "/snapshots/0.jpg",
                 "/snapshots/-1.jpg", "/snapshots/1.png", "/snapshots/1", "/api/stats/../../etc/passwd",
                 "/video.mjpg/../../etc/passwd"):
        status, body, _ = api_run.request(path)
        assert status == 404, (path, status)
        assert b"root:" not in body and not body.startswith(b"\xff\xd8"), path
    for bad in ("since=-1", "since=x", "limit=100000"):
        assert api_run.request(f"/api/events?{bad}")[0] == 400
    status, _, _ = api_run.request("/api/stats", headers={"Host": "attacker.example"})
    assert status == 421  # DNS rebinding: a loopback dashboard answers to loopback names only
    assert api_run.request("/api/stats", headers={"Host": "localhost:1234"})[0] == 200


def test_the_figures_match_the_event_log_and_the_summary(api_run):
    api_run.wait_for(lambda: "people (one per track)" in api_run.stdout)
    stats = api_run.json("/api/stats")
    summary = summary_counts(api_run.stdout)
    assert stats["state"] == "ended"
    assert summary["frames"] == 200  # the stalled client held nothing up
    assert {k: stats[k] for k in summary} == summary
    assert summary["alerts"] >= 1 and summary["people"]["without_mask"] >= 1
    logged = [json.loads(line) for line in (api_run.root / "events.jsonl").read_text().splitlines()]
    events = api_run.json("/api/events")
    assert [e["id"] for e in events] == list(range(1, len(logged) + 1))
    assert [{k: v for k, v in e.items() if k not in ("id", "thumbnail")} for e in events] == logged
    assert api_run.json("/api/events?since=1&limit=1") == events[-1:]
    alerts = [e for e in events if e["event"] == "alert"]
    assert len(alerts) == stats["alerts"] and all(e["thumbnail"] == f"snapshots/{e['id']}.jpg" for e in alerts)
    status, jpeg, headers = api_run.request("/" + alerts[0]["thumbnail"])
    assert status == 200 and headers["content-type"] == "image/jpeg"
    thumb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape == (240, THUMB_WIDTH, 3)
    assert np.abs(thumb[-2:].astype(int) - (0, 0, 200)).mean() < 40  # the alert banner, as in the snapshot
    assert sum(b["faces"] for b in stats["history"]) == sum(stats["faces"].values())
    start = time.monotonic()
    assert api_run.stop(signal.SIGINT) == 0, api_run.stderr[-2000:]  # Ctrl-C ends the linger: the run was complete
    assert time.monotonic() - start < 10
    assert "Traceback" not in api_run.stderr and refused(api_run.port)
    with contextlib.suppress(OSError, AttributeError):
        api_run.stalled.close()


def test_ctrl_c_stops_the_pipeline_and_the_server_with_the_summary(tmp_path):
    run = Served(moving_face_video(tmp_path / "long.mp4", 600), token=None)
    try:
        run.wait_for(lambda: run.json("/api/stats")["frames"] >= 5)
        watcher = mjpeg_client(run.port, None)
        read_frames(watcher, 1)
        start = time.monotonic()
        assert run.stop(signal.SIGINT) == 130
        assert time.monotonic() - start < 15
        watcher.close()
        assert "stopped by SIGINT" in run.stdout and 0 < summary_counts(run.stdout)["frames"] < 600
        assert "interrupted" in run.stderr and "Traceback" not in run.stderr
        assert refused(run.port)
    finally:
        run.close()


# A real browser.


def browser_paths() -> tuple[str, str] | None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture
def browser():
    pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt)")
    paths = browser_paths()
    if paths is None:
        pytest.skip("no chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(paths[1]))  # no selenium-manager, no download
    yield driver
    driver.quit()


FRAME_SIGNATURE = """
const img = document.getElementById('video');
if (!img.naturalWidth) return null;
const c = document.createElement('canvas'); c.width = 64; c.height = 48;
const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0, 64, 48);
return Array.from(ctx.getImageData(0, 0, 64, 48).data).join(',');
"""


def test_the_page_in_a_real_browser(browser, tmp_path):
    run = Served(moving_face_video(tmp_path / "face.mp4", 300), "--serve-linger", "300")
    try:
        browser.get(f"http://127.0.0.1:{run.port}/?token={TOKEN}")
        text = lambda element_id: browser.find_element("id", element_id).text  # noqa: E731

        run.wait_for(lambda: text("state") == "running" and int(text("frames")) > 0, 60)
        run.wait_for(lambda: browser.execute_script("return document.getElementById('video').naturalWidth") == 640)
        first = browser.execute_script(FRAME_SIGNATURE)
        run.wait_for(lambda: browser.execute_script(FRAME_SIGNATURE) not in (None, first), 30)  # frames arrive

        run.wait_for(lambda: browser.find_elements("css selector", "#alerts tr.alert img.thumb"), 60)
        row = browser.find_element("css selector", "#alerts tr.alert")
        assert row.get_attribute("data-label") == "without_mask" and "No Mask" in row.text
        assert re.search(rf"#{row.get_attribute('data-track')} No Mask", row.text)
        assert re.search(r"\d\d:\d\d:\d\d", row.text)  # the time of the alert
        run.wait_for(lambda: browser.execute_script(
            "const i = document.querySelector('#alerts img.thumb'); return i.complete && i.naturalWidth"), 30)

        run.wait_for(lambda: text("state") == "ended", 120)
        time.sleep(1.5)  # one more poll of the final figures
        summary = summary_counts(run.stdout)
        shown = {c: int(text(f"people-{c}")) for c in summary["people"]}
        assert shown == summary["people"]
        assert int(text("frames")) == summary["frames"] == 300
        assert int(text("alert-count")) == summary["alerts"] == len(browser.find_elements("css selector", "tr.alert"))
        assert browser.execute_script(
            "return document.getElementById('chart').getContext('2d').getImageData(0,0,800,160).data.some(v => v)")
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
        if os.environ.get("FACEMASK_DASHBOARD_SCREENSHOT"):
            shutil.copy(tmp_path / "dashboard.png", os.environ["FACEMASK_DASHBOARD_SCREENSHOT"])
        logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not logs, logs
        assert run.stop(signal.SIGINT) == 0
    finally:
        run.close()


def test_the_page_picks_one_of_several_streams_in_a_real_browser(browser):
    """The batch streams runner's page, on two states fed here (one grey level each): the list of streams, the
    one in the address shown, another picked from the list."""
    import threading

    from facemask.dashboard import Dashboard

    lives = [LiveState("rtsp://cam-a/live"), LiveState("rtsp://cam-b/live")]
    dashboard = Dashboard(lives, "127.0.0.1", 0)
    dashboard.start()
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set():
            for n, live in enumerate(lives):
                frame = np.full((240, 320, 3), 60 + 120 * n, np.uint8)
                faces = [face("with_mask", t) for t in range(n + 1)]
                live.observe(FrameResult(i, i / 10, faces, [], frame=frame, fps=10.0))
            i += 1
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    grey = "const c = document.createElement('canvas'); const x = c.getContext('2d'); " \
           "x.drawImage(document.getElementById('video'), 0, 0); return x.getImageData(0, 0, 1, 1).data[0];"
    try:
        browser.get(f"{dashboard.url}?stream=1")
        text = lambda element_id: browser.find_element("id", element_id).text  # noqa: E731
        deadline = time.monotonic() + 30
        while not (browser.find_element("id", "streams").is_displayed() and text("source") == "rtsp://cam-b/live"
                   and browser.execute_script("return document.getElementById('video').naturalWidth") == 320):
            assert time.monotonic() < deadline, browser.page_source[-2000:]
            time.sleep(0.1)
        from selenium.webdriver.support.ui import Select

        picker = Select(browser.find_element("id", "streams"))
        assert [o.text for o in picker.options] == ["0: rtsp://cam-a/live", "1: rtsp://cam-b/live"]
        assert picker.first_selected_option.text.startswith("1:") and text("in-view") == "2"
        assert abs(browser.execute_script(grey) - 180) < 10
        picker.select_by_value("0")
        deadline = time.monotonic() + 30
        while not (browser.current_url.endswith("?stream=0") and text("source") == "rtsp://cam-a/live"
                   and browser.execute_script("return document.getElementById('video').naturalWidth") == 320):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert text("in-view") == "1" and abs(browser.execute_script(grey) - 60) < 10
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        stop.set()
        feeder.join(5)
        dashboard.stop()


@pytest.mark.parametrize("size", [(3840, 2160), (1280, 720), (640, 480)])
def test_the_page_gets_frames_no_wider_than_its_cap_whatever_the_camera_gives(size):
    width, height = size
    frame = np.zeros((height, width, 3), np.uint8)
    cv2.rectangle(frame, (width // 4, height // 4), (width // 2, height // 2), (0, 200, 0), -1)
    page = cv2.imdecode(np.frombuffer(encode_jpeg(frame, MAX_WIDTH), np.uint8), cv2.IMREAD_COLOR)
    expected = min(width, MAX_WIDTH)
    assert page.shape == (round(height * expected / width), expected, 3)
    assert page[page.shape[0] * 3 // 8, page.shape[1] * 3 // 8, 1] > 150  # the picture, scaled, not cropped
