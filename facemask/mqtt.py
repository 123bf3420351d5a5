"""--mqtt: alerts, ended tracks and the people in view, published to an MQTT broker (Home Assistant, Node-RED,
an NVR) as they happen.

Topics, under `<prefix>/<camera>/`: `alert` and `track_end` (each event as JSON, the fields of --log plus the
camera, QoS 1), `people` (retained: people in view per class, every few seconds) and `status` (retained:
`online`, and `offline` at the end or, through MQTT's last will, when the process dies).

The broker never holds up the frame loop: events go into a bounded queue that a thread of its own hands to
paho-mqtt, which connects, reconnects with back-off and keeps QoS 1 messages until the broker takes them.
What the queue cannot hold, and what is still unsent when the run ends, is counted and reported at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import SourceError, notice, require, warn
from .events import wall_time
from .labels import per_class
from .stream import is_url, redact
from .types import FrameResult, Summary, sure_counts

PASSWORD_ENV = "FACEMASK_MQTT_PASSWORD"
QUEUE_SIZE = 1000  # messages waiting for the broker, at most
COUNTS_EVERY = 5.0  # seconds between two retained counts of the people in view
FLUSH_SECONDS = 3.0  # how long the end of a run waits for the broker to take what is queued
RECONNECT_DELAYS = (1, 30)  # seconds: the first wait before reconnecting, and the longest


@dataclass(frozen=True)
class Broker:
    """Where to publish, from mqtt[s]://[user[:password]@]host[:port][/prefix]."""

    host: str
    port: int
    tls: bool
    prefix: str
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Broker:
        """ValueError, naming the URL without its password, when it cannot be used."""
        parts = urlsplit(url)
        shown = redact(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"{shown}: use mqtt://host[:port]/prefix or mqtts:// for TLS")
        try:
            port = parts.port
        except ValueError as e:
            raise ValueError(f"{shown}: the port is not a number from 1 to 65535") from e
        if not parts.hostname:
            raise ValueError(f"{shown}: no broker host")
        prefix = parts.path.strip("/") or "facemask"
        after_host = url.split("://", 1)[-1].rpartition("@")[2]
        if any(c in prefix or c in after_host for c in "+#?\0") or "//" in prefix:
            raise ValueError(f"{shown}: the topic prefix may not hold +, #, ? or empty levels")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else os.environ.get(PASSWORD_ENV)
        return cls(parts.hostname, port or (8883 if parts.scheme == "mqtts" else 1883), parts.scheme == "mqtts",
                   prefix, username, password if username else None)

    @property
    def address(self) -> str:
        """The broker as messages name it: never a password."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{self.prefix}"


def camera_name(source: int | str) -> str:
    """The topic level of a source: camera0 for a webcam, the file's or stream's name otherwise, in the
    characters every broker and dashboard takes."""
    if isinstance(source, int):
        return f"camera{source}"
    if is_url(source):  # host and path only: never the credentials or the query
        parts = urlsplit(source)
        return topic_level(f"{parts.hostname or ''}{parts.path}")
    return topic_level(os.path.splitext(os.path.basename(source))[0])


def topic_level(name: str) -> str:
    """`name` in the characters every broker and dashboard takes in a topic level."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "video"


