"""Assemble `dataset/<class>/*.jpg` face crops for training from the shared face-mask datasets.

    python -m facemask.tools.dataset --shared ../shared/datasets --out dataset

Every crop is meant to look like what the classifier gets at run time: the res10 SSD's box around a
face. VOC boxes are widened to the SSD's framing; portraits in class folders are cropped by the SSD
itself. Exact duplicates are dropped, and every source image (a whole street scene with all its faces)
goes to one split, chosen from a hash of its bytes, so no face leaks from training into test.
`OUT/manifest.csv` records each crop's split and origin; the training script follows its split column.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from facemask.cli import command_parser, console_entry, run_command
from facemask.errors import DatasetError, ImageError, ImageTooLarge, printable
from facemask.faces import Box, FaceFinder, SSDFaceFinder, clip_box, crop_box, load_face_finder
from facemask.images import decode_image, list_images, read_bytes, resize_longest, write_image
from facemask.labels import CLASSES, canonical_label
from facemask.manifest import MANIFEST, read_manifest, write_manifest
from facemask.tools.label_fixes import fixed_label, read_label_fixes
from facemask.tools.tables import text_table
from facemask.tools.voc import VocAnnotation, VocError, find_voc_image, read_voc

# How the res10 SSD frames a face compared with a VOC ground-truth box, measured once on 150 VOC images
# (75 from each of face-mask-voc and ilc2021-train; FaceFinder at confidence 0.3; 222 SSD boxes matched
# one-to-one to GT boxes at IoU >= 0.3, 3 touching the image border left out). Medians:
#   SSD width / GT width      1.018  (IQR 0.96-1.09; face-mask-voc 1.00, ilc2021-train 1.04)
#   SSD height / GT height    1.183  (IQR 1.06-1.29; face-mask-voc 1.21, ilc2021-train 1.12)
#   centre x offset / GT w   +0.000
#   centre y offset / GT h   -0.119  (the SSD takes in the forehead and stops just above the chin)
# The ratios barely change with face size (GT shorter side <32, 32-64, 64-128, >=128 px).
DETECTOR_WIDTH_SCALE = 1.02
DETECTOR_HEIGHT_SCALE = 1.18
DETECTOR_DX = 0.0
DETECTOR_DY = -0.12

# face-mask-voc-hires holds the photos of face-mask-voc at three times the resolution: one or the other.
VOC_SOURCES = ("face-mask-voc-hires", "ilc2021-train", "face-mask-voc")
# Whole photos of one class without boxes: the face detector finds the face (the largest one is kept).
PHOTO_SOURCES: dict[str, dict[str, str]] = {"seed-kaggle-incorrect": {"incorrect_mask": "incorrect_mask"}}
# Class folders of each folder source, and the class each holds.
FOLDER_SOURCES: dict[str, dict[str, str]] = {
    "mask-nomask-real": {"with_mask": "with_mask", "without_mask": "without_mask"},
    "maskedfacenet": {"correct": "with_mask", "incorrect": "incorrect_mask"},
}
SOURCES = VOC_SOURCES + tuple(PHOTO_SOURCES) + tuple(FOLDER_SOURCES)
DEFAULT_SOURCES = tuple(s for s in SOURCES if s != "face-mask-voc")
NEAR_DUPLICATES = "NEAR_DUPLICATES.tsv"
PHOTO_MIN_SCORE = 0.8
# Photo faces checked by eye and left out: no mask to be seen on the face found, or no face at all.
PHOTO_EXCLUDED = frozenset(f"seed-kaggle-incorrect_incorrect-mask-{n}_0" for n in (1, 29, 88, 89, 92))
# Training faces of VOC photos are framed at random between these (see random_framing), so that the model
# holds whether a face comes from YuNet, the SSD, or a box of the user's own with a margin around it.
TRAIN_MARGIN = (-0.05, 0.25)  # per side, as a fraction of the annotated box's size
TRAIN_SHIFT = 0.06  # largest shift of the centre, as a fraction of the box's size
SYNTHETIC_SOURCES = frozenset({"maskedfacenet"})  # masks pasted on by software, not photographed

SPLITS = ("train", "val", "test")
MAX_SIDE = 256
JPEG_QUALITY = 95
RECROP_MIN_SCORE = 0.5
RECROP_MAX_AREA = 0.6  # an SSD box covering more of the image than this means the image already is a crop
# The res10 SSD cannot frame a face that fills its input: on a tight crop it returns a confident bogus box in
# the lower right quadrant covering ~40% of the image, so every crop looked like a portrait (first full run:
# 1926/2141 mask-nomask-real/with_mask and 1876/1930 without_mask "recropped", the tight crops wrongly).
# A border of half the longer side on every side shrinks such a face to <= 1/4 of the SSD's input, which
# it frames properly (on 150 tight crops and portraits checked by eye); boxes are mapped back and clipped.
RECROP_PAD = 0.5
PAD_COLOR = (104, 117, 123)  # a neutral grey (BGR)

Recropper = Callable[[np.ndarray], Box | None]


@dataclass
class Crop:
    """One face to write, with what the manifest records about where it came from."""

    pixels: np.ndarray  # BGR uint8
    label: str
    source: str  # dataset name, e.g. face-mask-voc
    source_image: str  # path of the source image relative to the datasets root, with /
    image_hash: str  # sha1 of the source image's bytes (of a near-duplicate group's first): decides the split
    box: Box | None  # where the crop lies in the source image; None when it is the whole image
    name: str  # file stem, e.g. face-mask-voc_maksssksksss0_2
    synthetic: bool = False
    # Another framing of the same face for the training split (box, pixels); None: keep this one.
    reframe: Callable[[], tuple[Box, np.ndarray]] | None = None


@dataclass
class Report:
    """Shared by the importers: which crops were already seen (so duplicates across sources are dropped)
    and every count the summary reports. Warnings go to `stream` as they happen, one line per file."""

    stream: TextIO | None = None
    warnings: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    bad_xml: list[str] = field(default_factory=list)
    unknown_labels: Counter = field(default_factory=Counter)
    too_small: Counter = field(default_factory=Counter)  # per source
    duplicates: Counter = field(default_factory=Counter)  # per source
    label_conflicts: int = 0  # duplicates whose first copy has another class
    folder_images: Counter = field(default_factory=Counter)  # per "source/folder"
    recropped: Counter = field(default_factory=Counter)  # per "source/folder"
    relabelled: Counter = field(default_factory=Counter)  # per "source: was -> ours"
    seen: dict[str, str] = field(default_factory=dict)  # dedup key -> class

    def warn(self, path: str | Path, reason: str) -> None:
        """Print and keep one warning line about a skipped file."""
        line = f"warning: skipped {printable(str(path))}: {printable(reason)}"
        self.warnings.append(line)
        print(line, file=self.stream if self.stream is not None else sys.stderr, flush=True)

    def first_time(self, key: str, label: str, source: str) -> bool:
        """True the first time a crop key is met; later copies are counted as duplicates and dropped."""
        if key not in self.seen:
            self.seen[key] = label
            return True
        self.duplicates[source] += 1
        self.label_conflicts += self.seen[key] != label
        return False


# ---------------------------------------------------------------------------------------------- images


def read_source(path: Path, report: Report) -> tuple[np.ndarray, str] | None:
    """The file's bytes and their sha1; None (with a warning) when the file cannot be read, or is too large."""
    try:
        data = read_bytes(path)
    except ImageError as e:
        report.unreadable.append(str(path))
        report.warn(path, f"cannot read: {str(e).removeprefix(f'{path}: ')}")
        return None
    return data, hashlib.sha1(data.tobytes()).hexdigest()


