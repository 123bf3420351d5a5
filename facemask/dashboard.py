"""The dashboard: a small web app that shows a running pipeline in a browser, and a JSON API of its figures.

It only reads a LiveState (facemask.live) that the frame loop fills, on a server thread of its own, so a slow,
stalled or vanished browser can delay nothing but its own page. Routes are fixed: the page, the video, the API
and alert thumbnails by number; nothing is ever looked up by a path taken from a request. A run of several
streams (the batch runner's) serves one LiveCopy per stream, picked by ?stream=N on every route (default 0),
/api/streams lists them, and /metrics gives the figures of all of them to Prometheus. Starlette and uvicorn are
optional (the `dashboard` extra): only `--serve` imports this module."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Sequence
from importlib import resources
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import FacemaskError
from .labels import CLASSES, compliance
from .live import MAX_EVENTS, LiveCopy, LiveState
from .metrics import prometheus_text

Live = LiveState | LiveCopy

BOUNDARY = "frame"
POLL = 0.02  # seconds between a video stream's looks for a newer frame
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # the token may be in the page's address
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'none'; img-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
     b"script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
]
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
REQUEST_SECONDS = 10.0  # the most a client may take to send one whole request
MAX_CONNECTIONS = 64  # open at once; a connection past these is closed as soon as it is accepted


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host name of a Host header, without its port: "[::1]:8000" -> "::1"."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Gate:
    """Checked before any route: the token when one is set (a Bearer header or ?token=), and, on a loopback
    address, that the browser asked for a loopback name, so that a web page elsewhere cannot reach the dashboard
    by pointing a name of its own at 127.0.0.1 (DNS rebinding). Adds the security headers to every response.
    The browser's own request for /favicon.ico, which carries no token, gets an empty answer."""

    def __init__(self, app: ASGIApp, token: str | None, loopback: bool):
        self.app = app
        self.token = token.encode() if token else None
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = None
        if self.loopback and host_of(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
            refusal = PlainTextResponse("this dashboard answers to localhost only\n", 421)
        elif scope["path"] == "/favicon.ico":  # asked for without the token: empty, so as not to be a console error
            refusal = Response(status_code=204)
        elif self.token is not None and not self._token_ok(scope, headers):
            refusal = PlainTextResponse("a valid token is required\n", 401, headers={"WWW-Authenticate": "Bearer"})
        if refusal is not None:
            await refusal(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)

    def _token_ok(self, scope: Scope, headers: dict[str, str]) -> bool:
        if self.token is None:
            return True
        given = []
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given.append(auth[7:].strip())
        given += parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        # every token given must be right, each compared in constant time
        return bool(given) and all(hmac.compare_digest(t.encode("utf-8", "replace"), self.token) for t in given)


class _BadParameter(ValueError):
    pass


def _number(request: Request, name: str, default: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > high:
        raise _BadParameter(f"{name} must be a whole number from 0 to {high}")
    return int(text)


class _NoStream(LookupError):
    pass


def create_app(lives: Sequence[Live], token: str | None = None, loopback: bool = True) -> ASGIApp:
    """The web app over `lives`, one per stream; `token`: required on every request when set."""
    page = resources.files("facemask").joinpath("dashboard.html").read_text(encoding="utf-8")

    def live_of(request: Request) -> tuple[int, Live]:
        number = _number(request, "stream", 0, 2**31)
        if number >= len(lives):
            raise _NoStream
        return number, lives[number]

    def route(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, *live_of(request))
            except _NoStream:
                return PlainTextResponse("no such stream\n", 404)
            except _BadParameter as e:
                return PlainTextResponse(f"{e}\n", 400)

        return endpoint

    async def index(request: Request, number: int, live: Live) -> Response:
        return HTMLResponse(page)

    async def stats(request: Request, number: int, live: Live) -> Response:
        return JSONResponse(live.stats())

    async def events(request: Request, number: int, live: Live) -> Response:
        since = _number(request, "since", 0, 2**62)
        limit = _number(request, "limit", MAX_EVENTS, MAX_EVENTS)
        found = live.events(since, limit)
        if len(lives) > 1:
            for event in (e for e in found if e["thumbnail"]):
                event["thumbnail"] += f"?stream={number}"
        return Response(json.dumps(found), media_type="application/json")

    async def snapshot(request: Request, number: int, live: Live) -> Response:
        jpeg = live.thumbnail(request.path_params["number"])
        if jpeg is None:
            return PlainTextResponse("no such snapshot\n", 404)
        return Response(jpeg, media_type="image/jpeg")

    async def video(request: Request, number: int, live: Live) -> Response:
        return StreamingResponse(_mjpeg(live), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    async def streams(request: Request) -> Response:
        return JSONResponse(_streams([live.stats() for live in lives]))

    async def metrics(request: Request) -> Response:
        try:
            body, content_type = prometheus_text([live.stats() for live in lives])
        except ImportError:
            return PlainTextResponse("/metrics needs prometheus-client: pip install 'facemask-detector[dashboard]'\n",
                                     501)
        return Response(body, media_type=content_type)

    routes = [
        Route("/", route(index)),
        Route("/api/stats", route(stats)),
        Route("/api/events", route(events)),
        Route("/api/streams", streams),
        Route("/metrics", metrics),
        Route("/snapshots/{number:int}.jpg", route(snapshot)),
        Route("/video.mjpg", route(video)),
    ]
    return Gate(Starlette(routes=routes), token, loopback)


STREAM_FIGURES = ("source", "state", "frames", "fps", "in_view_total", "people", "alerts", "compliance",
                  "run_compliance")


def _streams(stats: list[dict]) -> dict:
    """/api/streams: each stream's main figures, and the totals over all of them."""
    total: dict = {"frames": sum(s["frames"] for s in stats), "alerts": sum(s["alerts"] for s in stats)}
    for key in ("in_view", "faces", "people"):
        total[key] = {c: sum(s[key][c] for s in stats) for c in CLASSES}
    total |= {"in_view_total": sum(total["in_view"].values()), "compliance": compliance(total["in_view"], 4),
              "run_compliance": compliance(total["faces"], 4)}
    return {"streams": [{"stream": i, **{k: s[k] for k in STREAM_FIGURES}} for i, s in enumerate(stats)],
            "total": total}


async def _mjpeg(live: Live):
    """The newest frame each time there is one, while the client reads: a client that reads slowly skips
    frames, and one that stops reading holds up nothing but this generator."""
    with live.watching():
        seq = 0
        while not live.closed:
            newer = live.jpeg_after(seq)
            if newer is None:
                await asyncio.sleep(POLL)
                continue
            seq, jpeg = newer
            yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                   + jpeg + b"\r\n")


class _PromptHTTP(H11Protocol):
    """uvicorn's HTTP/1.1, with a deadline for each whole request and a cap on open connections. uvicorn's own
    timeout covers only the idle time between requests and starts again at every byte, so a client that sent
    its headers a byte at a time held a connection, and a file descriptor the pipeline needs for its
    snapshots, as long as it liked; a thousand such clients held them all."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._arm()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a whole request came in: the app has it, however long it streams
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._disarm()
            self._arm()  # the next request on this connection has the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(REQUEST_SECONDS, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class Dashboard:
    """The web app served by uvicorn on a thread of its own, on a socket bound at once, so that an address in
    use fails before the run starts. uvicorn installs no signal handlers outside the main thread: Ctrl-C stays
    the pipeline's, and stop() ends the server."""

    def __init__(self, lives: Sequence[Live], host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.lives = list(lives)
        self.host = host
        self.loopback = is_loopback(host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
            self.socket = socket.socket(family, socket.SOCK_STREAM)
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(infos[0][4])
            self.socket.listen(64)
        except OSError as e:
            raise FacemaskError(f"--serve: cannot listen on {host}:{port}: {e.strerror or e}") from e
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(create_app(self.lives, token, self.loopback), lifespan="off", log_config=None,
                                log_level="warning", access_log=False, loop="asyncio", http=_PromptHTTP,
                                timeout_graceful_shutdown=3, ws="none", limit_concurrency=MAX_CONNECTIONS)
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """End the streams, then the server; a client that stopped reading is cut off after 3 seconds."""
        for live in self.lives:
            live.shutdown()
        # A stream still open when the grace period ends is cancelled, which uvicorn would log as a traceback.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        self.server.should_exit = True
        self.thread.join(5)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(2)
        self.socket.close()
