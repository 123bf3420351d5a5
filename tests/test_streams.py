"""Sources that fail: damaged and truncated files end cleanly; cameras and streams that stop are reopened."""

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import scene

import facemask.stream
from facemask import MaskDetector
from facemask.cli import video_main
from facemask.errors import SourceError
from facemask.stream import FrameReader, reconnect_delay, source_name
from facemask.video import run


class FakeCapture:
    """A capture that delivers `frames` frames, then fails its reads ("fail") or blocks in one ("hang")."""

    def __init__(self, frames: int, then: str = "fail", size=(160, 120), start: int = 0):
        self.left, self.then, self.size, self.count = frames, then, size, start
        self.unblock = threading.Event()
        self.released = False

    def read(self):
        if self.left > 0:
            time.sleep(0.02)  # a camera's pace
            self.left -= 1
            self.count += 1
            frame = np.full((self.size[1], self.size[0], 3), self.count % 256, np.uint8)
            return True, frame
        if self.then == "hang":
            self.unblock.wait(30)
        return False, None

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 10.0}.get(prop, 0.0)

    def release(self):
        self.released = True


class FakeSource:
    """Opens a FakeCapture per script entry: (frames, "fail" | "hang"), or "busy" for an open that fails.

    Once the script is spent, every open fails: the camera is gone for good."""

    def __init__(self, script):
        self.script = list(script)
        self.opens = 0
        self.captures: list[FakeCapture] = []
        self.delivered = 0

    def __call__(self, source, timeout=None):
        self.opens += 1
        step = self.script.pop(0) if self.script else "busy"
        if step == "busy":
            raise SourceError(f"cannot open camera {source}: is a camera connected?")
        capture = FakeCapture(*step, start=self.delivered)
        self.delivered += step[0]
        self.captures.append(capture)
        return capture

    def unblock(self):
        for capture in self.captures:
            capture.unblock.set()


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(facemask.stream, "FIRST_DELAY", 0.01)


def test_backoff_doubles_up_to_a_cap():
    assert [reconnect_delay(a) for a in (1, 2, 3, 4, 8, 20)] == [0.5, 1, 2, 4, 30, 30]


def test_source_names_hide_passwords():
    assert source_name(0) == "camera 0"
    assert source_name("rtsp://admin:secret@10.0.0.5/live") == "rtsp://admin:***@10.0.0.5/live"
    assert source_name("clip.mp4") == "clip.mp4"


def test_a_live_source_that_stops_is_reopened_with_backoff_and_reported(capsys, fast_backoff):
    # 5 frames, then failed reads; the first reopen fails (busy), the second works: 4 frames, then a read that
    # never returns; reopened at once: 3 frames, then failures and a camera that never comes back.
    source = FakeSource([(5, "fail"), "busy", (4, "hang"), (3, "fail")])
    reader = FrameReader("rtsp://cam/live", reconnect=3, timeout=0.5, opener=source)
    frames = [int(frame[0, 0, 0]) for frame in reader]
    reader.close()
    source.unblock()
    err = capsys.readouterr().err
    # A live source keeps only the newest frame, so one may be dropped under load; but frames from each
    # connection arrive, in order.
    assert frames == sorted(set(frames)) and frames[-1] == 12
    assert all(set(frames) & set(range(a, b)) for a, b in ((1, 6), (6, 10), (10, 13)))
    assert reader.reconnects == 2 and source.opens == 7
    attempts = [line for line in err.splitlines() if "reconnecting in" in line]
    assert attempts == [
        "warning: rtsp://cam/live: it stopped delivering frames; reconnecting in 0.01 s (attempt 1 of 3)",
        "warning: rtsp://cam/live: cannot reopen it (cannot open camera rtsp://cam/live: is a camera connected?);"
        " reconnecting in 0.02 s (attempt 2 of 3)",
        "warning: rtsp://cam/live: no frame for 0.5 s; reconnecting in 0.01 s (attempt 1 of 3)",
        "warning: rtsp://cam/live: it stopped delivering frames; reconnecting in 0.01 s (attempt 1 of 3)",
        "warning: rtsp://cam/live: cannot reopen it (cannot open camera rtsp://cam/live: is a camera connected?);"
        " reconnecting in 0.02 s (attempt 2 of 3)",
        "warning: rtsp://cam/live: cannot reopen it (cannot open camera rtsp://cam/live: is a camera connected?);"
        " reconnecting in 0.04 s (attempt 3 of 3)",
    ]
    assert err.count("reconnected to rtsp://cam/live") == 2
    assert reader.lost.startswith("lost rtsp://cam/live: cannot reopen it") and "gave up after 3" in reader.lost
    assert all(c.released for c in source.captures if c.then == "fail")


