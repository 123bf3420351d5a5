"""--mqtt against a real broker: Debian's mosquitto, started by each test on a loopback port (skipped, with the
reason, where it is not installed)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Script, write_video
from test_monitoring import frame_with, run_video

from facemask.mqtt import Broker, camera_name

mqtt = pytest.importorskip("paho.mqtt.client", reason="the mqtt extra is not installed")
MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).is_file()), None)
PASSWORD = "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A broker of our own on loopback, which a test may stop and start again on the same port."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        pytest.skip(f"mosquitto did not start on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def url(self, prefix: str = "test", user: str = "") -> str:
        return f"mqtt://{user}127.0.0.1:{self.port}/{prefix}"


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto): the MQTT tests need a real broker")
    broker = Mosquitto(tmp_path)
    yield broker
    broker.stop()


class Subscriber:
    """Collects every message under a topic filter, with its retain flag, from the moment it is subscribed."""

    def __init__(self, port: int, topic: str = "test/#"):
        self.messages: list[tuple[str, str, bool]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode(), m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def on(self, topic: str) -> list[str]:
        return [payload for t, payload, _ in self.messages if t == topic]

    def wait_for(self, topic: str, payload: str | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(payload is None or p == payload for p in self.on(topic)):
            assert time.monotonic() < deadline, f"no {payload or 'message'} on {topic}: {self.messages[-5:]}"
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def unmasked_video(path: Path, frames: int) -> Path:
    """One unmasked person drifting right: an alert after one second (10 frames) with the colour model."""
    return write_video(path, [frame_with([("without_mask", 40 + i % 200, 40)]) for i in range(frames)], fps=10)


def test_broker_urls_are_checked_and_never_show_the_password(monkeypatch):
    monkeypatch.setenv("FACEMASK_MQTT_PASSWORD", "from-env")
    b = Broker.parse("mqtts://me@broker.example/site/lobby")
    assert (b.host, b.port, b.tls, b.prefix, b.username, b.password) == (
        "broker.example", 8883, True, "site/lobby", "me", "from-env")
    b = Broker.parse(f"mqtt://me:{PASSWORD}@10.0.0.2:1884")
    assert (b.port, b.prefix, b.password) == (1884, "facemask", PASSWORD) and PASSWORD not in b.address
    assert Broker.parse("mqtt://10.0.0.2").password is None  # no user: no password sent
    for bad in ("http://x/y", "mqtt:///prefix", f"mqtt://me:{PASSWORD}@host:99999/p", "mqtt://host/a/#",
                "mqtt://host/a//b"):
        with pytest.raises(ValueError) as e:
            Broker.parse(bad)
        assert PASSWORD not in str(e.value)
    assert camera_name(0) == "camera0"
    assert camera_name("/videos/Front door.mp4") == "Front-door"
    assert camera_name(f"rtsp://me:{PASSWORD}@cam1.local:554/live/ch1") == "cam1.local-live-ch1"


def test_without_paho_the_error_names_the_extra(monkeypatch):
    import importlib.util

    from facemask.errors import FacemaskError
    from facemask.mqtt import MqttSink

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "paho" else find_spec(name, *a))
    with pytest.raises(FacemaskError, match=r"--mqtt needs paho.*facemask-detector\[mqtt\]"):
        MqttSink("mqtt://127.0.0.1/x", 0)


@pytest.mark.parametrize("url", ["http://h/p", f"mqtt://u:{PASSWORD}@h:0x/p"])
def test_a_bad_url_exits_2_without_the_password(url, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        from facemask.cli import video_main

        video_main(["--video", str(tmp_path / "v.mp4"), "--mqtt", url])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--mqtt" in err and PASSWORD not in err


def test_the_alert_arrives_once_and_counts_and_status_are_retained(broker, tmp_path, color_model):
    video = unmasked_video(tmp_path / "lobby.mp4", 30)
    listener = Subscriber(broker.port)
    code, out, err = run_video(["--video", str(video), "-m", str(color_model), "--alert-after", "1",
                                "--mqtt", broker.url(user=f"me:{PASSWORD}@")])
    assert code == 0, err
    listener.wait_for("test/lobby/status", "offline")
    listener.close()
    alerts = [json.loads(p) for p in listener.on("test/lobby/alert")]
    assert len(alerts) == 1
    assert (alerts[0]["event"], alerts[0]["label"], alerts[0]["frame"], alerts[0]["camera"]) == (
        "alert", "without_mask", 10, "lobby")
    ends = [json.loads(p) for p in listener.on("test/lobby/track_end")]
    assert [(e["label"], e["alerted"]) for e in ends] == [("without_mask", True)]
    assert listener.on("test/lobby/status")[0] == "online"
    assert "MQTT: 2 events published" in err
    for text in (out, err, *(p for _, p, _ in listener.messages)):
        assert PASSWORD not in text

    late = Subscriber(broker.port)  # subscribes after the run: gets what was retained
    late.wait_for("test/lobby/people", timeout=10)
    late.wait_for("test/lobby/status", "offline", timeout=10)
    counts = json.loads(late.on("test/lobby/people")[-1])
    assert counts["in_view"] == {"with_mask": 0, "without_mask": 0, "incorrect_mask": 0}
    assert counts["people"]["without_mask"] == 1
    assert all(retained for topic, _, retained in late.messages)
    late.close()


def publishing(broker: Mosquitto, video: Path, color_model: Path, *extra: str) -> tuple[Script, Subscriber]:
    """The video script publishing a video to the broker in a process of its own, once it is online."""
    listener = Subscriber(broker.port)
    run = Script("detect_mask_video.py", "--video", str(video), "-m", str(color_model), "--no-display",
                 "--no-bell", "-q", "--mqtt", broker.url(), *extra)
    listener.wait_for(f"test/{video.stem}/status", "online")
    return run, listener


def test_the_last_will_says_offline_when_the_detector_is_killed(broker, tmp_path, color_model):
    video = write_video(tmp_path / "long.mp4", [np.zeros((48, 64, 3), np.uint8)] * 3000, fps=10)
    run, listener = publishing(broker, video, color_model)
    try:
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(10)
        listener.wait_for("test/long/status", "offline", timeout=10)  # the broker's doing: the process is gone
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
        listener.close()


def test_a_broker_that_goes_away_costs_no_frames(broker, tmp_path, color_model):
    frames = 400
    run, listener = publishing(broker, unmasked_video(tmp_path / "door.mp4", frames), color_model, "--alert-after", "0")
    listener.close()
    broker.stop()
    assert run.finish(120) == 0, run.stderr[-2000:]
    assert f"{frames} frames" in run.stdout
    assert "were not delivered" in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.count("connection lost") == 1  # one warning per outage, not one per try


def test_the_publisher_reconnects_when_the_broker_comes_back(broker, tmp_path, color_model):
    run, listener = publishing(broker, unmasked_video(tmp_path / "gate.mp4", 600), color_model, "--alert-after", "1")
    listener.close()
    broker.stop()
    time.sleep(1)
    broker.start()  # with nothing retained: "online" again means the detector connected again
    listener = Subscriber(broker.port)
    try:
        listener.wait_for("test/gate/status", "online", timeout=40)
        assert run.finish(120) == 0, run.stderr[-2000:]
        listener.wait_for("test/gate/track_end", timeout=10)
        assert "600 frames" in run.stdout and "were not delivered" not in run.stderr
        assert "connected to mqtt://127.0.0.1" in run.stderr
    finally:
        listener.close()


def test_a_batch_unit_publishes_under_its_folder_name(broker, tmp_path, color_model):
    from facemask.batch import work

    video = unmasked_video(tmp_path / "hall.mp4", 20)
    options = work.Options(model=str(color_model), alert_after=1.0, mqtt=broker.url("site"))
    assert options.results_key() == work.Options(model=str(color_model), alert_after=1.0).results_key()
    [job] = work.make_jobs([str(video)])
    [unit] = job.units
    listener = Subscriber(broker.port, "site/#")
    summary = work.process(options.load_detector(), unit, tmp_path / "out", options)
    assert summary["alerts"] == 1
    topic = f"site/{unit.folder}"
    listener.wait_for(f"{topic}/status", "offline")
    assert [json.loads(p)["label"] for p in listener.on(f"{topic}/alert")] == ["without_mask"]
    listener.close()
