"""facemask.batch on a real local Ray instance (2 CPUs, one for the whole module): the same faces, events and
counts as the video and image scripts run one by one; failures reported, reruns skipped, dead workers retried."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_frames, read_rows, scene, write_video
from prometheus_client.parser import text_string_to_metric_families

from facemask.batch import cluster, work
from facemask.batch.cli import main as batch_main
from facemask.cli import image_main, video_main
from facemask.errors import FacemaskError
from facemask.labels import CLASSES, DISPLAY_NAMES
from facemask.scanning import VIDEO_MIN_FACE

ray = pytest.importorskip("ray")

ALERT_AFTER = "0.3"  # seconds: the generated videos are 1 to 2 s long


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def moving_scene(i: int) -> np.ndarray:
    """The face drifting right, so that tracking has work between frames."""
    return np.roll(scene(), 4 * i, axis=1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Two short videos (one with an empty stretch, so its track ends before the video), a photo folder with
    a face, two faces, none and a corrupt file, and a list file naming the second video and the folder."""
    root = tmp_path_factory.mktemp("inputs")
    write_video(root / "one.mp4", [moving_scene(i) for i in range(18)])
    black = np.zeros((480, 640, 3), np.uint8)
    write_video(root / "two.mp4", [scene()] * 10 + [black] * 12 + [scene()] * 6, fps=10)
    photos = root / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), scene())
    cv2.imwrite(str(photos / "b.png"), np.hstack([scene(), scene()]))
    cv2.imwrite(str(photos / "c.jpg"), black)
    (photos / "d.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (root / "more.txt").write_text("# the second video and the photos\ntwo.mp4\n\nphotos\n")
    return root


def events(path: Path) -> list[dict]:
    """The log's events without their wall-clock time, which differs from run to run."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


def script_summary(text: str) -> dict:
    """Frames, faces and people per class and alerts, from the summary the video script prints."""
    def per_class(part: str) -> dict:
        return {c: int(re.search(rf"{DISPLAY_NAMES[c]} (\d+)", part).group(1)) for c in CLASSES}

    faces, people = text.split("people")[:2]
    return {"frames": int(re.search(r"(\d+) frames", text).group(1)), "faces": per_class(faces),
            "people": per_class(people), "alerts": int(re.search(r"alerts: (\d+)", text).group(1))}


def run_batch(argv: list[str], capsys) -> tuple[int, dict, str]:
    code = batch_main([*argv, "--alert-after", ALERT_AFTER, "--workers", "2", "-q"])
    err = capsys.readouterr().err
    out = Path(argv[argv.index("--out") + 1])
    return code, json.loads((out / "summary.json").read_text()), err


def by_input(summary: dict) -> dict[str, dict]:
    return {Path(e["input"]).name: e for e in summary["inputs"]}


@pytest.fixture(scope="module")
def batch(inputs, tmp_path_factory) -> tuple[Path, dict]:
    """One batch over everything: a video, and the list file (the other video and the photo folder, in shards
    of two photos)."""
    out = tmp_path_factory.mktemp("batch") / "out"
    code = batch_main([str(inputs / "one.mp4"), str(inputs / "more.txt"), "--out", str(out), "--shard-size", "2",
                       "--alert-after", ALERT_AFTER, "--workers", "2", "-q"])
    assert code == 0
    return out, json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("name", ["one.mp4", "two.mp4"])
def test_each_video_gives_what_the_video_script_gives(batch, inputs, name, tmp_path, capsys):
    out, summary = batch
    log = tmp_path / "events.jsonl"
    capsys.readouterr()
    assert video_main(["--video", str(inputs / name), "--no-display", "-q", "--no-bell", "--alert-after",
                       ALERT_AFTER, "--log", str(log)]) == 0
    expected = script_summary(capsys.readouterr().out)
    assert expected["alerts"] >= 1 and sum(expected["faces"].values()) >= 10  # the test has something to compare

    entry = by_input(summary)[name]
    assert entry["status"] == "done"
    assert {k: entry[k] for k in expected} == expected
    folder = out / entry["folder"]
    assert events(folder / "events.jsonl") == events(log)
    rows = read_rows(folder / "faces.csv")
    assert {c: sum(r["label"] == c for r in rows) for c in CLASSES} == expected["faces"]
    assert len({r["track"] for r in rows}) == sum(expected["people"].values())
    assert {r["file"] for r in rows} == {str(inputs / name)}
    assert [int(r["frame"]) for r in rows] == sorted(int(r["frame"]) for r in rows)
    assert not list(folder.glob(work.PARTIAL + "*"))


def test_the_photo_folder_gives_what_the_image_script_gives(batch, inputs, tmp_path, capsys):
    out, summary = batch
    # The batch runner looks for faces as finely as video does, for photos too.
    assert image_main(["--image", str(inputs / "photos"), "--output", str(tmp_path / "annotated"), "-q",
                       "--min-face", str(VIDEO_MIN_FACE)]) == 0
    expected = read_rows(tmp_path / "annotated" / "faces.csv")
    assert len(expected) == 3  # one face, two faces, none

    entry = by_input(summary)["photos"]
    assert (entry["status"], entry["frames"], entry["unreadable"]) == ("done", 3, 1)
    rows = read_rows(out / entry["folder"] / "faces.csv")
    columns = ("file", "x1", "y1", "x2", "y2", "label", "confidence", "face_score")
    assert [[r[k] for k in columns] for r in rows] == [[r[k] for k in columns] for r in expected]
    assert entry["faces"] == {c: sum(r["label"] == c for r in expected) for c in CLASSES}
    assert len(list((out / entry["folder"] / "shards").glob("*.json"))) == 2  # 4 files in shards of 2


def test_the_run_summary_adds_up_the_inputs(batch):
    _, summary = batch
    entries = summary["inputs"]
    total = summary["total"]
    assert [e["status"] for e in entries] == ["done"] * 3
    assert (total["inputs"], total["complete"], total["failed"]) == (3, 3, 0)
    for key in ("frames", "alerts"):
        assert total[key] == sum(e[key] for e in entries)
    for c in CLASSES:
        assert total["people"][c] == sum(e["people"][c] for e in entries)
    people = sum(total["people"].values())
    assert people > 0 and total["compliance"] == round(total["people"]["with_mask"] / people, 4)


def test_a_corrupt_input_is_retried_then_reported_and_the_rest_complete(inputs, tmp_path, capsys):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 cut short")
    out = tmp_path / "out"
    code, summary, err = run_batch([str(bad), str(inputs / "one.mp4"), "--out", str(out), "--retries", "1"], capsys)
    assert code == 1
    assert "error: 1 of 2 input(s) failed" in err
    assert err.count("trying again (1 of 2)") == 1 and "gave up after 2 attempt(s)" in err
    entries = by_input(summary)
    assert entries["corrupt.mp4"]["status"] == "failed"
    assert "cannot open video" in entries["corrupt.mp4"]["error"]
    assert entries["one.mp4"]["status"] == "done" and entries["one.mp4"]["frames"] == 18
    assert not (out / entries["corrupt.mp4"]["folder"] / work.MARK).exists()


def test_a_rerun_skips_finished_inputs_and_redoes_changed_ones(inputs, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("one.mp4", "two.mp4"):
        shutil.copy(inputs / name, videos / name)
    out = tmp_path / "out"
    argv = [str(videos / "one.mp4"), str(videos / "two.mp4"), "--out", str(out)]
    code, first, _ = run_batch(argv, capsys)
    assert code == 0
    marks = {e["input"]: out / e["folder"] / work.MARK for e in first["inputs"]}
    stamps = {k: p.stat().st_mtime_ns for k, p in marks.items()}

    code, second, err = run_batch(argv, capsys)
    assert code == 0 and "2 of 2 unit(s) already complete: skipped" in err
    assert [e["status"] for e in second["inputs"]] == ["already complete"] * 2
    assert {k: p.stat().st_mtime_ns for k, p in marks.items()} == stamps
    assert second["total"] == first["total"]

    write_video(videos / "two.mp4", [scene()] * 5)  # a changed input is no longer complete
    code, third, err = run_batch(argv, capsys)
    assert code == 0 and "1 of 2 unit(s) already complete" in err
    assert [e["status"] for e in third["inputs"]] == ["already complete", "done"]
    assert by_input(third)["two.mp4"]["frames"] == 5


def test_a_killed_workers_input_is_retried(inputs, tmp_path, capsys, monkeypatch):
    """The worker is killed once it is some frames into the video, as if its process died: Ray starts it again
    (it loads the model again) and the driver hands the video out again."""
    submit = cluster._Driver.submit
    killed = []

    def kill_when_busy(actor) -> None:
        deadline = time.monotonic() + 60
        while ray.get(actor.progress.remote()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        ray.kill(actor, no_restart=False)
        killed.append(actor)

    def submit_then_kill(self, unit, actor):
        submit(self, unit, actor)
        if Path(unit.source).name == "one.mp4" and self.outcomes[unit].attempts == 1:
            threading.Thread(target=kill_when_busy, args=(actor,), daemon=True).start()

    monkeypatch.setattr(cluster._Driver, "submit", submit_then_kill)
    out = tmp_path / "out"
    code, summary, err = run_batch([str(inputs / "one.mp4"), str(inputs / "two.mp4"), "--out", str(out)], capsys)
    assert killed and code == 0, err
    assert "one.mp4: its worker died" in err and "trying again (1 of 3)" in err
    entry = by_input(summary)["one.mp4"]
    assert entry["status"] == "done" and entry["frames"] == 18
    assert len(read_rows(out / entry["folder"] / "faces.csv")) == sum(entry["faces"].values()) > 0


def test_streams_send_all_events_to_one_log(inputs, batch, tmp_path, capsys):
    """Two videos as streams: each watched by its own actor, their events in one log, as the per-video ones."""
    out, summary = batch
    streams = tmp_path / "streams.txt"
    streams.write_text(f"{inputs / 'one.mp4'}\n{inputs / 'two.mp4'}\n")
    hooked = tmp_path / "alerts.jsonl"
    code = batch_main(["--streams", str(streams), "--out", str(tmp_path / "live"), "--alert-after", ALERT_AFTER,
                       "--on-alert", f"cat >> {hooked}", "-q"])
    assert code == 0
    logged = events(tmp_path / "live" / "events.jsonl")
    assert events(hooked) == [e for e in logged if e["event"] == "alert"]  # --on-alert got every alert
    for name in ("one.mp4", "two.mp4"):
        mine = [e for e in logged if Path(e["source"]).name == name]
        expected = events(out / by_input(summary)[name]["folder"] / "events.jsonl")
        assert mine == expected
    result = json.loads((tmp_path / "live" / "summary.json").read_text())
    assert result["total"]["alerts"] == sum(e["event"] == "alert" for e in logged) >= 2


def test_a_unit_runs_without_ray_and_a_stopped_one_publishes_nothing(inputs, tmp_path):
    options = work.Options(alert_after=float(ALERT_AFTER))
    detector = options.load_detector()
    [job] = work.make_jobs([str(inputs / "two.mp4")])
    [unit] = job.units
    frames = []
    summary = work.process(detector, unit, tmp_path, options, count=frames.append)
    assert summary["frames"] == len(frames) == 28 and work.is_complete(unit, tmp_path, options)
    assert not work.is_complete(unit, tmp_path, work.Options(detect_every=2))

    stop = work.StopRequest()
    stop.set()
    other = tmp_path / "stopped"
    with pytest.raises(work.Interrupted):
        work.process(detector, unit, other, options, stop=stop)
    assert not (other / unit.folder / work.MARK).exists()
    assert not list((other / unit.folder).iterdir())


def test_inputs_of_one_name_get_folders_of_their_own(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    names = {work.folder_name(str(tmp_path / d / "cam.mp4")) for d in "ab"}
    assert len(names) == 2 and all(n.startswith("cam-") for n in names)
    assert work.folder_name("rtsp://user:secret@cam.local/live?token=x").startswith("cam.local_live-")
    assert "secret" not in work.folder_name("rtsp://user:secret@cam.local/live")


@pytest.mark.parametrize(("argv", "message"), [
    ([], "give either INPUTs or --streams FILE"),
    (["{inputs}/nothing.mp4"], "no such file or folder"),
    (["{inputs}/photos", "-r", "--out", "{inputs}/photos/out"], "inside the folder"),
    (["{inputs}/one.mp4", "--workers", "0"], "must be 1 or more"),
    (["{inputs}/one.mp4", "--serve", "0"], "--serve needs --streams"),
    (["--streams", "{inputs}/more.txt", "--serve-token", "0123456789"], "--serve-token needs --serve"),
])
def test_bad_arguments_exit_2(inputs, tmp_path, argv, message, capsys):
    argv = [a.format(inputs=inputs) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        batch_main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_without_ray_the_error_names_the_extra(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    with pytest.raises(FacemaskError, match=r"needs ray.*facemask-detector\[cluster\]"):
        cluster.ray_module()


# --serve: the streams in a browser.

TOKEN = "test-token-0123456789"


@pytest.fixture
def live_stream():
    """A camera's live stream: the face drifting right, as MJPEG over HTTP at 10 frames a second, looping for
    as long as anyone reads it (OpenCV sees no frame count: a live source, by the wall clock)."""
    frames = [cv2.imencode(".jpg", moving_scene(i))[1].tobytes() for i in range(20)]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            i = 0
            while not server.closing.is_set():
                jpeg = frames[i % len(frames)]
                try:
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%b\r\n"
                                     % (len(jpeg), jpeg))
                except OSError:
                    return
                i += 1
                time.sleep(0.1)

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.closing = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/camera.mjpg"
    server.closing.set()
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, token: str | None = TOKEN) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(port: int, path: str):
    status, body = get(port, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def wait_until(predicate, timeout: float = 60, unless: threading.Event | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        assert unless is None or not unless.is_set(), "the run ended first"
        time.sleep(0.05)


def mjpeg_frames(port: int, path: str, count: int) -> list[bytes]:
    """The first `count` JPEG parts of an MJPEG response."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        return read_frames(s, count)


def signal_until(ended: threading.Event, signum: int) -> None:
    """Send this process `signum` for the run under test, never for the test session, and again if the run goes
    on, so that a signal lost fails the test instead of hanging it."""
    deadline = time.monotonic() + 60
    while not ended.is_set():
        os.kill(os.getpid(), signum)
        ended.wait(max(deadline - time.monotonic(), 5))


def test_serve_shows_each_stream_and_ctrl_c_ends_it_with_the_summary(inputs, live_stream, tmp_path, capsys,
                                                                     monkeypatch):
    """A live stream and a file as streams, with --serve: while they run, a client reads the API and the live
    stream's video; the file's final figures and events are those of its summary and of the log; Ctrl-C then
    stops the watchers and the server together, with the summary, exit status 130."""
    monkeypatch.setenv("FACEMASK_SERVE_TOKEN", TOKEN)
    streams = tmp_path / "streams.txt"
    streams.write_text(f"{live_stream}\n{inputs / 'one.mp4'}\n")
    out, port = tmp_path / "live", free_port()
    seen: dict = {}
    ended = threading.Event()

    def client() -> None:
        try:
            wait_until(lambda: _answers(port), unless=ended)
            wait_until(lambda: get_json(port, "/api/stats?stream=1")["state"] == "ended", unless=ended)
            seen["file"] = get_json(port, "/api/stats?stream=1"), get_json(port, "/api/events?stream=1")
            wait_until(lambda: any(e["event"] == "alert" for e in get_json(port, "/api/events?stream=0")),
                       unless=ended)
            seen["frames"] = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR)
                              for f in mjpeg_frames(port, "/video.mjpg?stream=0", 3)]
            alert = next(e for e in get_json(port, "/api/events?stream=0") if e["event"] == "alert")
            seen["thumbnail"] = get(port, "/" + alert["thumbnail"])
            seen["refused"] = {path: get(port, path, token)[0]
                               for path in ("/", "/api/stats?stream=0", "/api/streams", "/video.mjpg?stream=0")
                               for token in (None, "wrong-token-0123456789")}
            seen["unknown"] = {path: get(port, path)[0] for path in ("/?stream=2", "/api/stats?stream=2",
                                                                     "/api/events?stream=9", "/video.mjpg?stream=2",
                                                                     "/snapshots/1.jpg?stream=2")}
            seen["streams"] = get_json(port, "/api/streams")
            seen["metrics"] = get(port, "/metrics")
        except BaseException as e:
            seen["error"] = e
        finally:
            signal_until(ended, signal.SIGINT)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    code = batch_main(["--streams", str(streams), "--out", str(out), "--alert-after", ALERT_AFTER, "-q",
                       "--serve", f"127.0.0.1:{port}", "--serve-fps", "5"])
    ended.set()
    thread.join(10)
    printed = capsys.readouterr()
    err = printed.err
    if "error" in seen:
        raise seen["error"]
    assert code == 130, err
    assert f"dashboard: http://127.0.0.1:{port}/?token=..." in err and "stopping the watchers" in err
    assert "2 stream(s) watched" in printed.out and err.rstrip().endswith("interrupted")
    assert not _answers(port)

    summary = json.loads((out / "summary.json").read_text())
    live, file = summary["streams"]
    stats, events_served = seen["file"]
    assert file["frames"] == stats["frames"] == 18 and not file["stopped"]
    assert {k: stats[k] for k in ("people", "faces", "alerts")} == {k: file[k] for k in ("people", "faces", "alerts")}
    logged = [e for e in events(out / "events.jsonl") if Path(e["source"]).name == "one.mp4"]
    assert [{k: v for k, v in e.items() if k not in ("id", "thumbnail", "time")} for e in events_served] == logged
    assert len(logged) >= 1
    assert live["stopped"] and live["alerts"] >= 1

    assert all(f.shape == (480, 640, 3) for f in seen["frames"])
    assert seen["thumbnail"][0] == 200 and seen["thumbnail"][1].startswith(b"\xff\xd8")
    assert set(seen["refused"].values()) == {401}
    assert set(seen["unknown"].values()) == {404}
    listed = seen["streams"]
    assert [(s["stream"], s["state"]) for s in listed["streams"]] == [(0, "running"), (1, "ended")]
    assert listed["streams"][1]["people"] == file["people"]
    assert listed["total"]["frames"] == sum(s["frames"] for s in listed["streams"])
    status, body = seen["metrics"][:2]
    frames = {s.labels["stream"]: s.value for f in text_string_to_metric_families(body.decode())
              for s in f.samples if s.name == "facemask_frames_total"}
    assert status == 200 and frames["1"] == 18 and frames["0"] >= 1  # one series per stream


