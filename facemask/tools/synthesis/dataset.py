"""The dataset run: masked versions of the training split's `without_mask` crops, written into the dataset folder
and listed in its manifest as synthetic training rows."""

from __future__ import annotations

import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from facemask.files import write_json
from facemask.images import read_image, write_image
from facemask.manifest import COLUMNS, MANIFEST, read_manifest, write_manifest
from facemask.tools.sheets import contact_sheet
from facemask.tools.synthesis.appearance import paste_mask, visible_fraction
from facemask.tools.synthesis.geometry import KINDS, MAX_YAW, MIN_VISIBLE, choose_template, face_points, mask_quad
from facemask.tools.synthesis.landmarks import LandmarkFn, MtcnnLandmarks, cache_key, load_cache
from facemask.tools.synthesis.templates import TEXTURE_SUFFIXES, load_templates, load_textures

KIND_CLASS = {"correct": "with_mask", "nose_out": "incorrect_mask", "chin": "incorrect_mask"}
SOURCE = "synthetic"  # the manifest's `source` for rows this module writes; reruns replace exactly these
PREFIX = "synth_"
CACHE_NAME = ".synth_landmarks.json"
JPEG_QUALITY = 95  # as the dataset importer writes crops: synthetic ones must not differ in compression


def training_faces(dataset: Path) -> tuple[list[str], bool]:
    """The real `without_mask` crops synthesis may use (paths relative to `dataset`), and whether a manifest said so.

    With a manifest, only its real (non-synthetic) `train` rows: a synthetic crop made from a validation or test
    face would put that face into training. Without one, every crop in `without_mask/`.
    """
    if (dataset / MANIFEST).is_file():
        rows = read_manifest(dataset / MANIFEST)
        files = sorted({r["file"] for r in rows if r.get("class") == "without_mask" and r.get("split") == "train"
                        and r.get("synthetic", "0") != "1" and r.get("source") != SOURCE})
        return [f for f in files if (dataset / f).is_file()], True
    folder = dataset / "without_mask"
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TEXTURE_SUFFIXES)
    return [p.relative_to(dataset).as_posix() for p in files], False


def output_name(stem: str, kind: str, k: int) -> str:
    """Where a synthetic crop goes, relative to the dataset: the class folder its kind of wearing belongs in."""
    if kind == "correct":
        return f"with_mask/{PREFIX}{stem}_{k}.jpg"
    return f"{KIND_CLASS[kind]}/{PREFIX}{stem}_{kind}_{k}.jpg"


def face_rng(seed: int, stem: str, k: int, kind: str) -> np.random.Generator:
    """A generator that depends only on (seed, face, k, kind): --limit or a cache hit never changes a face's masks."""
    return np.random.default_rng([seed, zlib.crc32(stem.encode("utf-8")), k, KINDS.index(kind)])


def _progress(items: Sequence[str], enabled: bool) -> Iterable[str]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc="faces", unit="face", file=sys.stderr)


def _remove_old(dataset: Path, old_rows: list[dict[str, str]], keep: set[str]) -> int:
    """Delete synthetic crops of an earlier run that this run did not write again; return how many."""
    candidates = {r["file"] for r in old_rows}
    for folder in {KIND_CLASS[k] for k in KINDS}:
        if (dataset / folder).is_dir():
            candidates |= {f"{folder}/{p.name}" for p in (dataset / folder).glob(f"{PREFIX}*.jpg")}
    removed = 0
    for file in sorted(candidates - keep):
        path = dataset / file
        if path.name.startswith(PREFIX) and path.is_file():
            path.unlink()
            removed += 1
    return removed


