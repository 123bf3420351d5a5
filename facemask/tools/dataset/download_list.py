"""Make the lists `--download` ships, from the curated datasets folder (for maintainers):

    python -m facemask.tools.dataset.download_list --shared ../shared/datasets

reads `DOWNLOADS.tsv` there (each file's public original), adds each image's split key, and writes
`downloads.tsv.gz` and `web_boxes.tsv.gz` (the boxes we drew on the two web sets) beside this module.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from facemask.cli import command_parser, console_entry, run_command
from facemask.errors import DatasetError

from .cli import WEB_SOURCES
from .originals import BOX_COLUMNS, DOWNLOADS, LIST_COLUMNS, WEB_BOXES, write_gz_tsv
from .splits import group_keys, near_duplicate_keys, read_tsv

IMAGE_FOLDERS = ("images/", "with_mask/", "without_mask/", "incorrect_mask/", "correct/", "incorrect/")


def split_key(shared: Path, local: str, keys: dict[str, str]) -> str:
    """What decides the split of one of our images (the dataset tool's rule), "" for files that are no photo."""
    folder, _, rest = local.partition("/")
    if folder == "mask-templates" or not rest.startswith(IMAGE_FOLDERS):
        return ""
    return keys.get(local) or hashlib.sha1((shared / local).read_bytes()).hexdigest()


def web_box_rows(shared: Path) -> list[dict[str, str]]:
    """One row per annotation of the web sets: the single face box we drew, and where the photo came from."""
    rows = []
    for source in WEB_SOURCES:
        for xml in sorted((shared / source / "annotations").glob("*.xml")):
            text = xml.read_text(encoding="utf-8")

            def tag(name: str, text: str = text) -> str:
                match = re.search(rf"<{name}>([^<]*)</{name}>", text)
                return match[1] if match else ""

            if text.count("<object>") != 1:
                raise DatasetError(f"{xml}: one face per photo expected")
            rows.append({"xml": f"{source}/annotations/{xml.name}", "image": tag("filename"),
                         **{k: tag(k) for k in BOX_COLUMNS[2:]}})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m facemask.tools.dataset.download_list",
                            "Write the lists --download ships (downloads.tsv.gz, web_boxes.tsv.gz) from the curated "
                            "datasets folder and its DOWNLOADS.tsv")
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"), help="the curated datasets")
    return run_command(write_lists, parser.parse_args(argv))


def write_lists(args: argparse.Namespace) -> None:
    keys = near_duplicate_keys(args.shared) | group_keys(args.shared)
    rows = [{**{k: row[k] for k in LIST_COLUMNS[:-1]}, "key": split_key(args.shared, row["local"], keys)}
            for row in read_tsv(args.shared / "DOWNLOADS.tsv")]
    write_gz_tsv(DOWNLOADS, LIST_COLUMNS, rows)
    write_gz_tsv(WEB_BOXES, BOX_COLUMNS, web_box_rows(args.shared))
    print(f"wrote {DOWNLOADS} ({len(rows)} files) and {WEB_BOXES}")


console = console_entry(main)

if __name__ == "__main__":
    console()
