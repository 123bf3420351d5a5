"""The Ray layer, kept thin: actors that load the model once and run units (work.py does the work), the driver
that hands units to idle actors and waits on them with ray.wait, and the stream watchers.

Ray is optional: it is imported here only, inside functions, so that `--help` and the rest of the package work
without it.

Fault tolerance, all Ray's own: every actor has max_restarts=-1, so a worker process that dies (killed, out
of memory, its node lost) is started again and loads the model again; its unit comes back to the driver as a
RayActorError and is handed out again, as is one that raised, until it has been tried 1 + retries times. The
driver remembers which unit each ObjectRef runs, which ray.util.ActorPool hides when an actor dies: that is why
it keeps its own map of refs instead of using ActorPool. Actors take two calls at a time (max_concurrency=2) so
that the driver can ask one for its progress, or tell it to stop, while it works.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ..errors import FacemaskError, console_logging, notice, require, warn
from ..events import CommandHook, EventLog
from ..interrupt import StopRequest, Terminated, in_main_thread, interrupt_for
from ..labels import compliance, per_class
from ..live import LiveCopy, LiveState
from ..sinks import AlertOutputs
from ..stream import redact
from ..video import run
from .work import Options, Unit, process

POLL_SECONDS = 0.5  # how often the driver wakes up for the progress bar while it waits on the workers
STOP_GRACE = 15.0  # seconds the driver waits for workers to finish their frame after Ctrl-C
LIVE_SECONDS = 0.25  # how often the dashboard's copy of a stream nobody watches is brought up to date
SETTLE_SECONDS = 5.0  # the longest the driver waits for a stream's final figures


def ray_module():
    """Ray, or the FacemaskError that names the extra to install."""
    require("ray", "running on a Ray cluster (facemask.batch)", "cluster")
    import ray

    return ray


def start_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address` (`auto`, `ray://host:port`, `host:port`), or start a local Ray instance
    with `num_cpus` (default: this machine's cores). Returns whether this call started Ray (and so the caller
    shuts it down); a Ray already initialised in this process (tests, a notebook) is used as it is."""
    ray = ray_module()
    if ray.is_initialized():
        return False
    import logging

    # Ray's core worker puts in a SIGTERM handler of its own that ends the process at once, without the summary
    sigterm = signal.getsignal(signal.SIGTERM) if in_main_thread() else None
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    except SystemExit as e:  # the SIGTERM handler ray.init put in, called before this one is back
        if e.code != signal.SIGTERM:
            raise
        raise Terminated from None
    except (ConnectionError, RuntimeError, ValueError) as e:
        if not address:
            raise FacemaskError(f"cannot start Ray: {e}") from e
        raise FacemaskError(f"cannot join the Ray cluster at {address}: {e} (is it up? a cluster with token "
                            "authentication also needs RAY_AUTH_MODE=token and its token where this runs)") from e
    finally:
        if callable(sigterm):
            signal.signal(signal.SIGTERM, sigterm)
    return True


def cluster_cpus() -> int:
    return int(ray_module().cluster_resources().get("CPU", 1))


class BatchWorker:
    """A Ray actor that loads the model once and then runs one unit after another."""

    def __init__(self, options: Options, threads: int):
        console_logging()  # a process of Ray's: its warnings print as the driver's do
        cv2.setNumThreads(threads)
        self.options = options
        self.detector = options.load_detector(threads)
        self.stop = StopRequest()
        self.frames = 0  # of the unit in hand

    def process(self, unit: Unit, out: str) -> dict:
        self.frames = 0
        try:
            return process(self.detector, unit, out, self.options, self._count, self.stop)
        finally:
            self.frames = 0

    def _count(self, n: int) -> None:
        self.frames += n

    def progress(self) -> int:
        return self.frames

    def halt(self) -> None:
        self.stop.set()


@dataclass
class Outcome:
    """What became of one unit in this run."""

    unit: Unit
    summary: dict | None = None
    error: str | None = None
    attempts: int = 0


