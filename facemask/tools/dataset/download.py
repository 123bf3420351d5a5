"""facemask-dataset --download: fetch the public originals of the training data, verify and convert them.

Each original is fetched whole into memory, checked against the size and SHA-256 the shipped list pins,
converted (facemask.tools.dataset.originals) and only then published, in one rename, under the same path as
in our curated folder. `DOWNLOADED.tsv` in the folder records what was published with the SHA-256 of the file
written, so a second run fetches only what is missing, changed or unlisted there.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from facemask.errors import DatasetError, printable
from facemask.files import atomic_path, remove_stale_temps, sha256, write_text

from .originals import (
    DOWNLOADS,
    SOURCES,
    SPLIT_KEYS,
    WEB_BOXES,
    Original,
    converter,
    read_originals,
    web_annotations,
)

BASE_URL = "https://raw.githubusercontent.com"
LEDGER = "DOWNLOADED.tsv"
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK = 1 << 16


class Mismatch(DatasetError):
    """The server sent a whole file, but not the one the list pins: retrying will not help."""


class Transient(DatasetError):
    """A network error, a server error or a short read: worth another try."""


@dataclass
class Fetcher:
    """Fetches originals over HTTP(S) (honouring the usual *_proxy variables) with retries and back-off."""

    base_url: str = BASE_URL
    timeout: float = 30.0
    attempts: int = 5
    backoff: float = 1.0  # seconds before the second try; doubled for each further one, up to 30 s

    def fetch(self, original: Original, on_bytes=lambda n: None) -> bytes:
        """The verified bytes of `original`; Mismatch at once, DatasetError after the last failed try."""
        url = original.url(self.base_url)
        for attempt in range(1, self.attempts + 1):
            try:
                return self._fetch_once(url, original, on_bytes)
            except Transient as e:
                if attempt == self.attempts:
                    raise DatasetError(f"{e} (gave up after {attempt} tries)") from e
                delay = min(30.0, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def _fetch_once(self, url: str, original: Original, on_bytes) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "facemask-dataset"})
        digest, parts, received = hashlib.sha256(), [], 0
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                while chunk := response.read(CHUNK):
                    received += len(chunk)
                    if received > original.size:
                        raise Mismatch(f"longer than the {original.size} bytes listed")
                    digest.update(chunk)
                    parts.append(chunk)
                    on_bytes(len(chunk))
        except urllib.error.HTTPError as e:
            if e.code in RETRY_STATUS:
                raise Transient(f"HTTP {e.code} {e.reason}") from e
            raise DatasetError(f"HTTP {e.code} {e.reason} for {url}") from e
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as e:
            on_bytes(-received)
            reason = getattr(e, "reason", None) or e
            raise Transient(f"{type(e).__name__}: {reason}") from e
        if received < original.size:
            on_bytes(-received)
            raise Transient(f"the body ended after {received} of {original.size} bytes")
        if digest.hexdigest() != original.sha256:
            raise Mismatch(f"SHA-256 {digest.hexdigest()[:16]}... instead of the listed {original.sha256[:16]}...")
        return b"".join(parts)


@dataclass
class Ledger:
    """DOWNLOADED.tsv: the files this tool published (local path, SHA-256 of the file written), appended as
    they are written; a line cut short by a crash is ignored."""

    path: Path
    written: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, folder: Path) -> Ledger:
        ledger = cls(folder / LEDGER)
        if ledger.path.is_file():
            text = ledger.path.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                local, _, digest = line.partition("\t")
                if len(digest) == 64:
                    ledger.written[local] = digest
            if text and not text.endswith("\n"):  # the next line must not be glued to a torn one
                with open(ledger.path, "a", encoding="utf-8") as f:
                    f.write("\n")
        return ledger

    def is_current(self, folder: Path, local: str) -> bool:
        """Published by an earlier run and unchanged since."""
        path = folder / local
        return local in self.written and path.is_file() and sha256(path) == self.written[local]

    def add(self, local: str, digest: str) -> None:
        with self.lock:
            self.written[local] = digest
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{local}\t{digest}\n")


def publish(folder: Path, local: str, data: bytes, ledger: Ledger) -> None:
    """Write one file in one rename (never half of it under its name) and record it."""
    path = folder / local
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    ledger.add(local, hashlib.sha256(data).hexdigest())


def licence_text(sources: Iterable[str]) -> str:
    """Where each chosen source comes from and its terms: printed before downloading, kept in SOURCES.md."""
    lines = ["# Sources of this folder", "",
             "Fetched by `facemask-dataset --download` from the public originals the project's list pins",
             "(repository, commit, path, size, SHA-256), then converted as the project's curated copy was.",
             "", "| folder | origin | licence |", "|---|---|---|"]
    lines += [f"| `{s}` | {SOURCES[s].origin} | {SOURCES[s].licence} |" for s in sources]
    if "maskedfacenet" in sources:
        lines += ["", "MaskedFace-Net is licensed CC BY-NC-SA 4.0: non-commercial use only, with attribution "
                  "(Cabani et al., 'MaskedFace-Net - A dataset of correctly/incorrectly masked face images in "
                  "the context of COVID-19', Smart Health 2021). Leave it out (`--only` without maskedfacenet, "
                  "and `--sources` without it when building) for a model free of these terms."]
    lines += ["", "Several sources state no licence: their images are for research; check their rights before "
              "any other use. The boxes of the two web sets of incorrectly worn masks were drawn by the project."]
    return "\n".join(lines) + "\n"


def write_split_keys(folder: Path, originals: list[Original]) -> None:
    """SPLIT_KEYS.tsv: what puts each image in the split it has in our dataset (its bytes here differ)."""
    rows = "".join(f"{o.local}\t{o.key}\n" for o in originals if o.key)
    write_text(folder / SPLIT_KEYS, "local\tkey\n" + rows)


def download(folder: Path, sources: list[str], *, fetcher: Fetcher, jobs: int = 4, progress: bool = True,
             listing: Path = DOWNLOADS, boxes: Path = WEB_BOXES) -> int:
    """Fetch, verify, convert and publish every listed original of `sources` not already here; return how
    many files were written. DatasetError at the end if any file failed (each was named as it failed)."""
    from tqdm import tqdm

    originals = [o for o in read_originals(listing) if o.source in sources]
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    licences = licence_text(sources)
    print(licences, file=sys.stderr)
    write_text(folder / "SOURCES.md", licences)
    write_split_keys(folder, originals)
    ledger = Ledger.open(folder)
    written = 0
    for local, text in web_annotations(boxes).items():
        if local.split("/", 1)[0] in sources and not ledger.is_current(folder, local):
            publish(folder, local, text.encode("utf-8"), ledger)
            written += 1
    todo = [o for o in originals if not ledger.is_current(folder, o.local)]
    if len(todo) < len(originals):
        print(f"{len(originals) - len(todo)} of {len(originals)} files already here and unchanged", file=sys.stderr)
    bar = tqdm(total=sum(o.size for o in todo), unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
               disable=not progress, mininterval=0.5, dynamic_ncols=True, desc=f"0/{len(todo)} files")
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    def one(original: Original) -> None:
        data = fetcher.fetch(original, advance)
        try:
            converted = converter(original)(data)
        except DatasetError as e:
            raise DatasetError(f"cannot convert: {e}") from e
        publish(folder, original.local, converted, ledger)

    failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, o): o for o in todo}
        try:
            for done, future in enumerate(as_completed(futures), 1):
                error = future.exception()
                if error is None:
                    written += 1
                else:
                    failed += 1
                    bar.write(f"error: {printable(futures[future].local)}: {printable(str(error))}", file=sys.stderr)
                bar.set_description(f"{done}/{len(todo)} files", refresh=False)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            bar.close()
    if failed:
        raise DatasetError(f"{failed} of {len(todo)} files failed (named above; nothing of them was written); "
                           "run the same command again to fetch what is missing")
    return written