def load_with_hash(path: Path, report: Report) -> tuple[np.ndarray, str] | None:
    """(BGR image, sha1 of the file); None, with one warning, when it is unreadable or corrupt."""
    source = read_source(path, report)
    if source is None:
        return None
    image = decode_or_report(source[0], path, report)
    return None if image is None else (image, source[1])


def decode_or_report(data: np.ndarray, path: Path, report: Report) -> np.ndarray | None:
    """The decoded image; None, with the file named once as unreadable, when the bytes are no image or declare
    too many pixels."""
    try:
        image = decode_image(data)
    except ImageTooLarge as e:
        report.unreadable.append(str(path))
        report.warn(path, str(e))
        return None
    if image is None:
        report.unreadable.append(str(path))
        report.warn(path, "not a readable image (corrupt or truncated)")
    return image


def shrink(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Scale down so the longer side is at most `max_side`: the model takes 224 px, more only costs disk."""
    return image if max(image.shape[:2]) <= max_side else resize_longest(image, max_side)


# ----------------------------------------------------------------------------------------------- boxes


def expand_to_detector_box(box: tuple[float, float, float, float], img_w: int, img_h: int) -> Box:
    """Turn a ground-truth face box into the box the res10 SSD would draw around that face, within the image.

    VOC annotators box the face tightly; at run time the classifier sees the SSD's taller box, shifted up
    (see the measured constants above), so training on SSD-like crops avoids a framing mismatch.
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2 + DETECTOR_DX * w
    cy = (y1 + y2) / 2 + DETECTOR_DY * h
    half_w, half_h = w * DETECTOR_WIDTH_SCALE / 2, h * DETECTOR_HEIGHT_SCALE / 2
    return clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), img_w, img_h)