@dataclass
class _Bars:
    """Two bars on stderr: inputs (units) done, and frames done (photos count as frames)."""

    units: object = None
    frames: object = None
    done_frames: int = 0

    @classmethod
    def make(cls, show: bool, units: list[Unit]) -> _Bars:
        if not show:
            return cls()
        from tqdm import tqdm

        expected = [u.frames_expected() for u in units]
        total = sum(expected) if all(expected) else None
        return cls(tqdm(total=len(units), unit="input", file=sys.stderr, position=0, dynamic_ncols=True),
                   tqdm(total=total, unit="frame", file=sys.stderr, position=1, dynamic_ncols=True))

    def update(self, finished: int, frames: int, in_progress: int) -> None:
        if self.units is None:
            return
        self.units.update(finished)
        self.done_frames += frames
        total = self.frames.total
        self.frames.n = min(self.done_frames + in_progress, total) if total else self.done_frames + in_progress
        self.frames.refresh()

    def close(self) -> None:
        for bar in (self.units, self.frames):
            if bar is not None:
                bar.close()


@dataclass
class _Driver:
    """Hands units to idle workers, waits on them with ray.wait, retries what failed."""

    out: Path
    options: Options
    workers: int
    threads: int
    retries: int
    bars: _Bars = field(default_factory=_Bars)

    def run(self, units: list[Unit]) -> list[Outcome]:
        ray = ray_module()
        actor = ray.remote(BatchWorker).options(num_cpus=self.threads, max_restarts=-1, max_task_retries=0,
                                                max_concurrency=2)
        self.actors = [actor.remote(self.options, self.threads) for _ in range(min(self.workers, len(units)))]
        self.outcomes = {unit: Outcome(unit) for unit in units}
        self.pending = deque(units)
        self.idle = list(self.actors)
        self.running: dict = {}  # ObjectRef -> (actor, unit)
        self.polls: dict = {}  # actor -> ObjectRef of its progress() call
        self.progress: dict = {}  # actor -> frames of its unit in hand
        self.waking: dict = {}  # ObjectRef of a ping -> a worker that died and is being restarted
        # The first Ctrl-C or SIGTERM only sets a flag: raised inside ray.wait, Ray would turn it into a plain
        # KeyboardInterrupt and SIGTERM's exit status would be lost.
        stop = StopRequest("stopping: the inputs not complete run again next time (Ctrl-C again to quit at once)")
        try:
            with stop:
                while (self.pending or self.running) and not stop.is_set():
                    self.wake()
                    if self.pending and not (self.idle or self.running or self.waking):
                        self.give_up("no worker left")
                        break
                    while self.pending and self.idle:
                        self.submit(self.pending.popleft(), self.idle.pop())
                    done, _ = ray.wait([*self.running, *self.waking], num_returns=1, timeout=POLL_SECONDS)
                    for ref in done:
                        if ref in self.running:
                            self.collect(ref)
                    self.poll()
                if stop.is_set():
                    self.stop()
                    raise interrupt_for(stop.signum)
        finally:
            for a in self.actors:
                ray.kill(a)
        return list(self.outcomes.values())

    def submit(self, unit: Unit, actor) -> None:
        self.outcomes[unit].attempts += 1
        self.running[actor.process.remote(unit, str(self.out))] = (actor, unit)

    def collect(self, ref) -> None:
        ray = ray_module()
        actor, unit = self.running.pop(ref)
        self.progress.pop(actor, None)
        outcome = self.outcomes[unit]
        try:
            outcome.summary, outcome.error = ray.get(ref), None
            self.idle.append(actor)
            self.bars.update(1, outcome.summary["frames"], self._in_progress())
            return
        except ray.exceptions.RayActorError as e:
            outcome.error = f"its worker died ({_first_line(e)})"
            self.waking[actor.progress.remote()] = actor  # no new unit until Ray has restarted it
        except ray.exceptions.RayTaskError as e:
            self.idle.append(actor)
            outcome.error = _cause(e)
        if outcome.attempts <= self.retries:
            warn(f"{unit.name}: {outcome.error}; trying again ({outcome.attempts} of {1 + self.retries})")
            self.pending.append(unit)
        else:
            warn(f"{unit.name}: {outcome.error}; gave up after {outcome.attempts} attempt(s)")
            self.bars.update(1, 0, self._in_progress())

    def wake(self) -> None:
        """Workers that died come back to the pool once they answer again: a unit handed to one that Ray is
        still restarting would fail at once and use up its retries."""
        if not self.waking:
            return
        ray = ray_module()
        ready, _ = ray.wait(list(self.waking), num_returns=len(self.waking), timeout=0)
        for ref in ready:
            actor = self.waking.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.ActorUnavailableError:  # still restarting: ask again
                self.waking[actor.progress.remote()] = actor
            except ray.exceptions.RayActorError:  # gone for good
                continue
            else:
                self.idle.append(actor)

    def give_up(self, why: str) -> None:
        """Report every unit still waiting as failed."""
        while self.pending:
            unit = self.pending.popleft()
            self.outcomes[unit].error = why
            warn(f"{unit.name}: {why}")
            self.bars.update(1, 0, self._in_progress())

    def poll(self) -> None:
        """Ask the busy workers how far they are, without waiting for the answers."""
        if self.bars.units is None:
            return
        ray = ray_module()
        current = dict(self.running.values())  # actor -> its unit in hand
        if self.polls:
            refs = [ref for ref, _ in self.polls.values()]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for actor, (ref, unit) in list(self.polls.items()):
                if ref in ready:
                    del self.polls[actor]
                    try:
                        frames = ray.get(ref)
                    except ray.exceptions.RayError:
                        continue
                    if current.get(actor) == unit:  # not an answer about a unit already collected
                        self.progress[actor] = frames
        for actor in set(current) - set(self.polls):
            self.polls[actor] = (actor.progress.remote(), current[actor])
        self.bars.update(0, 0, self._in_progress())

    def _in_progress(self) -> int:
        current = dict(self.running.values())
        return sum(n for a, n in self.progress.items() if a in current)

    def stop(self) -> None:
        """Ctrl-C: tell the busy workers to stop after their frame (their units publish nothing), and give
        them a moment, so that no half-written unit is left in the way of the next run."""
        ray = ray_module()
        for actor, _ in self.running.values():
            actor.halt.remote()
        if self.running:
            ray.wait(list(self.running), num_returns=len(self.running), timeout=STOP_GRACE)


