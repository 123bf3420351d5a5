"""facemask-dataset --download against a small fake tree served on loopback: no test reaches the internet."""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
import pytest

from facemask.errors import DatasetError
from facemask.tools.dataset import cli
from facemask.tools.dataset.download import LEDGER, Fetcher, download
from facemask.tools.dataset.download_list import split_key
from facemask.tools.dataset.originals import (
    BOX_COLUMNS,
    DOWNLOADS,
    LIST_COLUMNS,
    SPLIT_KEYS,
    read_originals,
    write_gz_tsv,
)
from facemask.tools.dataset.splits import group_keys, near_duplicate_keys, read_tsv, split_for
from facemask.tools.voc import read_voc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def png(w: int, h: int, seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return cv2.imencode(".png", image)[1].tobytes()


HIRES_XML = """
<annotation><folder>images</folder><filename>-1x-1.jpg</filename><path>P:\\mask\\-1x-1.jpg</path>
<size><width>2000</width><height>1000</height><depth>3</depth></size>
<object><name>good</name><bndbox><xmin>10</xmin><ymin>750</ymin><xmax>252</xmax><ymax>999</ymax></bndbox></object>
<object><name>bad</name><bndbox><xmin>805</xmin><ymin>43</ymin><xmax>886</xmax><ymax>133</ymax></bndbox>junk</object>
<object><name>none</name><bndbox><xmin>1000</xmin><ymin>100</ymin><xmax>1200</xmax><ymax>300</ymax></bndbox></object>
</annotation>
"""


class Tree:
    """The originals a fake GitHub serves, the list that pins them, and what the server did."""

    def __init__(self, root: Path):
        self.files: dict[str, bytes] = {}  # URL path -> bytes served
        self.rows: list[dict[str, str]] = []
        self.behaviour: dict[str, list[str]] = {}  # URL path -> what to do on successive requests
        self.requests: Counter = Counter()
        self.listing, self.boxes = root / "downloads.tsv.gz", root / "web_boxes.tsv.gz"

    def add(self, local: str, repo_path: str, data: bytes, key: str = "") -> None:
        url_path = f"/owner/repo/{'c' * 40}/{repo_path}"
        self.files[url_path] = data
        self.rows.append({"local": local, "repo": "owner/repo", "commit": "c" * 40, "path": repo_path,
                          "size": str(len(data)), "sha256": hashlib.sha256(data).hexdigest(), "key": key})

    def url_path(self, local: str) -> str:
        row = next(r for r in self.rows if r["local"] == local)
        return f"/owner/repo/{'c' * 40}/{row['path']}"

    def write(self) -> None:
        write_gz_tsv(self.listing, LIST_COLUMNS, self.rows)
        box = {"xml": "youyinnn-incorrect/annotations/y_1.xml", "image": "y_1.jpg", "width": "256",
               "height": "256", "name": "mask_worn_incorrectly", "xmin": "60", "ymin": "40", "xmax": "190",
               "ymax": "240", "database": "owner/repo@cccc", "original": "a b/1.jpeg"}
        write_gz_tsv(self.boxes, BOX_COLUMNS, [box])


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    tree = Tree(tmp_path)
    tree.add("face-mask-voc-hires/images/00000001.jpg", "images/-1x-1.jpg", png(2000, 1000, 1), key="k" * 40)
    tree.add("face-mask-voc-hires/annotations/00000001.xml", "labels/00000001.xml", HIRES_XML.encode())
    tree.add("mask-nomask-real/with_mask/0001.jpg", "dataset/with_mask/0001.png", png(300, 200, 2), key="m" * 40)
    tree.add("mask-nomask-real/without_mask/0002.jpg", "dataset/without mask/ä 2.webp",
             cv2.imencode(".webp", np.full((90, 80, 3), 128, np.uint8))[1].tobytes(), key="n" * 40)
    tree.add("youyinnn-incorrect/images/y_1.jpg", "data/y/1.jpeg",
             cv2.imencode(".jpg", np.full((256, 256, 3), 90, np.uint8))[1].tobytes(), key="y" * 40)
    tree.add("mask-templates/masks.cfg", "masks/masks.cfg", b"[surgical]\nmask_a = 1,2\n")
    tree.write()
    return tree


@pytest.fixture
def server(tree: Tree):
    """An HTTP server on loopback serving the tree; each URL's behaviour list is consumed one request at a
    time: ok, 503, 404, slow (waits 2 s before answering), truncated (half the body, then the connection
    closes), corrupt (the right length, other bytes)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = unquote(self.path)
            tree.requests[path] += 1
            plan = tree.behaviour.get(path, [])
            what = plan.pop(0) if plan else "ok"
            data = tree.files.get(path)
            if data is None or what == "404":
                self.send_error(404)
                return
            if what == "503":
                self.send_error(503)
                return
            if what == "slow":
                time.sleep(2)
            if what == "corrupt":
                data = bytes(b ^ 0xFF for b in data)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if what == "truncated" else data)
            if what == "truncated":
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that timed out on a slow answer

    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


ALL = ["face-mask-voc-hires", "mask-nomask-real", "youyinnn-incorrect", "mask-templates"]


def run(tree: Tree, server: str, out: Path, sources=ALL, **fetch) -> int:
    fetcher = Fetcher(base_url=server, timeout=fetch.pop("timeout", 5.0), attempts=fetch.pop("attempts", 3),
                      backoff=0.01)
    return download(out, list(sources), fetcher=fetcher, jobs=3, progress=False, listing=tree.listing,
                    boxes=tree.boxes)


def test_download_verifies_converts_and_lays_out_the_folder(tree, server, tmp_path, capsys):
    out = tmp_path / "datasets"
    assert run(tree, server, out) == 7  # 6 listed files and the web set's annotation
    image = cv2.imread(str(out / "face-mask-voc-hires/images/00000001.jpg"))
    assert image.shape == (512, 1024, 3)  # shrunk to its source's longest side
    voc = read_voc(out / "face-mask-voc-hires/annotations/00000001.xml")
    assert voc.filename == "00000001.jpg" and voc.size == (1024, 512)
    assert voc.objects == [("with_mask", (5, 384, 129, 511)), ("without_mask", (412, 22, 454, 68)),
                           ("mask_weared_incorrect", (512, 51, 614, 154))]
    assert cv2.imread(str(out / "mask-nomask-real/with_mask/0001.jpg")).shape == (171, 256, 3)
    assert cv2.imread(str(out / "mask-nomask-real/without_mask/0002.jpg")).shape == (90, 80, 3)  # webp, not shrunk
    assert (out / "mask-templates/masks.cfg").read_bytes() == tree.files["/owner/repo/" + "c" * 40
                                                                         + "/masks/masks.cfg"]  # byte for byte
    web = read_voc(out / "youyinnn-incorrect/annotations/y_1.xml")
    assert web.size == (256, 256) and web.objects == [("mask_worn_incorrectly", (60, 40, 190, 240))]
    keys = {r["local"]: r["key"] for r in read_tsv(out / SPLIT_KEYS)}
    assert keys["mask-nomask-real/with_mask/0001.jpg"] == "m" * 40 and len(keys) == 4
    sources_md = (out / "SOURCES.md").read_text()
    assert "CC BY-NC-SA 4.0" not in sources_md and "chandrikadeb7" in sources_md and "MIT" in sources_md
    assert "chandrikadeb7/Face-Mask-Detection" in capsys.readouterr().err  # printed before fetching
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file left


def test_a_second_run_fetches_only_what_is_missing_or_changed(tree, server, tmp_path):
    out = tmp_path / "datasets"
    run(tree, server, out)
    tree.requests.clear()
    assert run(tree, server, out) == 0 and sum(tree.requests.values()) == 0
    (out / "mask-nomask-real/with_mask/0001.jpg").unlink()
    (out / "mask-templates/masks.cfg").write_bytes(b"edited")
    assert run(tree, server, out) == 2
    assert set(tree.requests) == {tree.url_path("mask-nomask-real/with_mask/0001.jpg"),
                                  tree.url_path("mask-templates/masks.cfg")}
    assert (out / "mask-templates/masks.cfg").read_bytes().startswith(b"[surgical]")


def test_a_run_cut_short_resumes_where_it_stopped(tree, server, tmp_path):
    out = tmp_path / "datasets"
    run(tree, server, out, sources=["mask-nomask-real"])
    tree.requests.clear()
    (out / LEDGER).write_text((out / LEDGER).read_text() + "mask-templates/masks.cfg\tdeadbe")  # a torn last line
    run(tree, server, out)
    fetched = {p.split("/", 4)[-1] for p in tree.requests}
    assert fetched == {"images/-1x-1.jpg", "labels/00000001.xml", "data/y/1.jpeg", "masks/masks.cfg"}


def test_a_corrupt_file_is_named_in_one_line_and_not_written(tree, server, tmp_path, capsys):
    out = tmp_path / "datasets"
    local = "mask-nomask-real/with_mask/0001.jpg"
    tree.behaviour[tree.url_path(local)] = ["corrupt"] * 5
    with pytest.raises(DatasetError, match="1 of 6 files failed"):
        run(tree, server, out)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and local in errors[0] and "SHA-256" in errors[0]
    assert tree.requests[tree.url_path(local)] == 1  # a whole file with the wrong hash is not fetched again
    assert not (out / local).exists()
    assert (out / "mask-nomask-real/without_mask/0002.jpg").is_file()  # the others went on
    assert local not in (out / LEDGER).read_text()


@pytest.mark.parametrize("trouble", ["503", "truncated", "slow"])
def test_network_trouble_is_retried(tree, server, tmp_path, trouble):
    out = tmp_path / "datasets"
    local = "face-mask-voc-hires/images/00000001.jpg"
    tree.behaviour[tree.url_path(local)] = [trouble, trouble]
    assert run(tree, server, out, timeout=1.0, attempts=3) == 7
    assert tree.requests[tree.url_path(local)] == 3
    assert cv2.imread(str(out / local)).shape == (512, 1024, 3)


def test_a_server_that_keeps_failing_gives_up_with_the_file_named(tree, server, tmp_path, capsys):
    local = "mask-nomask-real/with_mask/0001.jpg"
    tree.behaviour[tree.url_path(local)] = ["503"] * 3
    tree.behaviour[tree.url_path("mask-templates/masks.cfg")] = ["404"]
    with pytest.raises(DatasetError, match="2 of 6 files failed"):
        run(tree, server, tmp_path / "datasets", attempts=3)
    err = capsys.readouterr().err
    assert f"error: {local}: HTTP 503" in err and "gave up after 3 tries" in err
    assert "error: mask-templates/masks.cfg: HTTP 404" in err
    assert tree.requests[tree.url_path("mask-templates/masks.cfg")] == 1  # not found is not retried


def test_the_cli_downloads_and_the_dataset_tool_splits_as_our_copy(tree, server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "download", functools.partial(download, listing=tree.listing, boxes=tree.boxes))
    out = tmp_path / "datasets"
    args = ["--download", str(out), "--only", "mask-nomask-real,youyinnn-incorrect", "--base-url", server,
            "--no-progress"]
    assert cli.main(args) == 0
    assert "--shared" in capsys.readouterr().out
    built = tmp_path / "dataset"
    assert cli.main(["--shared", str(out), "--out", str(built), "--sources", "mask-nomask-real",
                     "youyinnn-incorrect", "--no-recrop"]) == 0
    rows = {r["source_image"]: r["split"] for r in read_tsv_csv(built / "manifest.csv")}
    assert rows["mask-nomask-real/with_mask/0001.jpg"] == split_for("m" * 40, 0.15, 0.15)
    assert rows["youyinnn-incorrect/images/y_1.jpg"] == split_for("y" * 40, 0.15 / 0.85, 0.0)


def read_tsv_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("args", [["--only", "nope"], ["--only", ""], ["--jobs", "0"], ["--base-url", "ftp://x"]])
def test_cli_rejects_bad_download_arguments(tmp_path: Path, args: list[str], capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--download", str(tmp_path / "d"), *args])
    assert e.value.code == 2


def test_unreachable_server_exits_1_naming_the_file(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "download", functools.partial(download, listing=tree.listing, boxes=tree.boxes))
    monkeypatch.setattr(cli, "Fetcher", functools.partial(Fetcher, attempts=2, backoff=0.01, timeout=2))
    code = cli.main(["--download", str(tmp_path / "d"), "--only", "mask-templates", "--base-url",
                     "http://127.0.0.1:9", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "error: mask-templates/masks.cfg:" in err and "Traceback" not in err


@pytest.mark.skipif(not (SHARED / "DOWNLOADS.tsv").is_file(), reason="needs ../shared/datasets")
def test_the_shipped_list_covers_every_data_file_of_the_curated_folder():
    ours = {"SOURCES.md", "DOWNLOADS.tsv", "WEB_INCORRECT_GROUPS.tsv", "README.md", "DROPPED.tsv",
            "NEAR_DUPLICATES.tsv"}
    boxes = {f"{s}/annotations" for s in ("karysutariya-incorrect", "youyinnn-incorrect")}
    on_disk = {p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*")
               if p.is_file() and p.name not in ours and p.parent.relative_to(SHARED).as_posix() not in boxes}
    listed = {o.local: o for o in read_originals(DOWNLOADS)}
    assert on_disk == set(listed)
    pinned = {r["local"]: r for r in read_tsv(SHARED / "DOWNLOADS.tsv")}
    assert all(pinned[k]["sha256"] == o.sha256 and int(pinned[k]["size"]) == o.size for k, o in listed.items())
    keys = near_duplicate_keys(SHARED) | group_keys(SHARED)  # a downloaded image splits as our copy does
    assert all(o.key == split_key(SHARED, o.local, keys) for o in listed.values())
