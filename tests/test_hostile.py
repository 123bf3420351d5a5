"""Hardening round 3, each kind at its root: inputs however spelled, names planted by others, names at the
length limit, temporary files of killed runs, models that give NaN, hooks and PID reuse, secrets in children,
a dashboard opened to the network."""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import subprocess
import sys
import time
from contextlib import redirect_stderr
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import scene, write_video

from facemask.classifier import load_classifier
from facemask.cli import image_main, video_main
from facemask.errors import ModelError, OutputError
from facemask.events import SERVE_TOKEN_ENV, CommandHook
from facemask.files import atomic_path, write_text
from facemask.images import write_image
from facemask.stream import local_files


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def video(tmp_path) -> Path:
    return write_video(tmp_path / "in.mp4", [scene()] * 3)


# ------------------------------------------------------------------------------------- inputs however spelled


@pytest.mark.parametrize("spell", ["file://{p}", "file:{p}", "FILE://{p}", "file://localhost{p}",
                                   "file://{q}"])
def test_a_video_named_by_a_file_url_is_an_input_no_output_may_replace(spell, video, capsys):
    before = digest(video)
    quoted = str(video).replace("in.mp4", "%69n.mp4")  # percent-encoded, as a URL may be
    source = spell.format(p=video, q=quoted)
    with pytest.raises(SystemExit) as e:
        video_main(["--video", source, "--output", str(video), "--no-display"])
    assert e.value.code == 2 and "--output" in capsys.readouterr().err
    assert digest(video) == before


def test_file_urls_name_the_file_both_ways_it_may_be_read():
    assert local_files("file:///tmp/a%20b.mp4") == [Path("///tmp/a%20b.mp4"), Path("/tmp/a b.mp4")]
    assert local_files("/tmp/x.mp4") == [Path("/tmp/x.mp4")]
    assert local_files("rtsp://cam/stream") == [] and local_files(0) == []


def test_the_batch_runner_refuses_an_output_folder_over_an_input_named_by_url(video, tmp_path, capsys):
    from facemask.batch.cli import main as batch_main

    with pytest.raises(SystemExit) as e:
        batch_main([f"file://{tmp_path}", "--out", str(tmp_path / "out"), "--recursive"])
    assert e.value.code == 2 and "--out" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- names planted by others


def test_a_link_planted_under_a_name_the_tool_makes_is_replaced_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "annotated"
    folder.mkdir()
    (folder / "photo.jpg").symlink_to(victim)
    write_image(folder / "photo.jpg", np.zeros((8, 8, 3), np.uint8))
    assert victim.read_text() == "precious"
    assert not (folder / "photo.jpg").is_symlink() and cv2.imread(str(folder / "photo.jpg")) is not None


def test_a_new_file_never_replaces_what_is_there_link_or_file(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "alert-1.jpg").symlink_to(victim)
    (tmp_path / "alert-2.jpg").write_text("earlier")
    for name in ("alert-1.jpg", "alert-2.jpg"):
        with pytest.raises(OutputError, match="already there"):
            write_image(tmp_path / name, np.zeros((8, 8, 3), np.uint8), new=True)
    assert victim.read_text() == "precious" and (tmp_path / "alert-2.jpg").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alert-1.jpg", "alert-2.jpg", "victim.txt"]


