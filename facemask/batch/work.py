"""One unit of batch work, without Ray: what the inputs are, how they split into units, and running one unit
with a loaded MaskDetector, its outputs published so that a rerun can tell it is complete.

Each input gets a folder of its own under the output folder, named after it plus a hash of where it is (two
`cam.mp4` in different folders must not share one):
  a video or stream: faces.csv (one row per face per frame), events.jsonl (the video script's event log),
    annotated.mp4 with --annotate, and summary.json, written last: the mark that the input is complete;
  a photo folder, cut into shards of --shard-size photos, each its own unit: shards/NNNNN.csv and
    shards/NNNNN.json (the shard's mark), the annotated copies in annotated/ with --annotate; once every shard
    is complete, faces.csv and summary.json for the folder.
A mark holds a key of the input's size and modification time and the options that change results: a changed
input, or other options, make the unit run again; everything else with a mark is skipped.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..detector import MaskDetector
from ..errors import FacemaskError, SourceError
from ..files import atomic_path, write_json
from ..image_batch import csv_cell, read_or_warn, write_or_warn
from ..images import IMAGE_SUFFIXES, find_images
from ..interrupt import StopRequest
from ..labels import CLASSES, compliance, per_class
from ..overlay import draw_faces
from ..pipeline import StreamOptions
from ..scanning import VIDEO_MIN_FACE
from ..sinks import AlertOutputs
from ..stream import frame_count, is_network, is_url, open_capture, redact
from ..types import Face, FrameResult, sure_counts
from ..video import run

FACE_FIELDS = ("file", "frame", "time", "x1", "y1", "x2", "y2", "label", "confidence", "track", "face_score",
               "unsure")
LIST_SUFFIXES = (".txt", ".list", ".lst")
MARK = "summary.json"
OUTPUTS = ("faces.csv", "events.jsonl", "annotated.mp4")  # what a video unit publishes, besides its mark
PARTIAL = ".partial-"  # a unit's staging folder: what an attempt wrote before it was complete


class Interrupted(FacemaskError):
    """The unit was told to stop (Ctrl-C on the driver): nothing of it is published."""


@dataclass(frozen=True)
class Options(StreamOptions):
    """How every unit is run: the video script's options (StreamOptions), and the batch's own."""

    model: str | None = None
    face_detector: str = "yunet"
    confidence: float | None = None
    backend: str = "auto"
    on_alert: str | None = None
    annotate: bool = False
    min_face: int | None = VIDEO_MIN_FACE
    mqtt: str | None = None  # broker URL: alerts, ended tracks and counts published as they happen

    def results_key(self) -> dict:
        """The options that change what a unit writes: a rerun with other ones redoes the unit."""
        return {k: v for k, v in asdict(self).items() if k not in ("on_alert", "reconnect", "read_timeout", "mqtt")}

    def sinks(self, source: str, name: str | None = None) -> list:
        """The sinks the options ask for besides the run's own: the MQTT publisher."""
        from ..mqtt import MqttSink

        return [MqttSink(self.mqtt, source, name)] if self.mqtt else []

    def load_detector(self, threads: int | None = None) -> MaskDetector:
        return MaskDetector.load(self.model, self.face_detector, self.confidence, self.backend, threads,
                                 self.min_face)


