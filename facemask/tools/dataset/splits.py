"""Which split a source photo goes to: a hash of its content, shared by the near-duplicates listed with the data."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from .crops import Crop
from .originals import SPLIT_KEYS

NEAR_DUPLICATES = "NEAR_DUPLICATES.tsv"
GROUPS = "WEB_INCORRECT_GROUPS.tsv"
SPLITS = ("train", "val", "test")


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


def group_keys(shared: Path) -> dict[str, str]:
    """source_image → a key shared by the photos of one shoot or person, from `shared`/WEB_INCORRECT_GROUPS.tsv
    (folder, image, group): siblings go to one split, so validation never sees a face training saw."""
    table = shared / GROUPS
    if not table.is_file():
        return {}
    return {f"{row['folder']}/{row['image']}": hashlib.sha1(f"group:{row['group']}".encode()).hexdigest()
            for row in read_tsv(table)}


def split_keys(shared: Path) -> dict[str, str]:
    """source_image → the key it has in our curated copy, from `shared`/SPLIT_KEYS.tsv, which `--download`
    writes: a downloaded photo's bytes differ from ours, its split must not."""
    table = shared / SPLIT_KEYS
    return {row["local"]: row["key"] for row in read_tsv(table)} if table.is_file() else {}


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