def test_the_cli_reports_a_lost_stream_after_the_summary(color_model, monkeypatch, capsys, fast_backoff):
    source = FakeSource([(6, "fail"), (4, "fail")])
    monkeypatch.setattr(facemask.stream, "open_capture", source)
    code = video_main(["--video", "rtsp://cam/live", "--no-display", "-m", str(color_model),
                       "--reconnect", "2", "--read-timeout", "0.5"])
    out, err = capsys.readouterr()
    assert code == 1
    assert " frames, faces: " in out and "source: 1 reconnection(s)" in out
    assert err.count("reconnecting in") == 3
    assert err.rstrip().endswith("error: lost rtsp://cam/live: cannot reopen it (cannot open camera "
                                 "rtsp://cam/live: is a camera connected?); gave up after 2 reconnection attempt(s)")


def test_without_reconnect_a_stopped_camera_ends_with_an_error_not_silently(color_model, monkeypatch, capsys):
    monkeypatch.setattr(facemask.stream, "open_capture", FakeSource([(3, "fail")]))
    assert video_main(["--camera", "0", "--no-display", "-m", str(color_model), "--reconnect", "0"]) == 1
    out, err = capsys.readouterr()
    assert " frames, faces: " in out
    assert "error: lost camera 0: it stopped delivering frames (--reconnect N retries it)" in err


def test_a_source_that_changes_resolution_is_written_whole(color_model, tmp_path):
    class Resizing(FakeCapture):
        def read(self):
            ok, frame = super().read()
            return ok, (cv2.resize(frame, (320, 240)) if ok and self.count > 5 else frame)

    detector = MaskDetector.load(color_model)
    out = tmp_path / "out.avi"
    summary = run(detector, "clip.avi", output=out, opener=lambda s: Resizing(10))
    assert summary.frames == 10
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 160 and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 10


@pytest.fixture(scope="module")
def mjpeg_avi(tmp_path_factory):
    frames = [np.roll(scene(), 4 * i, axis=1) for i in range(40)]
    path = tmp_path_factory.mktemp("avi") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def frames_until_first_failure(path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_a_truncated_video_ends_cleanly_with_the_summary(mjpeg_avi, color_model, tmp_path, capsys):
    cut = tmp_path / "cut.avi"
    data = mjpeg_avi.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert video_main(["--video", str(cut), "--no-display", "-m", str(color_model)]) == 0
    out, err = capsys.readouterr()
    frames = int(out.split(" frames")[0])
    assert 10 <= frames < 40
    assert f"warning: {cut} ends after {frames} of its 40 frames: it is truncated or damaged" in err


def test_a_partly_corrupt_video_is_read_past_its_damaged_frames(mjpeg_avi, color_model, tmp_path, capsys):
    bad = tmp_path / "bad.avi"
    data = bytearray(mjpeg_avi.read_bytes())
    chunks = [i for i in range(len(data)) if data[i : i + 4] == b"00dc"]  # a frame's chunk (or its index entry)
    for k in (12, 25):
        data[chunks[k] + 8 : chunks[k] + 608] = bytes(600)  # the start of the JPEG: the frame cannot be decoded
    bad.write_bytes(bytes(data))
    assert video_main(["--video", str(bad), "--no-display", "-m", str(color_model)]) == 0
    out = capsys.readouterr().out
    frames = int(out.split(" frames")[0])
    assert frames_until_first_failure(bad) < 20 and frames >= 36  # not the end at the first bad frame
    assert "damaged frame(s) skipped" in out


def test_a_truncated_mp4_without_its_index_is_a_clear_error(tmp_path, color_model, capsys):
    from conftest import write_video

    video = write_video(tmp_path / "v.mp4", [scene()] * 10)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    assert video_main(["--video", str(video), "--no-display", "-m", str(color_model)]) == 1
    assert "cannot open video" in capsys.readouterr().err