def run_units(units: list[Unit], out: Path, options: Options, workers: int, threads: int, retries: int,
              progress: bool) -> list[Outcome]:
    """Run the units on `workers` actors of `threads` CPUs each, in a Ray that is already initialised."""
    if not units:
        return []
    bars = _Bars.make(progress, units)
    try:
        return _Driver(out, options, workers, threads, retries, bars).run(units)
    finally:
        bars.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _cause(error) -> str:
    """The message of what a unit raised: a FacemaskError's own words, anything else with its type."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, FacemaskError):
        return str(cause)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return _first_line(error)


# Live streams: one long-lived actor per camera or stream, all events to one log.


class EventSink:
    """A Ray actor on the driver's node that owns the one event log of all streams and the --on-alert command:
    the watchers, wherever they run, send it their events."""

    def __init__(self, log: str, on_alert: str | None):
        console_logging()
        self.log = EventLog(log)
        self.hook = CommandHook(on_alert) if on_alert else None
        self.alerts = 0

    def record(self, event: dict) -> None:
        self.log.write(event)
        if event.get("event") == "alert":
            self.alerts += 1
            if self.hook:
                self.hook.send(event)

    def close(self) -> int:
        try:
            if self.hook:
                self.hook.close()
        finally:
            self.log.close()
        return self.alerts


class StreamWatcher:
    """A Ray actor that watches one camera or stream with the video script's pipeline and reconnect logic.

    With `serve_fps` (--serve), each watch fills a LiveState, as the video script's does for its dashboard;
    the driver fetches its changes with live_update(), in the actor's second slot beside watch(): an answer
    never waits for a frame, so halt() queued behind one waits no longer than the call itself."""

    def __init__(self, options: Options, threads: int, sink, serve_fps: float | None = None):
        console_logging()
        cv2.setNumThreads(threads)
        self.options = options
        self.detector = options.load_detector(threads)
        self.sink = sink
        self.stop = StopRequest()
        self.serve_fps = serve_fps
        self.live: LiveState | None = None

    def watch(self, source: str | int) -> dict:
        """Watch until the source ends, is lost, or halt(); returns its summary once the sink has every event
        (sent without waiting, as they come), so that the driver can close the log."""
        ray = ray_module()
        sent: list = []

        def send(event: dict) -> None:
            sent.append(self.sink.record.remote(event))
            if len(sent) > 100:  # forget the ones delivered
                _, sent[:] = ray.wait(sent, num_returns=len(sent), timeout=0)

        o = self.options
        alerts = AlertOutputs(bell=False, listener=send)
        live = self.live = LiveState(str(source), max_fps=self.serve_fps) if self.serve_fps else None
        try:
            result = run(self.detector, source, o, alerts=alerts,
                         sinks=[*([live] if live else ()), *o.sinks(str(source))], stop=self.stop)
        finally:
            ray.get(sent)
            if live:
                live.shutdown()  # its encoder ends; its final figures stay for live_update()
        people = per_class(result.people)
        return {"input": redact(str(source)), "kind": "stream", "frames": result.frames,
                "faces": per_class(result.faces), "people": people, "compliance": compliance(people, 4),
                "alerts": result.alerts, "reconnects": result.reconnects, "lost": result.lost,
                "stopped": bool(result.interrupted)}

    def live_update(self, since: tuple, watching: bool) -> dict | None:
        """The changes of the watch in hand (or the last one) for the driver's LiveCopy; None before any."""
        live = self.live
        return live.changes(since, watching) if live else None

    def halt(self) -> None:
        self.stop.set()


