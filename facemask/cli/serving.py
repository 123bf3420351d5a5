"""--serve: the dashboard of a run, started before the model loads, and kept up a while after the run."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable

from ..errors import notice, require, warn
from ..events import SERVE_TOKEN_ENV
from ..interrupt import StopRequest


def start_dashboard(args: argparse.Namespace, make_lives: Callable[[], list]):
    """With --serve, the dashboard over `make_lives()` (a LiveState, or a LiveCopy per stream), started before
    the model loads, so that an address in use fails first; the lives are closed if it cannot start. None
    without --serve."""
    if not args.serve:
        return None
    lives = make_lives()
    try:
        require("starlette", "--serve", "dashboard")
        require("uvicorn", "--serve", "dashboard")
        from ..dashboard import Dashboard, is_loopback

        host, port = args.serve
        made = not args.serve_token and not is_loopback(host)
        if made:  # as Jupyter does: a page open to the network, and to DNS rebinding, is never open to all
            args.serve_token = secrets.token_urlsafe(24)
        dashboard = Dashboard(lives, host, port, args.serve_token)
    except BaseException:
        for live in lives:
            live.shutdown()
        raise
    dashboard.start()
    token = f"?token={args.serve_token}" if made else "?token=..." if args.serve_token else ""
    notice(f"dashboard: {dashboard.url}{token}")
    if not is_loopback(host):
        warn(f"the dashboard listens on {host}, reachable from other machines"
             + (f"; it asks for a token made for this run (set --serve-token or {SERVE_TOKEN_ENV} to choose "
                "one)" if made else ""))
    return dashboard


def linger(dashboard, seconds: float) -> None:
    """Keep the dashboard up after the run, until the time is up or Ctrl-C (SIGTERM): the run is complete, so
    either ends the command normally."""
    notice(f"the run has ended; the dashboard stays up for {seconds:g} s at {dashboard.url} (Ctrl-C to close it)")
    with StopRequest("closing the dashboard") as stop:
        stop.event.wait(seconds)
