"""The public originals of the training data, and how each becomes the file the importers read.

The list shipped with the package (`downloads.tsv.gz`) names, for every file of the curated datasets folder,
the original it was made from (GitHub repository, commit, path, size, SHA-256) and, for images, the key that
decides its split (the SHA-1 of our copy, or of its near-duplicate group's first photo), so that a dataset
built from the originals splits exactly as ours does. `web_boxes.tsv.gz` holds the boxes we drew on the two
web sets of incorrectly worn masks, which have none at their source.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from facemask.errors import DatasetError
from facemask.images import decode_image, resize_longest

HERE = Path(__file__).parent
DOWNLOADS = HERE / "downloads.tsv.gz"
WEB_BOXES = HERE / "web_boxes.tsv.gz"
SPLIT_KEYS = "SPLIT_KEYS.tsv"
LIST_COLUMNS = ("local", "repo", "commit", "path", "size", "sha256", "key")
BOX_COLUMNS = ("xml", "image", "width", "height", "name", "xmin", "ymin", "xmax", "ymax", "database", "original")


@dataclass(frozen=True)
class Source:
    """How the originals of one folder were made into our copies, and under what terms they are shared."""

    origin: str
    licence: str
    max_side: int | None = None  # images are shrunk to this longer side (None: kept as they are)
    quality: int = 85  # JPEG quality of our copies
    names: tuple[tuple[str, str], ...] = ()  # class names in the source's annotations -> ours
    copy: bool = False  # files kept byte for byte


SOURCES: dict[str, Source] = {
    "face-mask-voc-hires": Source(
        "ch-tseng/Dataset_for_Mask_Wearing (EDEN Social Welfare Foundation)",
        "none stated by the owner (the Kaggle copy is CC0)", 1024, 75,
        (("good", "with_mask"), ("bad", "without_mask"), ("none", "mask_weared_incorrect"))),
    "face-mask-voc": Source("Kaggle 'Face Mask Detection' (andrewmvd), as copied in hittheant/475Project", "CC0",
                            None, 90),
    "ilc2021-train": Source("jolignier/face-mask-dataset-ilc-2021", "none stated", 800, 80,
                            (("with_incorrect_mask", "mask_weared_incorrect"),)),
    "karysutariya-incorrect": Source("karysutariya/Facemask-type-detection (web and stock photos)",
                                     "none stated (rights unclear: web photos, some with stock watermarks)", 1024),
    "youyinnn-incorrect": Source("youyinnn/ai_face_mask_detector (stock portraits)",
                                 "none stated (the Kaggle uploader calls it CC0, unverified)", 1024),
    "seed-kaggle-incorrect": Source("Hpdvn/Mask_On_Face (web and stock photos)", "not stated", 1024),
    "mask-nomask-real": Source("chandrikadeb7/Face-Mask-Detection", "MIT", 256),
    "maskedfacenet": Source(
        "MaskedFace-Net (Cabani et al. 2020), via marellanoc/MaskON and baskoroadiw/MaskedFaceSegmentation-Dataset",
        "CC BY-NC-SA 4.0: non-commercial use only, with attribution; models trained on it inherit these terms",
        256),
    "mask-templates": Source("aqeelanwar/MaskTheFace, masks/", "MIT", copy=True),
}
# face-mask-voc-hires holds the photos of face-mask-voc at three times the resolution: the default takes it alone.
DEFAULT_DOWNLOADS = tuple(s for s in SOURCES if s != "face-mask-voc")


@dataclass(frozen=True)
class Original:
    """One row of the shipped list: our file `local` (relative to the datasets folder) and its original."""

    local: str
    repo: str
    commit: str
    path: str
    size: int
    sha256: str
    key: str = ""  # what decides the split of an image (see facemask.tools.dataset.splits); "" for other files

    @property
    def source(self) -> str:
        return self.local.split("/", 1)[0]

    def url(self, base: str) -> str:
        from urllib.parse import quote

        return f"{base.rstrip('/')}/{self.repo}/{self.commit}/{quote(self.path)}"


def read_gz_tsv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a gzip-compressed tab-separated table with the given header; DatasetError if damaged."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            rows = list(reader)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if tuple(reader.fieldnames or ()) != columns:
        raise DatasetError(f"{path} does not have the columns {', '.join(columns)}")
    return rows


def write_gz_tsv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    """Write a table for `read_gz_tsv`; the same rows give the same bytes (no time stamp in the header)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.getvalue().encode("utf-8"))