def test_a_link_the_user_named_as_the_output_keeps_pointing_at_the_file_it_replaces(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    (tmp_path / "link.csv").symlink_to(real)
    with atomic_path(tmp_path / "link.csv", named=True) as tmp:
        tmp.write_text("new")
    assert (tmp_path / "link.csv").is_symlink() and real.read_text() == "new"


def test_temporary_names_are_made_exclusively_so_a_planted_link_is_never_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for n in range(50):  # whatever names a temporary file could have had before: all planted
        (tmp_path / f".out.{os.getpid()}.tmp{n}.txt").symlink_to(victim)
    (tmp_path / f".out.{os.getpid()}.tmp.txt").symlink_to(victim)
    write_text(tmp_path / "out.txt", "result")
    assert victim.read_text() == "precious" and (tmp_path / "out.txt").read_text() == "result"


# ------------------------------------------------------------------------------------- names at the length limit


def test_outputs_whose_names_take_all_255_bytes_are_written(video, tmp_path, color_model):
    out = tmp_path / ("v" * 251 + ".mp4")
    assert video_main(["--video", str(video), "--output", str(out), "--no-display", "-q", "-m",
                       str(color_model)]) == 0
    assert out.is_file()
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a" * 251 + ".jpg", "b.jpg"):
        cv2.imwrite(str(photos / "x.jpg"), scene())
        (photos / "x.jpg").rename(photos / name)
    assert image_main(["--image", str(photos), "--output", str(tmp_path / "copies"), "-q", "-m",
                       str(color_model)]) == 0
    assert sorted(p.name for p in (tmp_path / "copies").iterdir()) == sorted(["a" * 251 + ".jpg", "b.jpg",
                                                                             "faces.csv"])


# ------------------------------------------------------------------------------------- models that give NaN


def test_a_model_whose_output_is_nan_is_refused_on_load(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    model.layers[-1].set_weights([np.full((3, 3), np.nan, np.float32), np.zeros(3, np.float32)])
    path = tmp_path / "nan.h5"
    model.save(path)
    write_text(path.with_suffix(".json"), '{"classes": ["with_mask", "without_mask", "incorrect_mask"]}')
    with pytest.raises(ModelError, match="no probabilities"):
        load_classifier(path, "keras")


def test_nan_rows_at_run_time_are_left_unlabelled_with_one_warning(color_model, capsys):
    from facemask import MaskDetector

    detector = MaskDetector.load(color_model, backend="keras")
    predict = detector.classifier._predict
    detector.classifier._predict = lambda batch: np.where(np.arange(len(batch))[:, None] % 2, np.nan,
                                                          predict(batch))
    crops = [np.full((64, 64, 3), 90, np.uint8)] * 4
    for _ in range(3):
        probs = detector.classify(crops)
    assert np.isnan(probs[1::2]).all() and np.isfinite(probs[::2]).all()
    assert capsys.readouterr().err.count("warning:") == 1
    assert all(np.isfinite(f.confidence) for f in detector.detect(scene()))


# ------------------------------------------------------------------------------------- hooks, PIDs, secrets


def test_a_hook_keeps_no_process_group_of_a_command_that_has_ended(tmp_path):
    """A command that ended long ago: by the end of the run its number may be another process's."""
    done = tmp_path / "done"
    hook = CommandHook(f"touch {shlex.quote(str(done))}")
    hook.send({})
    deadline = time.monotonic() + 10
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert hook._running == set()  # nothing is left that close() could signal
    hook.close()


def test_hooks_do_not_get_the_dashboards_token(tmp_path, monkeypatch):
    monkeypatch.setenv(SERVE_TOKEN_ENV, "secret-token-123")
    out = tmp_path / "env.txt"
    hook = CommandHook(f"env > {shlex.quote(str(out))}")
    hook.send({})
    hook.close()
    text = out.read_text()
    assert "secret-token-123" not in text and "PATH=" in text


def test_folder_names_of_urls_hold_nothing_derived_from_their_password():
    from facemask.batch.work import folder_name

    assert folder_name("rtsp://admin:one@cam/live") == folder_name("rtsp://admin:two@cam/live")
    assert folder_name("rtsp://cam/live?token=a") == folder_name("rtsp://cam/live?token=b")


def test_a_dashboard_open_to_the_network_without_a_token_makes_one_and_prints_it(tmp_path, monkeypatch):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import argparse

    from facemask.cli import start_dashboard
    from facemask.live import LiveState

    monkeypatch.delenv(SERVE_TOKEN_ENV, raising=False)
    args = argparse.Namespace(serve=("0.0.0.0", 0), serve_token=None)
    err = io.StringIO()
    with redirect_stderr(err):
        dashboard = start_dashboard(args, lambda: [LiveState("x")])
    try:
        assert args.serve_token and len(args.serve_token) >= 24
        assert f"?token={args.serve_token}" in err.getvalue()
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=5)
        conn.request("GET", "/api/stats", headers={"Host": "attacker.example"})
        assert conn.getresponse().status == 401
    finally:
        dashboard.stop()


# ------------------------------------------------------------------------------------- names that are no UTF-8


def test_names_that_are_no_utf8_are_read_and_written_by_every_command(tmp_path, color_model):
    """Legal on Linux; OpenCV's binding dies of SIGSEGV on them. In processes of their own, so that a crash
    fails this test instead of ending the test run."""
    from conftest import ROOT

    from facemask.batch.work import Unit

    odd = os.fsdecode(b"caf\xe9")
    folder = tmp_path / f"{odd}-in"
    folder.mkdir()
    frames = [scene()] * 3
    writer = cv2.VideoWriter(str(tmp_path / "plain.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()
    (tmp_path / "plain.mp4").rename(folder / f"{odd}.mp4")
    write_image(folder / f"{odd}.jpg", scene())

    def run(script: str, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, script, *argv, "-m", str(color_model), "-q"], capture_output=True,
                              text=True, errors="backslashreplace", cwd=ROOT, timeout=300)

    out = tmp_path / f"{odd}-out"
    done = run("detect_mask_video.py", "--video", str(folder / f"{odd}.mp4"), "--output", str(out / f"{odd}.mp4"),
               "--no-display")
    assert done.returncode == 0, done.stderr
    assert (out / f"{odd}.mp4").is_file() and [p.name for p in out.iterdir()] == [f"{odd}.mp4"]
    done = run("detect_mask_image.py", "--image", str(folder), "--output", str(out / "copies"))
    assert done.returncode == 0, done.stderr
    assert (out / "copies" / f"{odd}.jpg").is_file()
    assert "caf\\xe9.jpg" in (out / "copies" / "faces.csv").read_text(encoding="utf-8")
    assert Unit(str(folder / f"{odd}.mp4"), "video", "v").frames_expected() == 3
    batch = ("import sys; from pathlib import Path; from facemask.batch import work\n"
             "jobs = work.make_jobs(sys.argv[1:3])\n"
             "detector = work.Options(model=sys.argv[4], annotate=True).load_detector()\n"
             "for job in jobs:\n    for unit in job.units:\n"
             "        print(work.process(detector, unit, Path(sys.argv[3]), work.Options(annotate=True))['frames'])")
    done = subprocess.run([sys.executable, "-c", batch, str(folder / f"{odd}.mp4"), str(folder), str(out / "batch"),
                           str(color_model)], capture_output=True, text=True, errors="backslashreplace", cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["3", "1"], done.stderr[-2000:]
    csvs = [p.read_text(encoding="utf-8") for p in (out / "batch").rglob("*.csv")]
    assert any("caf\\xe9.jpg" in text for text in csvs)


# ------------------------------------------------------------------------------------- pixels beyond any cap


BIGTIFF = '''
import struct, sys
side = int(sys.argv[2])
entries = [(256, 16, 1, side), (257, 16, 1, side), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (277, 3, 1, 1),
           (273, 16, 1, 200), (278, 16, 1, side), (279, 16, 1, side * side)]
ifd = struct.pack("<Q", len(entries)) + b"".join(struct.pack("<HHQQ", *e) for e in entries) + struct.pack("<Q", 0)
data = b"II" + struct.pack("<HHHQ", 43, 8, 0, 16) + ifd
open(sys.argv[1], "wb").write(data + b"\\0" * (200 - len(data)) + b"\\x80" * 1000)
'''


def test_a_bigtiff_named_jpg_is_refused_by_the_decoder_before_it_allocates(tmp_path):
    """The header parsers know no BigTIFF; OpenCV's own cap, set before cv2 loads, refuses every format."""
    from conftest import ROOT

    photo = tmp_path / "big.jpg"
    subprocess.run([sys.executable, "-c", BIGTIFF, str(photo), "12000"], check=True)
    probe = ("import re, sys; from facemask.images import load_image; from facemask.errors import ImageTooLarge\n"
             "try:\n    load_image(sys.argv[1])\nexcept ImageTooLarge as e:\n    print('refused:', e)\n"
             "status = open('/proc/self/status').read()\n"  # the peak of this process (ru_maxrss is the parent's)
             "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)")
    done = subprocess.run([sys.executable, "-c", probe, str(photo)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[0].startswith("refused:") and "million pixels" in lines[0], done.stderr
    assert int(lines[-1]) < 300  # MB: the 432 MB image was never allocated


def test_a_video_whose_frames_are_beyond_8k_is_refused_before_its_first_frame(video, monkeypatch, capsys,
                                                                               color_model):
    from facemask import stream

    monkeypatch.setattr(stream, "MAX_FRAME_PIXELS", 640 * 480 - 1)
    assert video_main(["--video", str(video), "--no-display", "-m", str(color_model)]) == 1
    assert "more than 8K" in capsys.readouterr().err


def test_one_copy_that_cannot_be_written_skips_one_photo_not_the_folder(tmp_path, color_model, capsys,
                                                                          monkeypatch):
    from facemask import image_batch

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(photos / name, scene())

    def write(path, image):
        if path.name == "b.jpg":  # a full disk, a name planted meanwhile: anything the write itself meets
            raise OutputError(f"cannot write {path}: No space left on device")
        write_image(path, image)

    monkeypatch.setattr(image_batch, "write_image", write)
    code = image_main(["--image", str(photos), "--output", str(tmp_path / "copies"), "-q", "-m", str(color_model)])
    out, err = capsys.readouterr()
    assert code == 1 and err.count("warning:") == 1 and "b.jpg" in err and "1 not written" in out
    assert (tmp_path / "copies" / "a.jpg").is_file() and (tmp_path / "copies" / "c.jpg").is_file()
    rows = (tmp_path / "copies" / "faces.csv").read_text().splitlines()
    assert {Path(r.split(",")[0]).name for r in rows[1:]} == {"a.jpg", "c.jpg"}


# ------------------------------------------------------------------------------------- clients that never finish


def test_the_dashboard_drops_slow_requests_and_caps_its_connections(monkeypatch):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import http.client
    import socket

    from facemask import dashboard
    from facemask.live import LiveState

    monkeypatch.setattr(dashboard, "REQUEST_SECONDS", 1.0)
    server = dashboard.Dashboard([LiveState("x")])
    server.start()
    first = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    first.request("GET", "/api/stats")
    assert first.getresponse().status == 200  # the server is up: its own descriptors are open
    first.close()
    descriptors = len(os.listdir("/proc/self/fd"))
    clients = []
    try:
        for _ in range(3 * dashboard.MAX_CONNECTIONS):  # each sends half a request and never the rest
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: localhost\r\n")
            clients.append(s)
        time.sleep(0.5)
        held = len(os.listdir("/proc/self/fd")) - descriptors - len(clients)
        assert held <= dashboard.MAX_CONNECTIONS + 2  # the server's side of the connections, bounded
        time.sleep(1.5)  # past the deadline: every one is closed by the server
        assert all(s.recv(1) == b"" for s in clients[:5])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/api/stats")
        assert conn.getresponse().status == 200  # a client that asks promptly is served
    finally:
        for s in clients:
            s.close()
        server.stop()


def test_the_batch_runners_lock_never_truncates_a_file_a_planted_link_points_at(tmp_path):
    from facemask.batch.cli import _locked
    from facemask.errors import FacemaskError

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".lock").symlink_to(victim)
    with pytest.raises(FacemaskError, match="cannot lock"):
        with _locked(tmp_path / "out"):
            pass
    assert victim.read_text() == "precious"