class MqttSink:
    """Publishes a run to an MQTT broker (see the module's docstring): a sink (facemask.sinks)."""

    def __init__(self, url: str, source: int | str, name: str | None = None, queue_size: int = QUEUE_SIZE,
                 counts_every: float = COUNTS_EVERY):
        require("paho", "--mqtt", "mqtt")
        import paho.mqtt.client as mqtt

        self.broker = Broker.parse(url)
        self.camera = topic_level(name) if name else camera_name(source)
        self.topic = f"{self.broker.prefix}/{self.camera}"
        self.counts_every = counts_every
        self.sent = 0  # events handed to the broker's client
        self._full = 0  # events the queue had no room for (the frame loop's count)
        self._refused = 0  # events the client's own queue refused (the publisher's count)
        self._counts_at = -float("inf")
        self._event_ids: list[int] = []  # message IDs of the events handed to the client
        self._confirmed: set[int] = set()  # message IDs the broker has acknowledged
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._mqtt = mqtt
        client = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                           client_id=f"facemask-{self.camera[:40]}-{uuid.uuid4().hex[:8]}")
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.will_set(f"{self.topic}/status", "offline", qos=1, retain=True)
        client.reconnect_delay_set(*RECONNECT_DELAYS)
        client.max_queued_messages_set(queue_size)
        client.on_connect = self._connected
        client.on_connect_fail = lambda client, userdata: self._down("cannot be reached")
        client.on_disconnect = lambda client, userdata, flags, reason_code, properties: self._down(
            f"connection lost ({reason_code})")
        self._outage = self._closing = False
        client.on_publish = lambda client, userdata, mid, reason_code, properties: self._confirmed.add(mid)
        self._refusal_told = False
        try:
            client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        except (OSError, ValueError) as e:
            raise SourceError(f"MQTT broker {self.broker.address}: {e}") from e
        client.loop_start()
        self._thread = threading.Thread(target=self._publish_loop, name="mqtt-publisher", daemon=True)
        self._thread.start()

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            if not self._refusal_told:
                self._refusal_told = True
                warn(f"MQTT broker {self.broker.address} refused the connection: {reason_code}")
            return
        if self._outage:
            self._outage = False
            notice(f"MQTT: connected to {self.broker.address} again")
        client.publish(f"{self.topic}/status", "online", qos=1, retain=True)

    def _down(self, why: str) -> None:
        """Once per outage: the broker is away; events wait in the queue while paho-mqtt reconnects."""
        if not (self._outage or self._closing):
            self._outage = True
            warn(f"MQTT broker {self.broker.address} {why}; events wait in the queue while it reconnects")

    # The frame loop's side: never waits.

    def observe(self, result: FrameResult) -> None:
        for event in result.events:
            self._event(event)
        tick = time.monotonic()
        if result.frame is not None and tick - self._counts_at >= self.counts_every:
            self._counts_at = tick
            faces = result.faces
            self._counts(sure_counts(faces), sum(f.unsure for f in faces), result.people)

    def close(self, summary: Summary) -> None:
        """Publish the last counts, say `offline`, wait a little for the broker, report what was lost."""
        self._counts(Counter(), 0, summary.people)
        self._put(("status", "offline", 1, True))
        self._queue.put(None)
        deadline = time.monotonic() + FLUSH_SECONDS
        self._thread.join(FLUSH_SECONDS)
        while not self._confirmed.issuperset(self._event_ids) and time.monotonic() < deadline:
            time.sleep(0.02)
        unsent = self._full + self._refused + len(set(self._event_ids) - self._confirmed)
        self._closing = True
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        if unsent:
            warn(f"MQTT: {unsent} of {self.sent + self._full} events were not delivered to "
                 f"{self.broker.address} (unreachable, or the queue of {self._queue.maxsize} was full)")
        elif self.sent:
            notice(f"MQTT: {self.sent} events published to {self.broker.address}")

    def _event(self, event: dict) -> None:
        self._put((event["event"], json.dumps(event | {"camera": self.camera}), 1, False), event=True)

    def _counts(self, in_view: Counter, unsure: int, people: Counter) -> None:
        payload = {"camera": self.camera, "time": wall_time(), "in_view": per_class(in_view),
                   "unsure": unsure}
        payload["people"] = per_class(people)
        self._put(("people", json.dumps(payload), 0, True))

    def _put(self, item: tuple, event: bool = False) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._full += event
            return
        self.sent += event

    # The publisher's side.

    def _publish_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            level, payload, qos, retain = item
            info = self.client.publish(f"{self.topic}/{level}", payload, qos=qos, retain=retain)
            if level in ("status", "people"):
                continue
            if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
                self._refused += 1
            else:  # sent, or kept by the client until it is connected again
                self._event_ids.append(info.mid)