def random_framing(box: tuple[float, float, float, float], rng: np.random.Generator) -> tuple[float, ...]:
    """The annotated box with a random margin on each side and a small shift: from tighter than YuNet's box
    to looser than the SSD's, as faces reach the classifier from different detectors or users."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    left, top, right, bottom = rng.uniform(*TRAIN_MARGIN, size=4)
    dx, dy = rng.uniform(-TRAIN_SHIFT, TRAIN_SHIFT, size=2)
    return x1 - (left - dx) * w, y1 - (top - dy) * h, x2 + (right + dx) * w, y2 + (bottom + dy) * h


# ------------------------------------------------------------------------------------------------- VOC


def voc_face_name(source: str, stem: str, index: int) -> str:
    """The name of a VOC face's crop, e.g. face-mask-voc_maksssksksss0_2: what label_fixes.csv refers to."""
    return f"{source}_{safe_stem(stem)}_{index}"


def voc_faces(image: np.ndarray, image_hash: str, annotation: VocAnnotation, *, source: str,
              source_image: str, stem: str, min_size: int, report: Report) -> Iterator[Crop]:
    """Crops of the labelled faces of one image big enough to classify, each framed like an SSD box."""
    h, w = image.shape[:2]
    for index, (name, box) in enumerate(annotation.objects):
        label = canonical_label(name)
        if label is None:
            report.unknown_labels[name or "<empty>"] += 1
            continue
        if box is None:
            report.warn(f"{source_image} object {index}", "no valid <bndbox>")
            continue
        gt = clip_box(box, w, h)
        if min(gt[2] - gt[0], gt[3] - gt[1]) < min_size:
            report.too_small[source] += 1
            continue
        if not report.first_time(f"{image_hash}:{gt}", label, source):
            continue
        detector_box = expand_to_detector_box(gt, w, h)
        name = voc_face_name(source, stem, index)
        yield Crop(crop_box(image, detector_box), label, source, source_image, image_hash, detector_box,
                   name, source in SYNTHETIC_SOURCES, reframe=_reframer(image, gt, name))


