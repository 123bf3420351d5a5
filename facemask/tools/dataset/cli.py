"""python -m facemask.tools.dataset: the command line, and the sources it knows."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from facemask.cli import command_parser, console_entry, run_command
from facemask.errors import DatasetError
from facemask.faces import load_face_finder
from facemask.labels import CLASSES
from facemask.manifest import MANIFEST, read_manifest, write_manifest
from facemask.tools.label_fixes import fixed_label, read_label_fixes
from facemask.tools.tables import text_table

from .crops import Crop, Report
from .download import BASE_URL, Fetcher, download
from .framing import TRAIN_MARGIN
from .from_folders import SSDRecropper, import_folders
from .from_photos import import_photos
from .from_voc import import_voc
from .originals import DEFAULT_DOWNLOADS
from .originals import SOURCES as DOWNLOAD_SOURCES
from .splits import SPLITS, group_keys, group_near_duplicates, near_duplicate_keys, split_keys
from .write import WATERMARK_SHARE, remove_stale, unlisted_files, write_crops

# face-mask-voc-hires holds the photos of face-mask-voc at three times the resolution: one or the other.
VOC_SOURCES = ("face-mask-voc-hires", "ilc2021-train", "face-mask-voc")
# Portraits of incorrectly worn masks from the web with one box each (drawn by us), split by shoot
# (WEB_INCORRECT_GROUPS.tsv) into train and validation only: studio photos, unlike the held-out street ones.
WEB_SOURCES = ("karysutariya-incorrect", "youyinnn-incorrect")
# Whole photos of one class without boxes: the face detector finds the face (the largest one is kept).
PHOTO_SOURCES: dict[str, dict[str, str]] = {"seed-kaggle-incorrect": {"incorrect_mask": "incorrect_mask"}}
# Class folders of each folder source, and the class each holds.
FOLDER_SOURCES: dict[str, dict[str, str]] = {
    "mask-nomask-real": {"with_mask": "with_mask", "without_mask": "without_mask"},
    "maskedfacenet": {"correct": "with_mask", "incorrect": "incorrect_mask"},
}
SOURCES = VOC_SOURCES + WEB_SOURCES + tuple(PHOTO_SOURCES) + tuple(FOLDER_SOURCES)
DEFAULT_SOURCES = tuple(s for s in SOURCES if s != "face-mask-voc")


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
    parser.add_argument("--train-margin", type=float, default=TRAIN_MARGIN[1], metavar="F",
                        help="training faces are framed at random from 5 %% inside their box to F times its "
                        "size outside it on each side; validation and test faces "
                        "keep the SSD's framing")
    parser.add_argument("--watermarks", type=float, default=WATERMARK_SHARE, metavar="SHARE",
                        help="paste a stock-photo watermark on this share of the training crops of every class, so "
                        "that the watermarks of the web photos of incorrectly worn masks mean nothing (0: none)")
    parser.add_argument("--seed", type=int, default=42,
                        help="salt of the content hash that assigns splits; change it for a different split")
    parser.add_argument("--no-recrop", action="store_true",
                        help="keep class-folder images whole instead of cropping portraits to the face the "
                        "SSD finds (faster; needs no face detector model)")
    fetch = parser.add_argument_group(
        "download", "fetch the public originals of the datasets (their licences are printed first and written to "
        "DIR/SOURCES.md), verify each against the size and SHA-256 the package lists, convert them as our copies "
        "were made, and write them into DIR in the layout --shared reads; then build with --shared DIR")
    fetch.add_argument("--download", type=Path, metavar="DIR",
                       help="download into DIR instead of building; a second run fetches only what is missing "
                       "or was changed")
    fetch.add_argument("--only", type=source_list, metavar="NAME,...", default=",".join(DEFAULT_DOWNLOADS),
                       help=f"which folders to download, of: {', '.join(DOWNLOAD_SOURCES)}; the default leaves "
                       "out face-mask-voc, whose photos face-mask-voc-hires holds at three times the resolution")
    fetch.add_argument("--base-url", default=BASE_URL, metavar="URL",
                       help=f"fetch <URL>/<repo>/<commit>/<path> from a mirror instead of {BASE_URL} (a proxy "
                       "is taken from the https_proxy environment variable)")
    fetch.add_argument("--jobs", type=int, default=4, help="files fetched at once")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--original-labels", action="store_true",
                        help="keep every dataset's own labels instead of applying facemask/tools/label_fixes.csv "
                        "(faces checked by eye whose dataset label contradicts ours, e.g. a mask under the "
                        "nose labelled with_mask)")
    return parser


def source_list(text: str) -> list[str]:
    """--only's comma-separated folder names, each checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DOWNLOAD_SOURCES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown folder {', '.join(unknown) or text!r}: choose from "
                                         f"{', '.join(DOWNLOAD_SOURCES)}")
    return names


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with code 2 and a clear message on values that would give a broken dataset."""
    if args.download is not None:
        if args.jobs < 1:
            parser.error("--jobs must be at least 1")
        if not args.base_url.startswith(("http://", "https://")):
            parser.error("--base-url must start with http:// or https://")
        return
    if not args.shared.is_dir():
        parser.error(f"shared datasets folder not found: {args.shared} (pass --shared PATH)")
    if args.min_size < 1:
        parser.error("--min-size must be at least 1")
    if not 0 <= args.watermarks <= 1:
        parser.error("--watermarks must be a share from 0 to 1")
    if not TRAIN_MARGIN[0] <= args.train_margin <= 1:
        parser.error(f"--train-margin must be between {TRAIN_MARGIN[0]} and 1")
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
    keys = near_duplicate_keys(args.shared) | group_keys(args.shared) | split_keys(args.shared)
    crops = group_near_duplicates(_imported_crops(args, report), keys)
    return crops if args.original_labels else fix_labels(crops, read_label_fixes(), report)


def _imported_crops(args: argparse.Namespace, report: Report) -> Iterator[Crop]:
    """Every chosen source in a fixed order (VOC first), so which copy of a duplicate is kept never varies."""
    for source in (s for s in SOURCES if s in args.sources):
        print(f"importing {source}", file=sys.stderr, flush=True)
        base = args.shared / source
        if source in VOC_SOURCES + WEB_SOURCES:
            for crop in import_voc(base / "images", base / "annotations", source=source, root=args.shared,
                                   min_size=args.min_size, report=report):
                crop.testable = source not in WEB_SOURCES
                yield crop
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
    return run_command(fetch_originals if args.download is not None else build, args)


def fetch_originals(args: argparse.Namespace) -> None:
    """--download: fetch what is missing into the folder, then say how to build from it."""
    start = time.monotonic()
    fetcher = Fetcher(base_url=args.base_url)
    written = download(args.download, args.only, fetcher=fetcher, jobs=args.jobs, progress=not args.no_progress)
    print(f"{args.download}: {written} files written in {time.monotonic() - start:.0f} s; all listed files are "
          f"there. Build with: python -m facemask.tools.dataset --shared {args.download}")


def build(args: argparse.Namespace) -> None:
    """Import, crop, split and write the dataset the arguments describe, then print what was done."""
    start = time.monotonic()
    report = Report()
    manifest = args.out / MANIFEST
    old = read_manifest(manifest)
    crops = all_crops(args, report)
    rows = write_crops(crops, args.out, val=args.val, test=args.test, seed=args.seed,
                       train_margin=(TRAIN_MARGIN[0], args.train_margin), watermarks=args.watermarks,
                       progress=sys.stderr)
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