class _LiveFeed:
    """Keeps the driver's LiveCopy of each stream up to date from its watcher, on a thread of its own: one call
    in flight per watcher (settle() may ask beside it; LiveCopy ignores the staler answer), every LIVE_SECONDS
    for a stream nobody watches, twice per encoded frame (--serve-fps) for one somebody does. Only a watched
    stream's frames travel, already JPEG-encoded and scaled down by the watcher, each at most once."""

    def __init__(self, actors: list, lives: list[LiveCopy], fps: float):
        self.actors, self.lives = actors, lives
        self.watched_every = 0.5 / fps
        self.pending: dict[int, object] = {}  # stream -> ObjectRef of its live_update() call
        self.due = [0.0] * len(actors)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="live-feed", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.wait(self._pause()):
            self._step()

    def _pause(self) -> float:
        watched = any(live.viewers > 0 for live in self.lives)
        return (self.watched_every if watched else LIVE_SECONDS) / 2

    def _step(self) -> None:
        ray = ray_module()
        if self.pending:
            ready, _ = ray.wait(list(self.pending.values()), num_returns=len(self.pending), timeout=0)
            for i, ref in list(self.pending.items()):
                if ref in ready:
                    del self.pending[i]
                    self._apply(i, ref)
        now = time.monotonic()
        for i, live in enumerate(self.lives):
            if i not in self.pending and now >= self.due[i]:
                watching = live.viewers > 0
                self.due[i] = now + (self.watched_every if watching else LIVE_SECONDS)
                self.pending[i] = self._ask(i, watching)

    def _ask(self, i: int, watching: bool):
        return self.actors[i].live_update.remote(self.lives[i].since, watching)

    def _apply(self, i: int, ref, timeout: float | None = None) -> None:
        ray = ray_module()
        try:
            changes = ray.get(ref, timeout=timeout)
        except (ray.exceptions.RayError, TimeoutError):  # a watcher dead, restarting, or stuck: asked again
            return
        if changes is not None:
            self.lives[i].apply(changes)

    def settle(self, streams) -> None:
        """Bring these streams' copies up to date now (a watch that has ended: its final figures), before
        its watcher starts again or is killed."""
        asked = [(i, self._ask(i, False)) for i in streams]
        deadline = time.monotonic() + SETTLE_SECONDS
        for i, ref in asked:
            self._apply(i, ref, max(deadline - time.monotonic(), 0.0))

    def close(self) -> None:
        """Stop fetching, after one last update of every stream."""
        self.done.set()
        self.thread.join(5)
        self.settle(range(len(self.actors)))