def _reframer(image: np.ndarray, gt: Box, name: str) -> Callable[[], tuple[Box, np.ndarray]]:
    """A random framing of the face, the same for the same face name on every run."""
    def reframe() -> tuple[Box, np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        box = clip_box(random_framing(gt, rng), image.shape[1], image.shape[0])
        return box, crop_box(image, box)
    return reframe


def import_voc(images_dir: str | Path, annotations_dir: str | Path, *, source: str | None = None,
               root: str | Path | None = None, min_size: int = 32,
               report: Report | None = None) -> Iterator[Crop]:
    """Face crops from a Pascal VOC set (`<source>/images`, `<source>/annotations`), framed like the SSD's.

    `source` defaults to the folder above `images_dir`, `root` (what `source_image` is relative to) to the
    folder above that. Unknown labels are counted, faces with a shorter side below `min_size` px (in the
    original image) skipped, and faces already seen (same image bytes, same box) dropped.
    """
    images_dir, annotations_dir = Path(images_dir), Path(annotations_dir)
    source = source or images_dir.resolve().parent.name
    root = Path(root) if root is not None else images_dir.resolve().parent.parent
    report = report if report is not None else Report()
    for xml_path in sorted(annotations_dir.glob("*.xml")):
        try:
            annotation = read_voc(xml_path)
        except VocError as e:
            report.bad_xml.append(str(xml_path))
            report.warn(xml_path, str(e))
            continue
        image_path = find_voc_image(images_dir, annotation, xml_path.stem)
        if image_path is None:
            report.warn(xml_path, f"no image {annotation.filename or xml_path.stem} in {images_dir}")
            continue
        loaded = load_with_hash(image_path, report)
        if loaded is None:
            continue
        image, image_hash = loaded
        if annotation.size and annotation.size != (image.shape[1], image.shape[0]):
            report.warn(image_path, f"image is {image.shape[1]}x{image.shape[0]}, annotation says "
                                    f"{annotation.size[0]}x{annotation.size[1]}")
            continue
        yield from voc_faces(image, image_hash, annotation, source=source,
                             source_image=relative(image_path, root), stem=image_path.stem,
                             min_size=min_size, report=report)


# --------------------------------------------------------------------------------------------- folders


class SSDRecropper:
    """Crops a portrait to the face the res10 SSD finds in it, so it is framed as at run time.

    The SSD runs on the image inside a border (see RECROP_PAD). Returns the most confident face's box, in
    the image's coordinates, when its score is at least `min_score` and it covers less than `max_area` of
    the image; otherwise None: no face found, or the image already is a face crop.
    """

    def __init__(self, finder: FaceFinder | None = None, min_score: float = RECROP_MIN_SCORE,
                 max_area: float = RECROP_MAX_AREA, pad: float = RECROP_PAD):
        self.finder = finder  # loaded on first use: tests and --no-recrop never need the model
        self.min_score = min_score
        self.max_area = max_area
        self.pad = pad

    def __call__(self, image: np.ndarray) -> Box | None:
        if self.finder is None:
            self.finder = SSDFaceFinder(confidence=self.min_score)
        h, w = image.shape[:2]
        pad = round(self.pad * max(h, w))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=PAD_COLOR)
        faces = self.finder.find(padded)
        if not faces or faces[0][1] < self.min_score:
            return None
        x1, y1, x2, y2 = clip_box(tuple(v - pad for v in faces[0][0]), w, h)
        area = (x2 - x1) * (y2 - y1)
        return (x1, y1, x2, y2) if 0 < area < self.max_area * w * h else None


def folder_crop(path: Path, label: str, *, source: str, root: Path, min_size: int,
                recrop: Recropper | None, report: Report) -> Crop | None:
    """The crop one class-folder image gives: the SSD's face box in a portrait, else the image itself."""
    loaded = load_new_image(path, label, source, report)
    if loaded is None:
        return None
    image, image_hash = loaded
    box = recrop(image) if recrop is not None else None
    if box is not None:
        report.recropped[f"{source}/{path.parent.name}"] += 1
    pixels = crop_box(image, box) if box is not None else image
    if min(pixels.shape[:2]) < min_size:
        report.too_small[source] += 1
        return None
    return Crop(pixels, label, source, relative(path, root), image_hash, box,
                f"{source}_{safe_stem(path.stem)}_0", source in SYNTHETIC_SOURCES)


def load_new_image(path: Path, label: str, source: str, report: Report) -> tuple[np.ndarray, str] | None:
    """(image, sha1 of the file) the first time these bytes are met; None for a duplicate (counted) or an
    unreadable file (warned about)."""
    raw = read_source(path, report)
    if raw is None or not report.first_time(raw[1], label, source):
        return None
    image = decode_or_report(raw[0], path, report)
    return None if image is None else (image, raw[1])