@dataclass(frozen=True)
class Unit:
    """One piece of work: a whole video or stream, or one shard of a photo folder's photos."""

    source: str  # the input as given: a path or a URL
    kind: str  # "video" or "photos"
    folder: str  # its output folder, relative to the output folder of the run
    files: tuple[str, ...] = ()  # the shard's photos
    shard: int = 0
    shards: int = 1

    @property
    def name(self) -> str:
        shown = redact(self.source)
        return shown if self.shards == 1 else f"{shown} (shard {self.shard + 1} of {self.shards})"

    def mark(self, out: Path) -> Path:
        if self.kind == "video":
            return out / self.folder / MARK
        return out / self.folder / "shards" / f"{self.shard:05d}.json"

    def key(self, options: Options) -> str:
        """What the unit's results depend on: its files (by size and modification time) and the options."""
        files = self.files if self.kind == "photos" else (self.source,)
        stamps = [[f, *_stamp(f)] for f in files]
        text = json.dumps([self.kind, self.source, stamps, options.results_key()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def frames_expected(self) -> int:
        """Frames (or photos) the unit will take, for the progress bar; 0 when not known (a stream)."""
        if self.kind == "photos":
            return len(self.files)
        if is_network(self.source):
            return 0
        try:
            capture = open_capture(self.source)
        except SourceError:  # the run of the unit says why
            return 0
        try:
            return frame_count(capture)
        finally:
            capture.release()


@dataclass
class Job:
    """One input of the run and its units; `error` when it gives no work (a folder without images)."""

    source: str
    kind: str
    folder: str
    units: list[Unit] = field(default_factory=list)
    error: str | None = None


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return (-1, -1)  # a URL, or a file gone: the key still differs from any file's
    return (st.st_size, st.st_mtime_ns)


def folder_name(source: str) -> str:
    """A readable, unique output folder name: the input's name, then a hash of its resolved path (a URL with its
    credentials hidden: nothing derived from a password may reach a file name) so that two inputs of the same
    name never share a folder, and the same input always finds its own."""
    if is_url(source):
        where = redact(source)
        name = re.sub(r"^[a-z][a-z0-9+.-]*://([^/@]*@)?", "", source, flags=re.IGNORECASE).split("?")[0]
        name = name.rstrip("/").replace("/", "_")
    else:
        where = str(Path(source).resolve())
        name = Path(where).stem or "input"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "input"
    return f"{name}-{hashlib.sha1(os.fsencode(where)).hexdigest()[:8]}"


def read_list(path: Path) -> list[str]:
    """The inputs a list file names, one per line; blank lines and # comments skipped, relative paths taken
    from the list file's folder (so that a list travels with its videos)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FacemaskError(f"cannot read the list {path}: {e}") from e
    entries = []
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        entries.append(line if is_url(line) or Path(line).is_absolute() else str(path.parent / line))
    return entries


def is_list(path: str) -> bool:
    return not is_url(path) and Path(path).suffix.lower() in LIST_SUFFIXES


def expand(inputs: Iterable[str]) -> list[str]:
    """The inputs with each list file replaced by what it lists, duplicates (the same resolved path) dropped."""
    seen, sources = set(), []
    for given in inputs:
        for source in read_list(Path(given)) if is_list(given) else [given]:
            if is_list(source):
                raise FacemaskError(f"{given} lists another list, {source}: name the inputs themselves")
            identity = source if is_url(source) else Path(source).resolve()
            if identity not in seen:
                seen.add(identity)
                sources.append(source)
    return sources


def make_jobs(sources: Iterable[str], shard_size: int = 200, recursive: bool = False) -> list[Job]:
    """Each source as a job: a folder (or one image file) of photos in shards, anything else a video or stream.
    A path that is not there is a job with an error, reported with the others, not a stop."""
    jobs = []
    for source in sources:
        path = Path(source)
        if not is_url(source) and not path.exists():
            jobs.append(Job(source, "video", folder_name(source), error=f"no such file or folder: {source}"))
            continue
        if is_url(source) or not (path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES):
            jobs.append(Job(source, "video", folder_name(source), [Unit(source, "video", folder_name(source))]))
            continue
        job = Job(source, "photos", folder_name(source))
        photos = [str(p) for p in find_images(path, recursive)]
        if not photos:
            job.error = f"no images in {source} (looked for {', '.join(IMAGE_SUFFIXES)})"
        shards = [photos[i : i + shard_size] for i in range(0, len(photos), shard_size)]
        job.units = [Unit(source, "photos", job.folder, tuple(s), k, len(shards)) for k, s in enumerate(shards)]
        jobs.append(job)
    return jobs


def read_mark(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete(unit: Unit, out: Path, options: Options) -> bool:
    """Whether a previous run finished the unit with the same inputs and options."""
    mark = read_mark(unit.mark(out))
    return mark is not None and mark.get("key") == unit.key(options)


def _counts(values: Iterable[str]) -> dict[str, int]:
    counted = Counter(values)
    return per_class(counted)


def process(
    detector: MaskDetector,
    unit: Unit,
    out: str | Path,
    options: Options,
    count: Callable[[int], None] | None = None,
    stop: StopRequest | None = None,
) -> dict:
    """Run one unit and publish its outputs; returns its summary (also its mark). `count(n)`: n more frames
    done, for a progress bar; `stop`: set it to end the unit early, which then publishes nothing and raises
    Interrupted. A source that cannot be read raises its FacemaskError, and nothing is published either."""
    out = Path(out)
    count = count or (lambda n: None)
    work = _video if unit.kind == "video" else _photos
    return work(detector, unit, out, options, count, stop or StopRequest())


class _FaceRows:
    """The sink that makes a video's faces.csv rows and counts its frames for the progress bar."""

    def __init__(self, source: str, count: Callable[[int], None]):
        self.source, self.count = source, count
        self.rows: list[tuple] = []

    def observe(self, result: FrameResult) -> None:
        if result.frame is not None:
            self.rows.extend(_face_row(self.source, f, result.index, round(result.time, 3)) for f in result.faces)
            self.count(1)

    def close(self, summary) -> None:
        pass


def _video(detector: MaskDetector, unit: Unit, out: Path, options: Options, count, stop: StopRequest) -> dict:
    folder = out / unit.folder
    with _staging(folder) as staging:
        rows = _FaceRows(unit.source, count)
        alerts = AlertOutputs(options.on_alert, staging / "events.jsonl", bell=False)
        annotated = staging / "annotated.mp4" if options.annotate else None
        result = run(detector, unit.source, options, output=annotated, alerts=alerts,
                     sinks=[rows, *options.sinks(unit.source, unit.folder)], stop=stop)
        if result.interrupted:
            raise Interrupted(f"{unit.name}: stopped")
        if result.lost:
            raise SourceError(result.lost)
        write_faces(staging / "faces.csv", rows.rows)
        people = _counts(result.people.elements())
        summary = {"input": redact(unit.source), "kind": unit.kind, "frames": result.frames,
                   "faces": _counts(result.faces.elements()), "people": people, "compliance": compliance(people, 4),
                   "alerts": result.alerts, "unreadable": 0, "skipped_frames": result.skipped,
                   "reconnects": result.reconnects, "seconds": round(result.seconds, 3), "key": unit.key(options)}
        _publish(staging, folder, summary)
    return summary


def _photos(detector: MaskDetector, unit: Unit, out: Path, options: Options, count, stop: StopRequest) -> dict:
    """The image script's work on one shard: the same faces, rows and annotated copies."""
    folder = out / unit.folder
    root = Path(unit.source)
    rows: list[tuple] = []
    faces_seen: Counter = Counter()
    images = unreadable = 0
    for name in unit.files:
        if stop.is_set():
            raise Interrupted(f"{unit.name}: stopped")
        path = Path(name)
        image = read_or_warn(path)
        count(1)
        if image is None:
            unreadable += 1
            continue
        faces = detector.detect(image)
        if options.annotate:
            draw_faces(image, faces)
            if not write_or_warn(folder / "annotated" / (path.relative_to(root) if root.is_dir() else path.name),
                                 image):
                unreadable += 1
                continue
        images += 1
        faces_seen.update(sure_counts(faces))
        rows += [_face_row(name, f) for f in faces]
    mark = unit.mark(out)
    write_faces(mark.with_suffix(".csv"), rows)
    faces = _counts(faces_seen.elements())
    summary = {"input": redact(unit.source), "kind": unit.kind, "shard": unit.shard, "frames": images,
               "faces": faces, "people": dict(faces), "alerts": 0, "unreadable": unreadable, "key": unit.key(options)}
    write_json(mark, summary)
    return summary


def _face_row(file: str, face: Face, frame: int | str = "", time: float | str = "") -> tuple:
    track = "" if face.track_id is None else face.track_id
    return (redact(file), frame, time, *face.box, face.label, f"{face.confidence:.4f}", track, f"{face.score:.4f}",
            int(face.unsure))


def write_faces(path: Path, rows: Iterable[tuple]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FACE_FIELDS)
        writer.writerows([csv_cell(v) for v in row] for row in rows)


@contextlib.contextmanager
def _staging(folder: Path):
    """A fresh folder for one attempt at a unit, inside the unit's folder; what earlier attempts that died
    left there is removed first (a unit runs on one worker at a time), and this one's at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(PARTIAL + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = folder / f"{PARTIAL}{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, folder: Path, summary: dict) -> None:
    """Move a finished attempt's files into place, each in one rename, the mark last: the mark of an earlier
    run goes first, so that no moment shows a mark beside files it does not describe."""
    (folder / MARK).unlink(missing_ok=True)
    for name in OUTPUTS:
        if (staging / name).exists():
            os.replace(staging / name, folder / name)
        else:
            (folder / name).unlink(missing_ok=True)
    write_json(folder / MARK, summary)


def merge_photos(job: Job, out: Path) -> dict:
    """A photo folder whose shards are all complete: its faces.csv and summary.json, from the shards'."""
    folder = out / job.folder
    rows: list[list[str]] = []
    marks = []
    for unit in job.units:
        with open(unit.mark(out).with_suffix(".csv"), newline="", encoding="utf-8") as f:
            rows += list(csv.reader(f))[1:]
        marks.append(read_mark(unit.mark(out)) or {})
    with atomic_path(folder / "faces.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FACE_FIELDS)
        writer.writerows(rows)
    summary = combine(marks) | {"input": redact(job.source), "kind": job.kind, "shards": len(job.units)}
    write_json(folder / MARK, summary)
    return summary


def combine(summaries: Iterable[dict]) -> dict:
    """Frames, faces and people per class, alerts and unreadable photos added up, with the compliance rate."""
    frames = alerts = unreadable = 0
    faces: Counter = Counter()
    people: Counter = Counter()
    for s in summaries:
        frames += s.get("frames", 0)
        alerts += s.get("alerts", 0)
        unreadable += s.get("unreadable", 0)
        faces.update(s.get("faces", {}))
        people.update(s.get("people", {}))
    people_counts = per_class(people)
    return {"frames": frames, "faces": per_class(faces), "people": people_counts,
            "compliance": compliance(people_counts, 4), "alerts": alerts, "unreadable": unreadable}


RESULT_KEYS = ("frames", "faces", "people", "compliance", "alerts", "unreadable")


def finish(jobs: list[Job], out: Path, options: Options, errors: dict[Unit, str], ran: set[Unit],
           interrupted: bool = False) -> dict:
    """The run's summary.json in `out`: each input with its status and figures (photo folders whose shards are
    all complete get their faces.csv and summary.json here), and the total over the complete ones."""
    inputs = []
    for job in jobs:
        entry: dict = {"input": redact(job.source), "kind": job.kind, "folder": job.folder}
        if job.error:
            entry |= {"status": "failed", "error": job.error}
        elif all(is_complete(u, out, options) for u in job.units):
            summary = merge_photos(job, out) if job.kind == "photos" else read_mark(job.units[0].mark(out)) or {}
            entry["status"] = "done" if any(u in ran for u in job.units) else "already complete"
            entry |= {k: summary.get(k) for k in RESULT_KEYS}
        else:
            failed = [f"{u.name}: {errors[u]}" if u.shards > 1 else errors[u] for u in job.units if u in errors]
            entry |= {"status": "failed", "error": "; ".join(failed)} if failed else {"status": "not done"}
        inputs.append(entry)
    complete = [e for e in inputs if e["status"] in ("done", "already complete")]
    total = combine(complete) | {"inputs": len(inputs), "complete": len(complete),
                                 "failed": sum(e["status"] == "failed" for e in inputs)}
    summary = {"inputs": inputs, "total": total, "interrupted": interrupted}
    write_json(out / MARK, summary)
    return summary


def summary_lines(summary: dict) -> list[str]:
    """The run's summary as text: one line per input, then the total."""
    def figures(s: dict) -> str:
        people = ", ".join(f"{c} {s['people'][c]}" for c in CLASSES)
        rate = "-" if s["compliance"] is None else f"{s['compliance']:.0%}"
        return f"{s['frames']} frames, people: {people}; compliance {rate}, alerts {s['alerts']}"

    lines = []
    for e in summary["inputs"]:
        detail = figures(e) if e["status"] in ("done", "already complete") else e.get("error") or ""
        lines.append(f"{e['status']}: {e['input']}: {detail}")
    t = summary["total"]
    lines.append(f"total: {t['complete']} of {t['inputs']} input(s) complete, {t['failed']} failed; {figures(t)}")
    return lines
