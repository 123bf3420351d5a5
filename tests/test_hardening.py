"""Hostile and odd inputs, end to end: sources that end, hooks that hang, secrets in URLs, names that are
syntax, images too large to decode, sideways phone photos, slow time-lapses. Each run must exit as it should,
with one clear line, leave inputs and earlier outputs byte-identical, and leave no process or temporary file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shlex
import signal
import struct
import threading
import time
import zlib
from contextlib import redirect_stderr, redirect_stdout
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import Script, scene, write_video
from test_monitoring import frame_with

from facemask.cli import image_main, video_main
from facemask.events import CommandHook
from facemask.images import declared_size, load_image
from facemask.stream import FrameReader, redact


def run_main(main, argv: list[str], limit: float = 60) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds) of a script run in this process; exit status 2 for parser errors.

    A run that would never end is stopped by Ctrl-C after `limit` seconds, then once a second: it fails the
    test with exit status 130 instead of hanging the test suite."""
    out, err = io.StringIO(), io.StringIO()
    done = threading.Event()

    def watchdog() -> None:
        if not done.wait(limit):
            while not done.wait(1):
                os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watchdog, daemon=True).start()
    start = time.perf_counter()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
    finally:
        done.set()
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - start


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder`, hidden ones included, by its SHA-256: what a run must leave untouched."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def no_temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name]


def running(pid: int) -> bool:
    """Whether a process still runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def any_running(pids: list[int], within: float = 1.0) -> bool:
    """Whether any of `pids` still runs `within` seconds from now: SIGKILL takes effect a moment after it is sent."""
    deadline = time.monotonic() + within
    while any(running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.02)
    return False


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves files with byte ranges, as FFmpeg asks for the index at the end of an .mp4."""

    def send_head(self):
        path = Path(self.translate_path(self.path.split("?")[0]))
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        start, end = (int(match.group(1)), int(match.group(2) or len(data) - 1)) if match else (0, len(data) - 1)
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        return io.BytesIO(data[start : end + 1])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(served)))
    server.daemon_threads, server.block_on_close = True, False  # a client still connected must not hang the test
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def unmasked_video(path: Path, frames: int = 12, fps: float = 10) -> Path:
    """A person without a mask in every frame: the colour model says so, and alerts follow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, [frame_with([("without_mask", 200 + i, 100)]) for i in range(frames)], fps=fps)


# ---------------------------------------------------------------------------------------- sources that end


@pytest.mark.parametrize("scheme", ["http", "file"])
def test_a_video_file_from_a_url_ends_at_its_end_without_replay_or_dropped_frames(
    http_server, color_model, tmp_path, scheme
):
    host, served = http_server
    video = unmasked_video(served / "clip.mp4", frames=12)
    url = f"http://{host}/clip.mp4" if scheme == "http" else f"file://{video}"
    out = tmp_path / "out.avi"
    before = fingerprint(served)
    code, stdout, err, seconds = run_main(video_main, ["--video", url, "--no-display", "-m", str(color_model),
                                                       "--output", str(out), "--no-bell", "--reconnect", "3"])
    assert code == 0, err
    assert stdout.startswith("12 frames, faces: Mask 0, No Mask 12, Incorrect Mask 0;")  # none replayed, none dropped
    assert "reconnect" not in err and "source:" not in stdout
    assert seconds < 60
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12 and capture.get(cv2.CAP_PROP_FPS) == 10
    assert fingerprint(served) == before and not no_temporaries(tmp_path)


class RestartingFile:
    """A finite file over the network: `count` frames numbered 1, 2 ... from its start at every open; the
    first open's connection drops after `drop_after` frames."""

    def __init__(self, count: int, drop_after: int | None, reported: int | None = None):
        self.count, self.drop_after, self.position = count, drop_after, 0
        self.reported = count if reported is None else reported

    def read(self):
        if self.position >= self.count or self.position == self.drop_after:
            return False, None
        self.position += 1
        return True, np.full((48, 64, 3), self.position, np.uint8)

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 10.0, cv2.CAP_PROP_FRAME_COUNT: float(self.reported),
                cv2.CAP_PROP_POS_FRAMES: float(self.position)}.get(prop, 0.0)

    def release(self):
        pass


def test_a_network_file_that_drops_mid_way_resumes_where_it_stopped(monkeypatch, capsys):
    monkeypatch.setattr("facemask.stream.FIRST_DELAY", 0.01)
    opens = []

    def opener(source):
        opens.append(source)
        return RestartingFile(20, drop_after=8 if len(opens) == 1 else None)

    reader = FrameReader("http://cam/clip.mp4", reconnect=2, timeout=2, opener=opener)
    frames = [int(frame[0, 0, 0]) for frame in reader]
    reader.close()
    assert not reader.live
    assert frames == list(range(1, 21))  # each frame once: the reopened file skipped what was delivered
    assert len(opens) == 2 and reader.reconnects == 1 and reader.lost is None
    assert capsys.readouterr().err.count("reconnected to http://cam/clip.mp4") == 1


def test_a_network_file_shorter_than_its_estimated_count_ends_without_replay(monkeypatch, capsys):
    monkeypatch.setattr("facemask.stream.FIRST_DELAY", 0.01)
    opens = []

    def opener(source):
        opens.append(source)
        return RestartingFile(20, drop_after=None, reported=25)

    reader = FrameReader("http://cam/clip.mp4", reconnect=3, timeout=2, opener=opener)
    frames = [int(frame[0, 0, 0]) for frame in reader]
    reader.close()
    assert frames == list(range(1, 21)) and len(opens) == 2 and reader.lost is None
    assert "ends after 20 of its 25 frames" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- hooks


def hanging_hook(folder: Path) -> str:
    """A hook that records its shell's and its child's process IDs, then never ends."""
    pids = folder / "pids.txt"
    return f"echo $$ >> {shlex.quote(str(pids))}; sleep 300 & echo $! >> {shlex.quote(str(pids))}; wait"


def test_hung_hooks_delay_the_exit_a_bounded_time_and_leave_no_process(color_model, tmp_path):
    (tmp_path / "in").mkdir()
    # --alert-after 0 and --smooth 1: an alert per track; several people, so several hooks queue up.
    frames = [frame_with([("without_mask", 20, 40), ("without_mask", 240, 40), ("without_mask", 460, 260)])] * 6
    write_video(tmp_path / "in" / "three.mp4", frames, fps=10)
    before = fingerprint(tmp_path / "in")
    code, stdout, err, seconds = run_main(video_main, [
        "--video", str(tmp_path / "in" / "three.mp4"), "--no-display", "-m", str(color_model), "--no-bell",
        "--alert-after", "0", "--on-alert", hanging_hook(tmp_path)])
    assert code == 0, err
    assert "alerts: 3" in stdout
    assert seconds < 30  # the hooks would take 3 x 30 s
    assert err.count("--on-alert command killed at the end of the run") == 1
    assert "warning: 2 alert(s) not passed to --on-alert: the run ended before their command could start" in err
    pids = [int(p) for p in (tmp_path / "pids.txt").read_text().split()]
    assert len(pids) == 2 and not any_running(pids)
    assert fingerprint(tmp_path / "in") == before and not no_temporaries(tmp_path)


def test_sigterm_with_a_hung_hook_exits_at_once_and_kills_it(color_model, tmp_path):
    frames = [frame_with([("without_mask", 40 + i, 40)]) for i in range(400)]
    video = write_video(tmp_path / "long.mp4", frames, fps=10)
    script = Script("detect_mask_video.py", "--video", str(video), "--no-display", "-m", str(color_model),
                    "--no-bell", "--alert-after", "0", "--on-alert", hanging_hook(tmp_path))
    script.wait_for_line("alert: #1")
    script.wait_for(lambda: len((tmp_path / "pids.txt").read_text().split()) == 2 if (tmp_path / "pids.txt").exists()
                    else False)
    start = time.perf_counter()
    script.proc.send_signal(signal.SIGTERM)
    assert script.finish() == 143
    assert time.perf_counter() - start < 10  # the hook alone would hold it 30 s
    assert script.stderr.rstrip().endswith("interrupted") and "Traceback" not in script.stderr
    assert "--on-alert command killed at the end of the run" in script.stderr
    pids = [int(p) for p in (tmp_path / "pids.txt").read_text().split()]
    assert not any_running(pids)


def test_a_hook_past_its_time_limit_is_killed_with_its_children(tmp_path, capsys):
    hook = CommandHook(hanging_hook(tmp_path), timeout=0.5)
    start = time.perf_counter()
    hook.send({"event": "alert"})
    hook.send({"event": "alert"})
    time.sleep(1.5)  # both ran into their time limit
    hook.close(grace=5)
    assert time.perf_counter() - start < 4
    err = capsys.readouterr().err
    assert err.count("--on-alert command killed after 0.5 s") == 2 and "not passed" not in err
    pids = [int(p) for p in (tmp_path / "pids.txt").read_text().split()]
    assert len(pids) == 4 and not any_running(pids)


def test_a_finished_hooks_background_children_are_killed_at_the_end(tmp_path, capsys):
    pid_file = tmp_path / "pid.txt"
    hook = CommandHook(f"sleep 300 > /dev/null 2>&1 & echo $! > {shlex.quote(str(pid_file))}")
    hook.send({})
    hook.close()
    pid = int(pid_file.read_text())
    assert not any_running([pid]) and capsys.readouterr().err == ""


# ------------------------------------------------------------------------------- secrets and injection

SECRET = "S3cretPass"


def test_stream_credentials_appear_nowhere_the_tool_writes(http_server, color_model, tmp_path):
    host, served = http_server
    unmasked_video(served / "cam.mp4", frames=8)
    url = f"http://admin:{SECRET}@{host}/cam.mp4?token={SECRET}&channel=1"
    command = f"cat >> {shlex.quote(str(tmp_path / 'hook.jsonl'))}"
    args = ["--video", url, "--no-display", "-m", str(color_model), "--no-bell", "--alert-after", "0",
            "--on-alert", command, "--log", str(tmp_path / "events.jsonl"), "--snapshots", str(tmp_path / "snaps")]
    code, stdout, err, _ = run_main(video_main, args)
    assert code == 0, err
    log = (tmp_path / "events.jsonl").read_text()
    hook = (tmp_path / "hook.jsonl").read_text()
    events = [json.loads(line) for line in log.splitlines()]
    assert {e["source"] for e in events} == {f"http://admin:***@{host}/cam.mp4?token=***&channel=1"}
    assert [json.loads(line) for line in hook.splitlines()] == [e for e in events if e["event"] == "alert"]
    names = " ".join(str(p) for p in tmp_path.rglob("*"))
    assert all(SECRET not in text for text in (stdout, err, log, hook, names))
    code, stdout, err, _ = run_main(video_main, [*args[:1], url.replace("cam.mp4", "gone.mp4"), *args[2:]])
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: cannot open the stream http://admin:***@")
    assert SECRET not in err + stdout


@pytest.mark.parametrize(
    ("text", "redacted"),
    [("rtsp://admin:p@ss:w0rd@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
     ("https://TOKEN123@example.com/feed", "https://***@example.com/feed"),
     ("http://cam/x.mjpg?user=bob&password=pw&api_key=k1&design=2", "http://cam/x.mjpg?user=bob&password=***"
      "&api_key=***&design=2"),
     ("lost rtsp://u:pw@h/s: no frame", "lost rtsp://u:***@h/s: no frame"),
     ("clips/video@home.mp4", "clips/video@home.mp4")],
)
def test_redaction(text, redacted):
    assert redact(text) == redacted


def test_file_names_are_never_shell_csv_or_log_syntax(color_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["$(touch pwned).jpg", ";touch pwned;.jpg", '=HYPERLINK("http:evil").jpg', "+1-2.jpg", "@SUM(A1).jpg"]
    for name in names:
        cv2.imwrite(str(photos / name), scene())
    (photos / "fake\nwarning: forged line.jpg").write_bytes(b"not an image")
    before = fingerprint(photos)
    code, stdout, err, _ = run_main(image_main, ["--image", str(photos), "-o", str(tmp_path / "out"),
                                                 "-m", str(color_model)])
    assert code == 0, err
    assert stdout.startswith("5 images")
    assert err.splitlines() == [f"warning: cannot read {photos}/fake\\nwarning: forged line.jpg: not an image, "
                                "or damaged or truncated: skipped"]
    with open(tmp_path / "out" / "faces.csv", newline="") as f:
        cells = [row[0] for row in csv.reader(f)][1:]
    assert sorted(cells) == sorted(str(photos / name) for name in names)  # nothing a formula can start with
    monkeypatch.chdir(photos)  # names as given, relative: the first character is the file name's
    code, _, err, _ = run_main(image_main, ["--image", names[2], "-o", str(tmp_path / "out2"), "-m", str(color_model)])
    assert code == 0, err
    rows = (tmp_path / "out2" / "faces.csv").read_text().splitlines()
    assert rows[1].startswith("\"'=HYPERLINK(\"\"http:evil\"\").jpg\",")
    video = unmasked_video(tmp_path / "$(touch pwned).mp4", frames=4)
    log = tmp_path / "log\n{\"event\": \"forged\"}.jsonl"
    code, _, err, _ = run_main(video_main, ["--video", str(video), "--no-display", "-m", str(color_model),
                                            "--no-bell", "--alert-after", "0", "--on-alert", "cat > /dev/null",
                                            "--log", str(log), "--snapshots", str(tmp_path / "snaps\nx")])
    assert code == 0, err
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["alert", "track_end"] and events[0]["snapshot"].count("\n") == 1
    assert not list(tmp_path.rglob("pwned")) and fingerprint(photos) == before


# ------------------------------------------------------------------------------------- images too large


def png_declaring(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header declares `width` x `height` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 4096))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + pixels + chunk(b"IEND", b"")


def test_images_over_the_caps_are_skipped_before_reading_or_decoding(color_model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "ok.jpg"), scene())
    (photos / "bomb.png").write_bytes(png_declaring(32000, 32000))
    with open(photos / "huge.jpg", "wb") as f:  # 150 MB, sparse: nothing on disk
        f.truncate(150_000_000)
    before = fingerprint(photos)
    code, stdout, err, seconds = run_main(image_main, ["--image", str(photos), "-o", str(tmp_path / "out"),
                                                       "-m", str(color_model)])
    assert code == 0, err
    assert stdout.startswith("1 images") and ", 2 unreadable" in stdout.splitlines()[0]
    assert err.splitlines() == [
        f"warning: cannot read {photos}/bomb.png: 32000x32000 pixels (1024 megapixels), over the 100 megapixel "
        "limit: skipped (--max-megapixels raises the limit)",
        f"warning: cannot read {photos}/huge.jpg: 150 MB, over the 100 MB limit for an image file: "
        "skipped (--max-image-mb raises the limit)"]
    assert seconds < 30
    code, stdout, err, _ = run_main(image_main, ["--image", str(photos), "-o", str(tmp_path / "out2"),
                                                 "-m", str(color_model), "--max-image-mb", "0.01"])
    assert code == 1 and "over the 0.01 MB limit" in err and "error: none of the 3 image(s) could be read" in err
    assert fingerprint(photos) == before and not no_temporaries(tmp_path)


@pytest.mark.parametrize("flag", ["--max-image-mb", "--max-megapixels"])
def test_the_caps_must_be_positive(flag, capsys):
    with pytest.raises(SystemExit) as e:
        image_main(["--image", ".", flag, "0"])
    assert e.value.code == 2 and "must be more than 0" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ sideways photos


def with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF block whose Orientation tag says how to turn it upright, written by hand."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    exif = b"Exif\0\0" + b"MM\0\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]


def test_a_phone_photo_stored_sideways_is_read_upright_and_its_face_found(color_model, tmp_path):
    sideways = cv2.rotate(scene(), cv2.ROTATE_90_COUNTERCLOCKWISE)  # 480 wide, 640 high, as the sensor saw it
    photo = tmp_path / "in" / "phone.jpg"
    photo.parent.mkdir()
    photo.write_bytes(with_orientation(cv2.imencode(".jpg", sideways)[1].tobytes(), 6))  # 6: turn 90° clockwise
    before = fingerprint(photo.parent)
    assert declared_size(np.fromfile(str(photo), np.uint8)) == (480, 640)
    upright = load_image(photo)
    assert upright.shape == (480, 640, 3) and np.abs(upright.astype(int) - scene()).mean() < 6
    code, stdout, err, _ = run_main(image_main, ["--image", str(photo), "-o", str(tmp_path / "out"),
                                                 "-m", str(color_model)])
    assert code == 0 and err == ""
    assert stdout.startswith("1 images, faces: Mask 0, No Mask 1")
    assert cv2.imread(str(tmp_path / "out" / "phone.jpg"), cv2.IMREAD_IGNORE_ORIENTATION | 1).shape == (480, 640, 3)
    assert fingerprint(photo.parent) == before


# ------------------------------------------------------------------------------------- odd frame rates


def test_a_slow_time_lapse_keeps_its_frame_rate_for_alerts_and_output(color_model, tmp_path):
    video = unmasked_video(tmp_path / "in" / "lapse.mp4", frames=6, fps=0.5)  # one frame every 2 s
    out, log = tmp_path / "out.mp4", tmp_path / "events.jsonl"
    code, _, err, _ = run_main(video_main, [
        "--video", str(video), "--no-display", "-m", str(color_model), "--no-bell", "--alert-after", "4",
        "--smooth", "1", "--output", str(out), "--log", str(log)])
    assert code == 0, err
    assert "warning" not in err
    alerts = [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "alert"]
    assert [(e["frame"], e["video_time"], e["seconds"]) for e in alerts] == [(2, 4.0, 4.0)]  # at 30 fps: none
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == 0.5


@pytest.mark.parametrize("fps", [0.0, float("nan"), float("inf"), -5.0, 90000.0])
def test_a_source_with_no_usable_frame_rate_gets_the_default_with_a_warning(fps, capsys):
    class Capture(RestartingFile):
        def get(self, prop):
            return fps if prop == cv2.CAP_PROP_FPS else super().get(prop)

    reader = FrameReader("clip.avi", opener=lambda s: Capture(3, None))
    assert len(list(reader)) == 3
    reader.close()
    assert reader.fps == 30.0
    assert capsys.readouterr().err == f"warning: clip.avi reports no usable frame rate ({fps:g} fps): assuming 30 fps\n"