def watch_streams(sources: list[str | int], log: Path, options: Options, threads: int, retries: int,
                  on_alert: str | None, lives: list[LiveCopy] | None = None,
                  serve_fps: float = 10.0) -> tuple[list[Outcome], KeyboardInterrupt | None]:
    """Watch every source until each has ended (a file) or been lost more than `retries` times, or Ctrl-C.
    Returns what became of each, and the Ctrl-C (SIGTERM: Terminated) that stopped them, if one did: the
    caller writes its summary first, then raises it. `lives`: one LiveCopy per source for the dashboard, kept
    up to date while the streams run and given their final figures."""
    ray = ray_module()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    sink = ray.remote(EventSink).options(num_cpus=0, scheduling_strategy=here).remote(str(log), on_alert)
    watcher = ray.remote(StreamWatcher).options(num_cpus=threads, max_restarts=-1, max_task_retries=0,
                                                max_concurrency=2)
    outcomes = [Outcome(Unit(str(s), "stream", "")) for s in sources]
    actors = [watcher.remote(options, threads, sink, serve_fps if lives else None) for _ in sources]
    feed = None
    running = {}
    interrupted = None

    def start(i: int) -> None:
        outcomes[i].attempts += 1
        running[actors[i].watch.remote(sources[i])] = i

    stop = StopRequest("stopping the watchers (Ctrl-C again to quit at once)")
    try:
        feed = _LiveFeed(actors, lives, serve_fps) if lives else None
        for i in range(len(sources)):
            start(i)
        # The first Ctrl-C or SIGTERM only sets a flag: raised inside ray.wait, Ray would turn it into a plain
        # KeyboardInterrupt and SIGTERM's exit status would be lost.
        with stop:
            while running and not stop.is_set():
                done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
                for ref in done:
                    i = running[ref]
                    outcome, error, returned = outcomes[i], None, False
                    try:
                        outcome.summary, returned = ray.get(ref), True
                        error = outcome.summary["lost"]
                    except ray.exceptions.RayActorError as e:
                        error = f"its watcher died ({_first_line(e)})"
                    except ray.exceptions.RayTaskError as e:
                        error = _cause(e)
                    finally:
                        del running[ref]
                    if feed and returned:
                        feed.settle([i])  # its final figures, from a watcher alive to give them
                    outcome.error = error
                    if error and outcome.attempts <= retries:
                        warn(f"{outcome.unit.name}: {error}; watching it again "
                             f"({outcome.attempts} of {1 + retries})")
                        start(i)
                    elif error:
                        warn(f"{outcome.unit.name}: {error}; gave up after {outcome.attempts} attempt(s)")
                        if feed:
                            lives[i].end("lost")
                    else:
                        notice(f"{outcome.unit.name}: ended after {outcome.summary['frames']} frames")
            if stop.is_set():
                for i in running.values():
                    actors[i].halt.remote()
                ready, _ = ray.wait(list(running), num_returns=len(running), timeout=STOP_GRACE)
                for ref in ready:
                    try:
                        outcomes[running[ref]].summary = ray.get(ref)
                    except ray.exceptions.RayError:
                        pass
                interrupted = interrupt_for(stop.signum)
    finally:
        try:
            if feed:
                feed.close()
        finally:
            try:
                ray.get(sink.close.remote())
            finally:
                for a in [*actors, sink]:
                    ray.kill(a)
    return outcomes, interrupted