def read_originals(path: Path = DOWNLOADS) -> list[Original]:
    try:
        return [Original(**{**row, "size": int(row["size"])}) for row in read_gz_tsv(path, LIST_COLUMNS)]
    except ValueError as e:
        raise DatasetError(f"{path}: a size is not a number: {e}") from e


def web_annotations(path: Path = WEB_BOXES) -> dict[str, str]:
    """local path of each web set's annotation -> its Pascal VOC text (one face per photo, drawn by us)."""
    return {row["xml"]: voc_text(row) for row in read_gz_tsv(path, BOX_COLUMNS)}


def voc_text(row: dict[str, str]) -> str:
    box = "".join(f"<{k}>{row[k]}</{k}>" for k in ("xmin", "ymin", "xmax", "ymax"))
    return (f"<annotation>\n\t<folder>images</folder>\n\t<filename>{escape(row['image'])}</filename>\n"
            f"\t<source><database>{escape(row['database'])}</database><original>{escape(row['original'])}"
            f"</original></source>\n"
            f"\t<size><width>{row['width']}</width><height>{row['height']}</height><depth>3</depth></size>\n"
            f"\t<segmented>0</segmented>\n\t<object>\n\t\t<name>{escape(row['name'])}</name>\n"
            "\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n"
            f"\t\t<bndbox>{box}</bndbox>\n\t</object>\n</annotation>\n")


def shrink_scale(width: int, height: int, max_side: int | None) -> float:
    """How much an image of this size is scaled: down to `max_side`, never up."""
    return 1.0 if max_side is None or max(width, height) <= max_side else max_side / max(width, height)


def convert_image(data: bytes, source: Source) -> bytes:
    """The original image as our copy: 8-bit BGR, shrunk to the source's longest side, JPEG at its quality."""
    import cv2

    image = decode_image(np.frombuffer(data, np.uint8))
    if image is None:
        raise DatasetError("not a readable image")
    h, w = image.shape[:2]
    if shrink_scale(w, h, source.max_side) < 1:
        image = resize_longest(image, source.max_side)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, source.quality])
    if not ok:
        raise DatasetError("cannot encode as JPEG")
    return encoded.tobytes()


def convert_voc(data: bytes, source: Source, image_name: str) -> bytes:
    """The original annotation as ours: boxes and size scaled with the image, class names mapped, the file name
    of our image; the rest of the text (including the junk some sets have after </bndbox>) left as it is."""
    try:
        text = data.decode("utf-8-sig").strip()
    except UnicodeDecodeError as e:
        raise DatasetError(f"not UTF-8 text: {e}") from e
    size = re.search(r"<width>\s*(\d+)\s*</width>\s*<height>\s*(\d+)\s*</height>", text)
    if size is None:
        raise DatasetError("no <size> with <width> and <height>")
    scale = shrink_scale(int(size[1]), int(size[2]), source.max_side)
    names = dict(source.names)

    def scaled(match: re.Match) -> str:
        return f"<{match[1]}>{round(float(match[2]) * scale)}</{match[1]}>"

    text = re.sub(r"<(width|height|xmin|ymin|xmax|ymax)>\s*([-\d.]+)\s*</\1>", scaled, text)
    text = re.sub(r"<name>\s*([^<]*?)\s*</name>", lambda m: f"<name>{escape(names.get(m[1], m[1]))}</name>", text)
    for tag in ("filename", "path"):
        text = re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{escape(image_name)}</{tag}>", text, count=1)
    return (text + "\n").encode("utf-8")


def converter(original: Original) -> Callable[[bytes], bytes]:
    """What turns this original's verified bytes into the bytes of our file."""
    source = SOURCES[original.source]
    if source.copy:
        return lambda data: data
    if original.local.endswith(".xml"):
        image_name = Path(original.local).stem + ".jpg"
        return lambda data: convert_voc(data, source, image_name)
    return lambda data: convert_image(data, source)