def import_folders(mapping: Mapping[str | Path, str], *, root: str | Path | None = None, min_size: int = 32,
                   recrop: Recropper | None = None, report: Report | None = None) -> Iterator[Crop]:
    """Crops from class folders of face crops and portraits, e.g. {".../maskedfacenet/incorrect":
    "incorrect_mask"}. Labels may be any alias `canonical_label` knows.

    The source name is the folder's parent folder name; `root` (what `source_image` is relative to)
    defaults to the folder above that. Pass `recrop=SSDRecropper()` to crop portraits to their SSD face
    box; None keeps every image whole. Exact duplicate files (sha1) are dropped; images whose shorter side
    is below `min_size` after cropping are skipped.
    """
    report = report if report is not None else Report()
    for folder, name in mapping.items():
        folder = Path(folder)
        label = canonical_label(name)
        if label is None:
            raise ValueError(f"{folder}: {name!r} is none of the classes {CLASSES}")
        source = folder.resolve().parent.name
        base = Path(root) if root is not None else folder.resolve().parent.parent
        for path in list_images(folder):
            report.folder_images[f"{source}/{folder.name}"] += 1
            crop = folder_crop(path, label, source=source, root=base, min_size=min_size, recrop=recrop,
                               report=report)
            if crop is not None:
                yield crop


# ---------------------------------------------------------------------------------------------- photos