def synthesize_dataset(dataset_dir: str | Path, templates_dir: str | Path, per_face: int = 1,
                       kinds: Sequence[str] = KINDS, seed: int = 42, limit: int | None = None,
                       landmarks: LandmarkFn | None = None, *, cache_path: str | Path | None = None,
                       sheet: str | Path | None = None, sheet_rows: int = 12, progress: bool = True) -> dict[str, int]:
    """Write masked versions of the training split's `without_mask` crops and list them in the manifest.

    `correct` crops go to `with_mask/synth_<stem>_<k>.jpg`, the others to
    `incorrect_mask/synth_<stem>_<kind>_<k>.jpg`; manifest rows get split=train, source=synthetic,
    source_image=the face they came from, synthetic=1. A rerun replaces everything an earlier run wrote (rows
    with source=synthetic and synth_*.jpg files), so runs never pile up. `limit` takes a seeded random sample
    of the faces, for a quick look. Landmarks (default: MTCNN) are cached in `cache_path` (default
    `<dataset>/.synth_landmarks.json`), so a rerun does not detect again. Without a manifest the crops are
    written but no manifest is created: one listing only synthetic crops would hide the real ones from training.
    Returns counts of what happened.
    """
    dataset, templates_dir = Path(dataset_dir), Path(templates_dir)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown kinds {unknown}; choose from {KINDS}")
    if per_face < 1:
        raise ValueError("per_face must be at least 1")
    templates = load_templates(templates_dir)
    if not templates:
        raise ValueError(f"no usable mask templates in {templates_dir}")
    textures = load_textures(templates_dir / "textures")
    files, has_manifest = training_faces(dataset)
    counts: Counter[str] = Counter(faces=len(files))
    if limit is not None and limit < len(files):
        pick = np.random.default_rng(seed).choice(len(files), size=max(0, limit), replace=False)
        files = [files[i] for i in sorted(pick)]
    counts["used"] = len(files)
    detect = landmarks or MtcnnLandmarks()
    cache_file = Path(cache_path) if cache_path is not None else dataset / CACHE_NAME
    cache = load_cache(cache_file)
    new_rows: list[dict[str, str]] = []
    sheet_images: list[tuple[str, np.ndarray]] = []
    detect_seconds = 0.0
    for n, file in enumerate(_progress(files, progress), 1):
        path = dataset / file
        face = read_image(path)
        if face is None:
            counts["unreadable"] += 1
            continue
        key = cache_key(path)
        entry = cache.get(file)
        if entry is not None and entry.get("key") == key:
            keypoints = entry.get("keypoints")
            counts["cached"] += 1
        else:
            start = time.perf_counter()
            keypoints = detect(face)
            detect_seconds += time.perf_counter() - start
            counts["detected"] += 1
            cache[file] = {"key": key, "keypoints": None if keypoints is None else
                           {k: [round(float(c), 2) for c in v] for k, v in keypoints.items()}}
            if n % 100 == 0:
                write_json(cache_file, cache)
        if keypoints is None:
            counts["no_face"] += 1
            continue
        try:
            points = face_points(keypoints, face.shape)
        except ValueError:
            counts["bad_landmarks"] += 1
            continue
        if abs(points.yaw) > MAX_YAW:
            counts["profile"] += 1
            continue
        counts["faces_ok"] += 1
        stem = Path(file).stem
        row_images: list[tuple[str, np.ndarray]] = [("original", face)]
        for k in range(per_face):
            for kind in kinds:
                rng = face_rng(seed, stem, k, kind)
                targets = mask_quad(points, kind, rng)
                if visible_fraction(targets, face.shape) < MIN_VISIBLE:
                    counts[f"off_frame_{kind}"] += 1
                    continue
                template = choose_template(templates, points.yaw, rng)
                image = paste_mask(face, template, targets, rng, textures)
                name = output_name(stem, kind, k)
                write_image(dataset / name, image, jpeg_quality=JPEG_QUALITY)
                counts[kind] += 1
                new_rows.append({
                    "file": name, "class": KIND_CLASS[kind], "split": "train", "source": SOURCE,
                    "source_image": file, "box": f"0 0 {face.shape[1]} {face.shape[0]}", "synthetic": "1",
                })
                if k == 0:
                    row_images.append((f"{kind} {template.name}", image))
        full_row = len(row_images) == len(kinds) + 1
        if sheet is not None and full_row and len(sheet_images) < sheet_rows * (len(kinds) + 1):
            sheet_images.extend(row_images)
    write_json(cache_file, cache)

    # Re-read the manifest now: another tool may have rewritten it while faces were being made.
    rows = read_manifest(dataset / MANIFEST)
    old = [r for r in rows if r.get("source") == SOURCE]
    if (dataset / MANIFEST).is_file():
        columns = list(rows[0]) if rows else []
        columns += [c for c in COLUMNS if c not in columns]
        write_manifest(dataset / MANIFEST, [r for r in rows if r.get("source") != SOURCE] + new_rows, columns)
    elif has_manifest:
        counts["manifest_vanished"] += 1
    counts["removed_old"] = _remove_old(dataset, old, {r["file"] for r in new_rows})
    counts["rows"] = len(new_rows)
    if sheet is not None and sheet_images:
        contact_sheet(sheet_images, sheet, columns=len(kinds) + 1)
    if counts["detected"]:
        counts["detect_ms_per_face"] = round(1000 * detect_seconds / counts["detected"])
    if progress:
        print(summary(counts, kinds, has_manifest and bool(columns)))
    return dict(counts)


def summary(counts: Counter[str] | dict[str, int], kinds: Sequence[str], manifest: bool) -> str:
    """A few lines on what a run did: faces used, landmark failures, crops written per kind."""
    lines = [
        f"train faces without mask: {counts.get('faces', 0)} (used {counts.get('used', 0)})",
        f"landmarks: {counts.get('faces_ok', 0)} ok, {counts.get('no_face', 0)} no face found, "
        f"{counts.get('bad_landmarks', 0)} implausible, {counts.get('profile', 0)} near profile, "
        f"{counts.get('unreadable', 0)} unreadable "
        f"({counts.get('cached', 0)} from cache, {counts.get('detected', 0)} detected"
        + (f", {counts['detect_ms_per_face']} ms/face" if "detect_ms_per_face" in counts else "") + ")",
    ]
    for kind in kinds:
        lines.append(f"{kind:>9} -> {KIND_CLASS[kind]}: {counts.get(kind, 0)} written, "
                     f"{counts.get(f'off_frame_{kind}', 0)} skipped (mask mostly outside the crop)")
    lines.append(f"manifest rows: {counts.get('rows', 0)}" + ("" if manifest else " (no manifest: none written)")
                 + f"; earlier synthetic crops removed: {counts.get('removed_old', 0)}")
    return "\n".join(lines)