def _answers(port: int) -> bool:
    try:
        return get(port, "/api/streams")[0] == 200
    except OSError:
        return False


def test_sigterm_stops_the_streams_with_their_summary_and_status_143(live_stream, tmp_path, capsys):
    """A service manager's stop (SIGTERM) ends a streams run as Ctrl-C does, with the summary, but with the
    exit status that says SIGTERM: Ray turns an exception raised while it waits into a plain Ctrl-C."""
    streams = tmp_path / "streams.txt"
    streams.write_text(f"{live_stream}\n")
    out = tmp_path / "live"
    ended = threading.Event()

    def stop_when_watched() -> None:
        wait_until(lambda: (out / "events.jsonl").is_file() and (out / "events.jsonl").stat().st_size, unless=ended)
        signal_until(ended, signal.SIGTERM)

    thread = threading.Thread(target=stop_when_watched, daemon=True)
    thread.start()
    code = batch_main(["--streams", str(streams), "--out", str(out), "--alert-after", ALERT_AFTER, "-q"])
    ended.set()
    thread.join(10)
    err = capsys.readouterr().err
    assert code == 143, err
    assert "stopping the watchers" in err and err.rstrip().endswith("interrupted")
    [stream] = json.loads((out / "summary.json").read_text())["streams"]
    assert stream["stopped"] and stream["frames"] > 0 and stream["error"] is None


def test_sigterm_stops_a_batch_with_its_summary_and_status_143(tmp_path, capsys):
    """The same for inputs: the unit in hand is left for the next run, the summary says so."""
    long_video = tmp_path / "long.mp4"
    write_video(long_video, [np.roll(scene(), i % 40, axis=1) for i in range(600)])
    out = tmp_path / "out"
    ended = threading.Event()

    def stop_when_started() -> None:
        wait_until(lambda: any(out.glob("*/*")), unless=ended)  # a worker has begun the video
        signal_until(ended, signal.SIGTERM)

    thread = threading.Thread(target=stop_when_started, daemon=True)
    thread.start()
    code = batch_main([str(long_video), "--out", str(out), "--workers", "1", "-q"])
    ended.set()
    thread.join(10)
    err = capsys.readouterr().err
    assert code == 143, err
    assert "stopping: the inputs not complete run again next time" in err
    [entry] = json.loads((out / "summary.json").read_text())["inputs"]
    assert entry["status"] == "not done"