def photo_crop(path: Path, label: str, *, source: str, root: Path, min_size: int, finder: FaceFinder,
               report: Report) -> Crop | None:
    """The largest face the detector is sure of in a whole photo of one class, in the SSD's framing."""
    loaded = load_new_image(path, label, source, report)
    if loaded is None:
        return None
    image, image_hash = loaded
    faces = [box for box, score in finder.find(image) if score >= PHOTO_MIN_SCORE]
    if not faces:
        report.warn(path, f"no face found with a score of {PHOTO_MIN_SCORE} or more")
        return None
    box = max(faces, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    if min(box[2] - box[0], box[3] - box[1]) < min_size:
        report.too_small[source] += 1
        return None
    name = f"{source}_{safe_stem(path.stem)}_0"
    if name in PHOTO_EXCLUDED:
        return None
    return Crop(crop_box(image, box), label, source, relative(path, root), image_hash, box, name,
                reframe=_reframer(image, box, name))


def import_photos(mapping: Mapping[str | Path, str], *, root: str | Path, min_size: int, finder: FaceFinder,
                  report: Report) -> Iterator[Crop]:
    """Face crops from folders of whole photos of one class each, e.g. {".../incorrect_mask": "incorrect_mask"}."""
    for folder, label in mapping.items():
        folder = Path(folder)
        source = folder.resolve().parent.name
        for path in list_images(folder):
            report.folder_images[f"{source}/{folder.name}"] += 1
            crop = photo_crop(path, label, source=source, root=Path(root), min_size=min_size, finder=finder,
                              report=report)
            if crop is not None:
                yield crop


# ------------------------------------------------------------------------------------- split and write


def near_duplicate_keys(shared: Path) -> dict[str, str]:
    """source_image → the sha1 that decides its split, for every photo a NEAR_DUPLICATES.tsv in `shared`
    pairs with another: the sha1 of the group's first photo (face-mask-voc first, then ilc2021-train), so
    near-duplicates share a split, and face-mask-voc-hires photos keep the split their low-resolution
    copies had."""
    parent: dict[str, str] = {}

    def root_of(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for table in sorted(shared.glob(f"*/{NEAR_DUPLICATES}")):
        for row in read_tsv(table):
            a = f"{table.parent.name}/{row['new_file']}"
            match = row["matches"]
            b = (f"{table.parent.name}/{match.removeprefix('INTERNAL:')}" if match.startswith("INTERNAL:")
                 else match.removeprefix("shared/datasets/"))
            parent[root_of(a)] = root_of(b)
    order = {"face-mask-voc": 0, "ilc2021-train": 1}
    groups: dict[str, list[str]] = {}
    for member in list(parent):
        groups.setdefault(root_of(member), []).append(member)
    keys = {}
    for members in groups.values():
        first = min(members, key=lambda m: (order.get(m.split("/")[0], 2), m))
        path = shared / first
        digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else None
        keys.update({m: digest for m in members if digest})
    return keys


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a tab-separated table whose first lines may be # comments."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))


def group_near_duplicates(crops: Iterable[Crop], keys: dict[str, str]) -> Iterator[Crop]:
    for crop in crops:
        crop.image_hash = keys.get(crop.source_image, crop.image_hash)
        yield crop


def split_for(image_hash: str, val: float, test: float, seed: int = 42) -> str:
    """train, val or test for a source image, from a hash of its content and the seed.

    Hashing the content (not the name, not a random draw) puts a scene and all its faces in one split,
    and gives every run, on any machine and in any file order, the same split.
    """
    digest = hashlib.sha1(f"{seed}:{image_hash}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if u < test else "val" if u < test + val else "train"


def safe_stem(stem: str) -> str:
    """A file-name-safe version of a source file's stem (crop names end up in the manifest and on disk)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` with forward slashes; the path as given if it lies elsewhere."""
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def unique_file(crop: Crop, used: set[str]) -> str:
    """`<class>/<name>.jpg`, with _2, _3 ... appended should two crops want the same name."""
    file, n = f"{crop.label}/{crop.name}.jpg", 1
    while file.lower() in used:  # lower(): names must differ on case-insensitive file systems too
        n += 1
        file = f"{crop.label}/{crop.name}_{n}.jpg"
    used.add(file.lower())
    return file


def manifest_row(crop: Crop, file: str, split: str) -> dict[str, str]:
    return {
        "file": file,
        "class": crop.label,
        "split": split,
        "source": crop.source,
        "source_image": crop.source_image,
        "box": " ".join(str(v) for v in crop.box) if crop.box is not None else "",
        "synthetic": str(int(crop.synthetic)),
    }


def write_crops(crops: Iterable[Crop], out: str | Path, *, val: float = 0.15, test: float = 0.15,
                seed: int = 42, progress: TextIO | None = None) -> list[dict[str, str]]:
    """Write every crop as `out/<class>/<name>.jpg`; return the manifest rows, in the order written."""
    out = Path(out)
    rows: list[dict[str, str]] = []
    used: set[str] = set()
    for crop in crops:
        # Synthetic masks only train: validation and test measure real photos.
        split = "train" if crop.synthetic else split_for(crop.image_hash, val, test, seed)
        if split == "train" and crop.reframe is not None:
            box, pixels = crop.reframe()
            if min(pixels.shape[:2]) >= 2:
                crop.box, crop.pixels = box, pixels
        file = unique_file(crop, used)
        write_image(out / file, shrink(crop.pixels), jpeg_quality=JPEG_QUALITY)
        rows.append(manifest_row(crop, file, split))
        if progress is not None and len(rows) % 500 == 0:
            print(f"  {len(rows)} crops written (now {crop.source})", file=progress, flush=True)
    return rows


def remove_stale(out: Path, old: list[dict[str, str]], new: list[dict[str, str]]) -> int:
    """Delete crops an earlier run wrote that this run did not, so they cannot creep into training.

    Only files the old manifest lists are touched; anything else in `out` is left alone.
    """
    keep = {row["file"] for row in new}
    removed = 0
    for row in old:
        file = row.get("file", "")
        path = out / file
        inside = path.parent.parent == out and path.parent.name in CLASSES
        if file and file not in keep and inside and path.suffix == ".jpg" and path.is_file():
            path.unlink()
            removed += 1
    return removed


def unlisted_files(out: Path, rows: list[dict[str, str]]) -> int:
    """How many images in the class folders the manifest does not list (e.g. put there by hand)."""
    listed = {row["file"] for row in rows}
    return sum(
        1
        for label in CLASSES
        if (out / label).is_dir()
        for p in list_images(out / label)
        if f"{label}/{p.name}" not in listed
    )


# --------------------------------------------------------------------------------------------- summary


def count_table(rows: list[dict[str, str]], key: str, keys: Iterable[str]) -> str:
    """Crops per `key` (source or split) and class, with totals; for splits also the source images."""
    counts = Counter((r[key], r["class"]) for r in rows)
    images = {k: len({r["source_image"] for r in rows if r[key] == k}) for k in keys}
    body = [[k, *(counts[k, c] for c in CLASSES), sum(counts[k, c] for c in CLASSES), images[k]]
            for k in keys]
    body.append(["total", *(sum(counts[k, c] for k in keys) for c in CLASSES), len(rows),
                 len({r["source_image"] for r in rows})])
    return text_table([[key, *CLASSES, "total", "images"], *body])


def summary(rows: list[dict[str, str]], report: Report, seconds: float) -> str:
    """What the CLI prints at the end: crops per class x source and x split, and all that was dropped."""
    sources = list(dict.fromkeys(r["source"] for r in rows))
    lines = ["", "crops per source and class (images: distinct source images):",
             count_table(rows, "source", sources), "", "crops per split and class:",
             count_table(rows, "split", SPLITS), ""]
    for folder, n in report.folder_images.items():
        lines.append(f"recropped by the SSD: {folder}: {report.recropped[folder]} of {n} images")
    synthetic = sum(r["synthetic"] == "1" for r in rows)
    lines += [
        f"synthetic crops: {synthetic}",
        f"labels fixed (facemask/tools/label_fixes.csv): {sum(report.relabelled.values())} {dict(report.relabelled)}",
        f"exact duplicates dropped: {sum(report.duplicates.values())} {dict(report.duplicates)}"
        f" ({report.label_conflicts} with a different class than the copy kept)",
        f"faces below min size skipped: {sum(report.too_small.values())} {dict(report.too_small)}",
        f"unknown labels skipped: {sum(report.unknown_labels.values())} {dict(report.unknown_labels)}",
        f"unreadable images skipped: {len(report.unreadable)}; unparsable XML skipped: {len(report.bad_xml)}",
        f"time: {seconds:.0f} s",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "python -m facemask.tools.dataset",
        "Assemble OUT/<class>/*.jpg face crops (and OUT/manifest.csv with each crop's split and "
        "origin) from the shared face-mask datasets. VOC faces are cropped with the margin the res10 SSD "
        "face detector uses at run time; portraits in class folders are cropped by the SSD itself. Exact "
        "duplicates are dropped; every source image goes wholly to one split.",
    )
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"),
                        help="the datasets folder (holds face-mask-voc/, ilc2021-train/, mask-nomask-real/, "
                        "maskedfacenet/); read only, nothing is copied from it but the crops")
    parser.add_argument("--out", type=Path, default=Path("dataset"),
                        help="where to write <class>/*.jpg and manifest.csv; crops listed in an earlier "
                        "manifest that this run does not write again are deleted, nothing else is")
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(DEFAULT_SOURCES), metavar="SOURCE",
                        help=f"which datasets to import, any of: {' '.join(SOURCES)} (face-mask-voc-hires and "
                        "face-mask-voc hold the same photos: take one)")
    parser.add_argument("--min-size", type=int, default=10,
                        help="skip faces whose shorter side is below this many pixels in the original image, "
                        "and class-folder crops smaller than this (10: the smallest faces YuNet finds)")
    parser.add_argument("--val", type=float, default=0.15, help="fraction of source images for validation")
    parser.add_argument("--test", type=float, default=0.15,
                        help="fraction of source images held out for the final test")
    parser.add_argument("--seed", type=int, default=42,
                        help="salt of the content hash that assigns splits; change it for a different split")
    parser.add_argument("--no-recrop", action="store_true",
                        help="keep class-folder images whole instead of cropping portraits to the face the "
                        "SSD finds (faster; needs no face detector model)")
    parser.add_argument("--original-labels", action="store_true",
                        help="keep every dataset's own labels instead of applying facemask/tools/label_fixes.csv "
                        "(faces checked by eye whose dataset label contradicts ours, e.g. a mask under the "
                        "nose labelled with_mask)")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with code 2 and a clear message on values that would give a broken dataset."""
    if not args.shared.is_dir():
        parser.error(f"shared datasets folder not found: {args.shared} (pass --shared PATH)")
    if args.min_size < 1:
        parser.error("--min-size must be at least 1")
    if not (0 <= args.val < 1 and 0 <= args.test < 1 and args.val + args.test < 1):
        parser.error("--val and --test must be fractions in [0, 1) that add up to less than 1")
    if {"face-mask-voc", "face-mask-voc-hires"} <= set(args.sources):
        parser.error("face-mask-voc and face-mask-voc-hires hold the same photos: take one")
    missing = [s for s in args.sources if not (args.shared / s).is_dir()]
    if missing:
        parser.error(f"not found in {args.shared}: {', '.join(missing)}")


def fix_labels(crops: Iterable[Crop], fixes: dict[str, tuple[str, str]], report: Report) -> Iterator[Crop]:
    """The crops with our label where label_fixes.csv corrects their dataset's (see facemask.tools.label_fixes)."""
    for crop in crops:
        label = fixed_label(fixes, crop.name, crop.label)
        if label != crop.label:
            report.relabelled[f"{crop.source}: {crop.label} -> {label}"] += 1
            crop.label = label
        yield crop


def all_crops(args: argparse.Namespace, report: Report) -> Iterator[Crop]:
    """The crops of every chosen source, with our label fixes unless --original-labels (DatasetError when
    label_fixes.csv is damaged: raised here, before anything is written)."""
    crops = group_near_duplicates(_imported_crops(args, report), near_duplicate_keys(args.shared))
    return crops if args.original_labels else fix_labels(crops, read_label_fixes(), report)


def _imported_crops(args: argparse.Namespace, report: Report) -> Iterator[Crop]:
    """Every chosen source in a fixed order (VOC first), so which copy of a duplicate is kept never varies."""
    for source in (s for s in SOURCES if s in args.sources):
        print(f"importing {source}", file=sys.stderr, flush=True)
        base = args.shared / source
        if source in VOC_SOURCES:
            yield from import_voc(base / "images", base / "annotations", source=source, root=args.shared,
                                  min_size=args.min_size, report=report)
        elif source in PHOTO_SOURCES:
            mapping = {base / folder: label for folder, label in PHOTO_SOURCES[source].items()}
            yield from import_photos(mapping, root=args.shared, min_size=args.min_size,
                                     finder=load_face_finder("yunet"), report=report)
        else:
            mapping = {base / folder: label for folder, label in FOLDER_SOURCES[source].items()}
            yield from import_folders(mapping, root=args.shared, min_size=args.min_size, report=report,
                                      recrop=None if args.no_recrop else SSDRecropper())


def main(argv: list[str] | None = None) -> int:

    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    return run_command(build, args)


def build(args: argparse.Namespace) -> None:
    """Import, crop, split and write the dataset the arguments describe, then print what was done."""
    start = time.monotonic()
    report = Report()
    manifest = args.out / MANIFEST
    old = read_manifest(manifest)
    crops = all_crops(args, report)
    rows = write_crops(crops, args.out, val=args.val, test=args.test, seed=args.seed, progress=sys.stderr)
    if not rows:
        raise DatasetError("no crops were made; manifest left as it was")
    write_manifest(manifest, rows)
    removed = remove_stale(args.out, old, rows)
    print(summary(rows, report, time.monotonic() - start))
    print(f"wrote {len(rows)} crops and {manifest}" + (f"; removed {removed} stale crops" if removed else ""))
    stray = unlisted_files(args.out, rows)
    if stray:
        print(f"note: {stray} images in {args.out}/<class>/ are not in the manifest; training will use them "
              "with no split", file=sys.stderr)


console = console_entry(main)

if __name__ == "__main__":
    console()
