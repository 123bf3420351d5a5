"""facemask.tools.dataset on small generated data: no shared datasets, no face detector model, no network."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask.errors import DatasetError
from facemask.images import decode_image
from facemask.labels import CLASSES
from facemask.manifest import COLUMNS, MANIFEST
from facemask.tools.dataset import cli, framing, from_folders, from_photos, from_voc
from facemask.tools.dataset.crops import MAX_SIDE, Report
from facemask.tools.dataset.splits import SPLITS, near_duplicate_keys, read_tsv, split_for
from facemask.tools.label_fixes import LABEL_FIXES, fixed_label, read_label_fixes
from facemask.tools.voc import parse_xml
from facemask.types import Box

RNG_SEED = 7


def noise_image(path: Path, w: int, h: int, seed: int, dtype=np.uint8, channels: int = 3) -> Path:
    """A distinct random image (distinct bytes, so distinct hashes) written with OpenCV."""
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    shape = (h, w) if channels == 1 else (h, w, channels)
    image = rng.integers(0, top, shape, dtype=np.int64).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def voc_xml(path: Path, filename: str, size: tuple[int, int], objects: list[tuple[str, tuple]],
            junk: dict[int, str] | None = None) -> Path:
    """A Pascal VOC annotation; `junk` puts text after </bndbox> of the given objects, as in the real sets."""
    junk = junk or {}
    parts = [f"<annotation><folder>images</folder><filename>{filename}</filename>",
             f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"]
    for i, (name, (x1, y1, x2, y2)) in enumerate(objects):
        box = f"<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
        parts.append(f"<object><name>{name}</name><bndbox>{box}</bndbox>{junk.get(i, '')}</object>")
    parts.append("</annotation>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A miniature of the shared datasets folder with every kind of trouble the real one may hold."""
    root = tmp_path / "shared"
    voc = root / "face-mask-voc"
    img, ann = voc / "images", voc / "annotations"
    # scene_a: two good faces (one with an alias label and junk text after </bndbox>), one too small,
    # one with a label we do not know.
    noise_image(img / "scene_a.jpg", 300, 200, 1)
    scene_a = [("with_mask", (10, 10, 70, 80)), ("mask_weared_incorrect", (100, 20, 160, 90)),
               ("without_mask", (200, 20, 220, 40)), ("face", (220, 100, 280, 160))]
    voc_xml(ann / "scene_a.xml", "scene_a.jpg", (300, 200), scene_a, junk={0: "file:/Users/x/a.xml"})
    # scene_b: a byte-identical copy of scene_a under another name: both its faces are duplicates.
    shutil.copy(img / "scene_a.jpg", img / "scene_b.jpg")
    voc_xml(ann / "scene_b.xml", "scene_b.jpg", (300, 200), scene_a)
    # scene_c: a corrupt JPEG.
    (img / "scene_c.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    voc_xml(ann / "scene_c.xml", "scene_c.jpg", (300, 200), [("with_mask", (10, 10, 70, 80))])
    # scene_d: its XML is cut off.
    noise_image(img / "scene_d.jpg", 300, 200, 2)
    (ann / "scene_d.xml").write_text("<annotation><filename>scene_d.jpg</filename><object><name>with_",
                                     encoding="utf-8")
    # scene_e: 16-bit PNG; junk with a bare & that breaks the XML until cleaned; another alias; a box
    # reaching beyond the image.
    noise_image(img / "scene_e.png", 200, 160, 3, dtype=np.uint16)
    voc_xml(ann / "scene_e.xml", "scene_e.png", (200, 160),
            [("with_incorrect_mask", (20, 20, 80, 90)), ("without_mask", (150, 100, 230, 190))],
            junk={0: "C:/a&b/junk"})
    # Folder sources: a duplicate, a corrupt file, a large image, a portrait the (stub) SSD recrops.
    real = root / "mask-nomask-real"
    noise_image(real / "with_mask" / "m0.jpg", 120, 140, 10)
    shutil.copy(real / "with_mask" / "m0.jpg", real / "with_mask" / "m0_copy.jpg")
    (real / "with_mask" / "broken.jpg").write_bytes(b"")
    noise_image(real / "with_mask" / "tiny.jpg", 20, 30, 11)
    noise_image(real / "without_mask" / "n0.jpg", 600, 400, 12)
    noise_image(real / "without_mask" / "n1.png", 100, 100, 13, channels=4)
    mfn = root / "maskedfacenet"
    noise_image(mfn / "correct" / "00001_Mask.jpg", 256, 256, 20)
    noise_image(mfn / "incorrect" / "00002_Mask_Chin.jpg", 256, 256, 21)
    (root / "ilc2021-train" / "images").mkdir(parents=True)
    (root / "ilc2021-train" / "annotations").mkdir(parents=True)
    return root


def stub_recrop(image: np.ndarray) -> Box | None:
    """Stands in for the SSD: 256 px portraits have a face in the middle; everything else is a crop."""
    return (64, 48, 192, 208) if image.shape[:2] == (256, 256) else None


def read_rows(out: Path) -> list[dict[str, str]]:
    with open(out / MANIFEST, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------ unit tests


def test_expand_to_detector_box_uses_measured_margin():
    x1, y1, x2, y2 = framing.expand_to_detector_box((100, 100, 200, 200), 1000, 1000)
    assert (x2 - x1, y2 - y1) == (round(100 * framing.DETECTOR_WIDTH_SCALE), round(100 * framing.DETECTOR_HEIGHT_SCALE))
    assert (y1 + y2) / 2 == pytest.approx(150 + 100 * framing.DETECTOR_DY, abs=1)
    assert (x1 + x2) / 2 == pytest.approx(150, abs=1)


def test_expand_to_detector_box_stays_in_the_image():
    assert framing.expand_to_detector_box((0, 0, 50, 50), 52, 55)[:2] == (0, 0)  # grows up and left: clamped
    assert framing.expand_to_detector_box((90, 5, 120, 40), 100, 100) == (90, 0, 100, 39)


@pytest.mark.parametrize(
    ("dtype", "channels"), [(np.uint16, 1), (np.uint16, 3), (np.uint16, 4), (np.uint8, 1), (np.uint8, 4)]
)
def test_decode_image_gives_8bit_bgr(tmp_path: Path, dtype, channels: int):
    path = noise_image(tmp_path / "x.png", 40, 30, 5, dtype=dtype, channels=channels)
    image = decode_image(np.fromfile(str(path), np.uint8))
    assert image is not None and image.dtype == np.uint8 and image.shape == (30, 40, 3)
    if dtype == np.uint16:
        assert image.max() > 200  # scaled down from 16 bits, not clipped to 255 nor cut to the low byte


def test_decode_image_rejects_garbage():
    assert decode_image(np.frombuffer(b"garbage" * 20, np.uint8)) is None
    assert decode_image(np.zeros(0, np.uint8)) is None


def test_parse_xml_survives_junk():
    xml = b"<a><object><name>A&B</name><bndbox><xmin>1</xmin></bndbox>file:/x&y<z</object></a>"
    root = parse_xml(xml)
    assert root.findtext("object/bndbox/xmin") == "1" and root.findtext("object/name") == "A&B"


def test_split_for_is_deterministic_with_the_asked_fractions():
    hashes = [f"{i:040x}" for i in range(4000)]
    splits = [split_for(h, 0.15, 0.15, 42) for h in hashes]
    assert splits == [split_for(h, 0.15, 0.15, 42) for h in hashes]
    assert splits.count("val") / 4000 == pytest.approx(0.15, abs=0.03)
    assert splits.count("test") / 4000 == pytest.approx(0.15, abs=0.03)
    assert splits != [split_for(h, 0.15, 0.15, 43) for h in hashes]
    assert {split_for(h, 0.0, 0.0) for h in hashes} == {"train"}


class FakeFinder:
    """Returns the given faces, given in the unpadded image's coordinates, and remembers what it saw."""

    def __init__(self, faces, pad: int = 50):
        self.faces, self.pad, self.seen = faces, pad, None

    def find(self, image):
        self.seen = image
        p = self.pad
        return [((x1 + p, y1 + p, x2 + p, y2 + p), s) for (x1, y1, x2, y2), s in self.faces]


def test_ssd_recropper_crops_portraits_only():
    image = np.full((100, 80, 3), 255, np.uint8)
    finder = FakeFinder([((20, 20, 60, 70), 0.9), ((0, 0, 10, 10), 0.6)])
    assert from_folders.SSDRecropper(finder)(image) == (20, 20, 60, 70)  # the most confident
    assert finder.seen.shape == (200, 180, 3)  # the SSD saw the image inside a border of 50 px
    assert (finder.seen[50:150, 50:130] == 255).all() and (finder.seen[:50] == from_folders.PAD_COLOR).all()
    assert from_folders.SSDRecropper(FakeFinder([((-5, -5, 60, 70), 0.9)]))(image) == (0, 0, 60, 70)  # clipped
    assert from_folders.SSDRecropper(FakeFinder([((-5, 0, 75, 95), 0.99)]))(image) is None  # most of it: already a crop
    assert from_folders.SSDRecropper(FakeFinder([((-40, -40, -5, -5), 0.9)]))(image) is None  # in the border
    assert from_folders.SSDRecropper(FakeFinder([((20, 20, 60, 70), 0.4)]))(image) is None  # not confident enough
    assert from_folders.SSDRecropper(FakeFinder([]))(image) is None


# --------------------------------------------------------------------------------------------- importers


def test_import_voc_counts_aliases_duplicates_and_skips(shared: Path, capsys):
    report = Report()
    voc = shared / "face-mask-voc"
    crops = list(from_voc.import_voc(voc / "images", voc / "annotations", report=report))
    got = sorted((c.source_image, c.name, c.label) for c in crops)
    assert got == [
        ("face-mask-voc/images/scene_a.jpg", "face-mask-voc_scene_a_0", "with_mask"),
        ("face-mask-voc/images/scene_a.jpg", "face-mask-voc_scene_a_1", "incorrect_mask"),
        ("face-mask-voc/images/scene_e.png", "face-mask-voc_scene_e_0", "incorrect_mask"),
        ("face-mask-voc/images/scene_e.png", "face-mask-voc_scene_e_1", "without_mask"),
    ]
    assert report.duplicates == {"face-mask-voc": 2}
    assert report.too_small == {"face-mask-voc": 2}  # the 20 px face of scene_a and of its copy
    assert report.unknown_labels == {"face": 2}
    assert [Path(p).name for p in report.unreadable] == ["scene_c.jpg"]
    assert [Path(p).name for p in report.bad_xml] == ["scene_d.xml"]
    for crop in crops:
        assert crop.pixels.dtype == np.uint8 and crop.pixels.ndim == 3
        x1, y1, x2, y2 = crop.box
        assert crop.pixels.shape[:2] == (y2 - y1, x2 - x1)
    # The face reaching beyond scene_e (200x160) is clamped to it (the SSD-like box stops above the chin).
    x1, y1, x2, y2 = next(c.box for c in crops if c.name.endswith("scene_e_1"))
    assert x2 == 200 and y2 <= 160
    err = capsys.readouterr().err
    for bad in ("scene_c.jpg", "scene_d.xml"):
        assert err.count(bad) == 1
    assert len(report.warnings) == 2 == err.count("warning:")


def test_import_voc_skips_image_whose_size_disagrees(shared: Path):
    voc = shared / "face-mask-voc"
    voc_xml(voc / "annotations" / "scene_a.xml", "scene_a.jpg", (600, 400), [("with_mask", (10, 10, 70, 80))])
    report = Report()
    crops = list(from_voc.import_voc(voc / "images", voc / "annotations", report=report))
    assert not any(c.name.startswith("face-mask-voc_scene_a") for c in crops)
    assert sum("scene_a.jpg" in w and "600x400" in w for w in report.warnings) == 1


def test_import_folders_recrops_dedups_and_skips(shared: Path, capsys):
    report = Report()
    mapping = {
        shared / "mask-nomask-real" / "with_mask": "with_mask",
        shared / "mask-nomask-real" / "without_mask": "without_mask",
        shared / "maskedfacenet" / "correct": "correct",  # an alias
        shared / "maskedfacenet" / "incorrect": "incorrect",
    }
    crops = list(from_folders.import_folders(mapping, recrop=stub_recrop, report=report))
    assert sorted((c.name, c.label, c.synthetic) for c in crops) == [
        ("mask-nomask-real_m0_0", "with_mask", False),
        ("mask-nomask-real_n0_0", "without_mask", False),
        ("mask-nomask-real_n1_0", "without_mask", False),
        ("maskedfacenet_00001_Mask_0", "with_mask", True),
        ("maskedfacenet_00002_Mask_Chin_0", "incorrect_mask", True),
    ]
    by_name = {c.name: c for c in crops}
    assert by_name["maskedfacenet_00002_Mask_Chin_0"].box == (64, 48, 192, 208)
    assert by_name["maskedfacenet_00002_Mask_Chin_0"].pixels.shape == (160, 128, 3)
    assert by_name["mask-nomask-real_n0_0"].box is None
    assert report.recropped == {"maskedfacenet/correct": 1, "maskedfacenet/incorrect": 1}
    assert report.folder_images["mask-nomask-real/with_mask"] == 4
    assert report.duplicates == {"mask-nomask-real": 1}
    assert report.too_small == {"mask-nomask-real": 1}
    assert capsys.readouterr().err.count("broken.jpg") == 1
    with pytest.raises(ValueError, match="none of the classes"):
        list(from_folders.import_folders({shared / "maskedfacenet" / "correct": "cat"}))


def test_duplicates_are_found_across_sources(shared: Path):
    shutil.copy(shared / "maskedfacenet" / "correct" / "00001_Mask.jpg",
                shared / "mask-nomask-real" / "with_mask" / "zz.jpg")
    report = Report()
    mapping = {shared / "maskedfacenet" / "correct": "with_mask", shared / "mask-nomask-real" / "with_mask":
               "without_mask"}
    names = [c.name for c in from_folders.import_folders(mapping, report=report)]
    assert "mask-nomask-real_zz_0" not in names
    assert report.label_conflicts == 1


# -------------------------------------------------------------------------------------------------- CLI


OLD_SOURCES = ["--sources", "face-mask-voc", "ilc2021-train", "mask-nomask-real", "maskedfacenet"]


def run_cli(shared: Path, out: Path, *extra: str, monkeypatch=None) -> int:
    """The dataset tool on the miniature, with the sources it holds and faces of 32 px or more."""
    if monkeypatch is not None:
        monkeypatch.setattr(cli, "SSDRecropper", lambda: stub_recrop)
    defaults = [*([] if "--sources" in extra else OLD_SOURCES),
                *([] if "--min-size" in extra else ["--min-size", "32"])]
    return cli.main(["--shared", str(shared), "--out", str(out), "--val", "0.3", "--test", "0.3", *defaults, *extra])


def test_cli_writes_crops_and_manifest(shared: Path, tmp_path: Path, capsys, monkeypatch):
    out = tmp_path / "dataset"
    assert run_cli(shared, out, monkeypatch=monkeypatch) == 0
    captured = capsys.readouterr()
    rows = read_rows(out)
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 9 and len({r["file"] for r in rows}) == 9
    counts = {c: sum(r["class"] == c for r in rows) for c in CLASSES}
    assert counts == {"with_mask": 3, "without_mask": 3, "incorrect_mask": 3}
    for row in rows:
        path = out / row["file"]
        assert path.parent.name == row["class"] and path.suffix == ".jpg"
        image = cv2.imread(str(path))
        assert image is not None and max(image.shape[:2]) <= MAX_SIDE
        assert row["split"] in SPLITS
        assert (shared / row["source_image"]).is_file()
        assert row["synthetic"] == ("1" if row["source"] == "maskedfacenet" else "0")
        assert row["box"] == "" or len(row["box"].split()) == 4
    row = next(r for r in rows if r["file"] == "incorrect_mask/face-mask-voc_scene_a_1.jpg")
    assert row["source_image"] == "face-mask-voc/images/scene_a.jpg" and row["source"] == "face-mask-voc"
    x1, y1, x2, y2 = map(int, row["box"].split())
    ssd = framing.expand_to_detector_box((100, 20, 160, 90), 300, 200)
    assert ((x1, y1, x2, y2) == ssd) == (row["split"] != "train")  # training faces are framed at random
    big = next(r for r in rows if r["file"] == "without_mask/mask-nomask-real_n0_0.jpg")
    assert cv2.imread(str(out / big["file"])).shape == (171, 256, 3)  # 600x400 shrunk
    assert next(r for r in rows if r["source"] == "maskedfacenet")["box"] == "64 48 192 208"
    for bad in ("scene_c.jpg", "scene_d.xml", "broken.jpg"):
        assert captured.err.count(bad) == 1
    assert "crops per source and class" in captured.out and "crops per split and class" in captured.out
    assert "recropped by the SSD: maskedfacenet/incorrect: 1 of 1 images" in captured.out
    assert "exact duplicates dropped: 3" in captured.out
    assert not list(out.glob(".*tmp*"))


def test_splits_never_share_a_source_image(shared: Path, tmp_path: Path, monkeypatch):
    img, ann = shared / "ilc2021-train" / "images", shared / "ilc2021-train" / "annotations"
    faces = [("with_mask", (10, 10, 60, 60)), ("without_mask", (80, 10, 130, 60)),
             ("mask_weared_incorrect", (10, 80, 60, 130))]
    for i in range(30):
        noise_image(img / f"crowd{i}.jpg", 160, 160, 100 + i)
        voc_xml(ann / f"crowd{i}.xml", f"crowd{i}.jpg", (160, 160), faces)
    out = tmp_path / "dataset"
    assert run_cli(shared, out, monkeypatch=monkeypatch) == 0
    rows = read_rows(out)
    split_of: dict[str, set[str]] = {}
    for row in rows:
        split_of.setdefault(row["source_image"], set()).add(row["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert len({r["split"] for r in rows}) >= 2
    again = tmp_path / "again"
    assert run_cli(shared, again, monkeypatch=monkeypatch) == 0
    assert read_rows(again) == rows  # deterministic, names and splits alike


def test_rerun_removes_only_its_own_stale_crops(shared: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "dataset"
    assert run_cli(shared, out, monkeypatch=monkeypatch) == 0
    mine = out / "with_mask" / "by_hand.jpg"
    noise_image(mine, 50, 50, 99)
    assert run_cli(shared, out, "--sources", "face-mask-voc", monkeypatch=monkeypatch) == 0
    rows = read_rows(out)
    assert {r["source"] for r in rows} == {"face-mask-voc"}
    on_disk = {p.relative_to(out).as_posix() for p in out.glob("*/*.jpg")}
    assert on_disk == {r["file"] for r in rows} | {"with_mask/by_hand.jpg"}


def test_label_fixes_apply_only_while_the_dataset_label_is_the_one_checked(tmp_path: Path):
    path = tmp_path / "fixes.csv"
    path.write_text("face,was,class,why\n"
                    "voc_a_0,with_mask,incorrect_mask,mask under the nose\n"
                    "voc_a_1,without_mask,mask_weared_incorrect,mask on the chin\n", encoding="utf-8")
    fixes = read_label_fixes(path)
    assert fixes == {"voc_a_0": ("with_mask", "incorrect_mask"), "voc_a_1": ("without_mask", "incorrect_mask")}
    assert fixed_label(fixes, "voc_a_0", "with_mask") == "incorrect_mask"
    assert fixed_label(fixes, "voc_a_0", "without_mask") == "without_mask"  # the dataset changed: left alone
    assert fixed_label(fixes, "voc_b_0", "with_mask") == "with_mask"
    path.write_text("face,was,class\nvoc_a_0,with_mask,masked\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=":2:"):
        read_label_fixes(path)
    with pytest.raises(DatasetError, match="cannot read"):
        read_label_fixes(tmp_path / "missing.csv")


def test_shipped_label_fixes_are_valid_and_each_changes_a_class():
    fixes = read_label_fixes()
    assert len(fixes) > 0
    assert all(was != ours for was, ours in fixes.values())
    with open(LABEL_FIXES, newline="", encoding="utf-8") as f:
        names = [row["face"] for row in csv.DictReader(f)]
    assert len(names) == len(set(names))


SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.mark.skipif(not (SHARED_DATASETS / "face-mask-voc-hires").is_dir(), reason="needs ../shared/datasets")
def test_every_face_mask_voc_fix_holds_for_its_high_resolution_copy():
    """face-mask-voc-hires replaces face-mask-voc in the dataset: a fix keyed on a low-resolution face must
    have its twin (the same photo, by NEAR_DUPLICATES.tsv, the same object index) or it is silently lost."""
    twins = {Path(row["matches"]).stem: Path(row["new_file"]).stem
             for row in read_tsv(SHARED_DATASETS / "face-mask-voc-hires" / "NEAR_DUPLICATES.tsv")
             if row["matches"].startswith("shared/datasets/face-mask-voc/")}
    fixes = read_label_fixes()
    lowres = [name for name in fixes if name.startswith("face-mask-voc_")]
    assert lowres
    for name in lowres:
        stem, index = name.removeprefix("face-mask-voc_").rsplit("_", 1)
        assert fixes.get(f"face-mask-voc-hires_{twins[stem]}_{index}") == fixes[name], name


def test_cli_applies_label_fixes_unless_told_not_to(shared: Path, tmp_path: Path, capsys, monkeypatch):
    fixes = {"face-mask-voc_scene_a_0": ("with_mask", "incorrect_mask"),
             "face-mask-voc_scene_a_1": ("with_mask", "without_mask")}  # scene_a_1 is incorrect_mask: not applied
    monkeypatch.setattr(cli, "read_label_fixes", lambda: fixes)
    out = tmp_path / "dataset"
    assert run_cli(shared, out, monkeypatch=monkeypatch) == 0
    rows = {r["file"]: r for r in read_rows(out)}
    assert rows["incorrect_mask/face-mask-voc_scene_a_0.jpg"]["class"] == "incorrect_mask"
    assert "incorrect_mask/face-mask-voc_scene_a_1.jpg" in rows
    assert not (out / "with_mask" / "face-mask-voc_scene_a_0.jpg").exists()
    assert "labels fixed (facemask/tools/label_fixes.csv): 1 {'face-mask-voc: with_mask -> incorrect_mask': 1}" \
        in capsys.readouterr().out
    assert run_cli(shared, out, "--original-labels", monkeypatch=monkeypatch) == 0
    rows = {r["file"]: r for r in read_rows(out)}
    assert rows["with_mask/face-mask-voc_scene_a_0.jpg"]["class"] == "with_mask"
    assert not (out / "incorrect_mask" / "face-mask-voc_scene_a_0.jpg").exists()


def test_cli_damaged_label_fixes_exit_1_and_write_nothing(shared: Path, tmp_path: Path, capsys, monkeypatch):
    bad = tmp_path / "fixes.csv"
    bad.write_text("face,was\nx,with_mask\n", encoding="utf-8")
    monkeypatch.setattr(cli, "read_label_fixes", lambda: read_label_fixes(bad))
    out = tmp_path / "dataset"
    assert run_cli(shared, out, monkeypatch=monkeypatch) == 1
    assert "error: " in capsys.readouterr().err and not (out / MANIFEST).exists()


def test_cli_missing_shared_folder_exits_2(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--shared", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "shared datasets folder not found" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--val", "0.6", "--test", "0.5"], ["--min-size", "0"],
                                  ["--sources", "face-mask-voc", "mask-nomask-real"],
                                  ["--sources", "face-mask-voc", "face-mask-voc-hires"],
                                  ["--sources", "face-mask-voc", "--train-margin", "-0.1"],
                                  ["--sources", "face-mask-voc", "--train-margin", "1.5"]])
def test_cli_rejects_bad_arguments(tmp_path: Path, args: list[str]):
    (tmp_path / "shared" / "face-mask-voc").mkdir(parents=True)
    with pytest.raises(SystemExit) as e:
        cli.main(["--shared", str(tmp_path / "shared"), *args])
    assert e.value.code == 2


# ------------------------------------------------------------------ framing, photos, near-duplicates


def test_random_framing_runs_from_tighter_than_the_box_to_the_training_margin():
    rng = np.random.default_rng(0)
    box = (100, 100, 200, 300)  # 100 x 200
    framed = np.array([framing.random_framing(box, rng) for _ in range(2000)])
    left, top = 100 - framed[:, 0], 100 - framed[:, 1]  # margins, in pixels
    right, bottom = framed[:, 2] - 200, framed[:, 3] - 300
    slack = framing.TRAIN_SHIFT
    for margin, size in ((left, 100), (right, 100), (top, 200), (bottom, 200)):
        assert margin.min() >= (framing.TRAIN_MARGIN[0] - slack) * size - 1e-9
        assert margin.max() <= (framing.TRAIN_MARGIN[1] + slack) * size + 1e-9
        assert margin.min() < 0 < margin.max()  # tighter and looser framings both occur
        assert margin.max() > 0.2 * size


def test_training_faces_are_framed_at_random_and_the_others_as_the_ssd_frames(shared, tmp_path, monkeypatch):
    img, ann = shared / "ilc2021-train" / "images", shared / "ilc2021-train" / "annotations"
    gt = (40, 40, 100, 110)
    for i in range(20):
        noise_image(img / f"p{i}.jpg", 200, 200, 300 + i)
        voc_xml(ann / f"p{i}.xml", f"p{i}.jpg", (200, 200), [("with_mask", gt)])
    assert run_cli(shared, tmp_path / "out", "--sources", "ilc2021-train", monkeypatch=monkeypatch) == 0
    rows = read_rows(tmp_path / "out")
    ssd = " ".join(map(str, framing.expand_to_detector_box(gt, 200, 200)))
    train = [r for r in rows if r["split"] == "train"]
    assert train and all(r["box"] != ssd for r in rows if r["split"] == "train")
    assert len({r["box"] for r in train}) == len(train)  # each face its own framing
    assert all(r["box"] == ssd for r in rows if r["split"] != "train")
    for row in train:  # the crop on disk is the recorded box
        x1, y1, x2, y2 = map(int, row["box"].split())
        assert cv2.imread(str(tmp_path / "out" / row["file"])).shape[:2] == (y2 - y1, x2 - x1)


def test_train_margin_sets_how_loose_training_faces_may_be(shared, tmp_path, monkeypatch):
    img, ann = shared / "ilc2021-train" / "images", shared / "ilc2021-train" / "annotations"
    gt = (100, 100, 160, 170)  # 60 x 70, far from the border
    for i in range(30):
        noise_image(img / f"p{i}.jpg", 360, 360, 300 + i)
        voc_xml(ann / f"p{i}.xml", f"p{i}.jpg", (360, 360), [("with_mask", gt)])

    def widest_margin(margin: str) -> float:
        out = tmp_path / margin
        args = ["--sources", "ilc2021-train", "--train-margin", margin]
        assert run_cli(shared, out, *args, monkeypatch=monkeypatch) == 0
        boxes = [list(map(int, r["box"].split())) for r in read_rows(out) if r["split"] == "train"]
        return max(max(gt[0] - b[0], b[2] - gt[2]) / 60 for b in boxes)

    slack = framing.TRAIN_SHIFT + 0.02
    assert 0.2 < widest_margin("0.25") <= 0.25 + slack
    assert 0.3 + slack < widest_margin("0.5") <= 0.5 + slack


def test_web_portraits_split_by_shoot_into_train_and_validation_only(tmp_path: Path, monkeypatch):
    shared = tmp_path / "shared"
    rows_tsv = ["# groups", "folder\timage\tgroup\tgroup_size"]
    for source, label in (("karysutariya-incorrect", "Mask worn incorrectly"),
                          ("youyinnn-incorrect", "mask_worn_incorrectly")):
        for i in range(24):
            name = f"{source[:4]}_{i}.jpg"
            noise_image(shared / source / "images" / name, 120, 120, 500 + i + 100 * len(source))
            xml = shared / source / "annotations" / f"{name[:-4]}.xml"
            voc_xml(xml, name, (120, 120), [(label, (30, 20, 90, 110))])
            rows_tsv.append(f"{source}\timages/{name}\tg{i // 3}\t3")  # 8 shoots of 3 photos in each source
    (shared / "WEB_INCORRECT_GROUPS.tsv").write_text("\n".join(rows_tsv) + "\n")
    out = tmp_path / "out"
    assert run_cli(shared, out, "--sources", "karysutariya-incorrect", "youyinnn-incorrect",
                   monkeypatch=monkeypatch) == 0
    rows = read_rows(out)
    assert len(rows) == 48 and {r["class"] for r in rows} == {"incorrect_mask"}
    assert {r["split"] for r in rows} == {"train", "val"}  # never test
    split_of: dict[str, set[str]] = {}
    for row in rows:
        group = Path(row["source_image"]).stem.split("_")[1]
        split_of.setdefault(str(int(group) // 3), set()).add(row["split"])
    assert all(len(s) == 1 for s in split_of.values())  # a shoot's photos share a split


class StubFinder:
    """Two faces in every photo: a small sure one and a larger one."""

    def find(self, image):
        return [((10, 10, 30, 30), 0.99), ((40, 40, 100, 110), 0.9), ((0, 0, 90, 90), 0.5)]


def test_photo_sources_keep_the_largest_sure_face(tmp_path: Path, capsys):
    folder = tmp_path / "shared" / "seed-kaggle-incorrect" / "incorrect_mask"
    noise_image(folder / "a.jpg", 160, 160, 1)
    noise_image(folder / "incorrect-mask-29.jpg", 160, 160, 2)  # left out by eye
    (folder / "b.jpg").write_bytes(b"broken")
    report = Report()
    crops = list(from_photos.import_photos({folder: "incorrect_mask"}, root=tmp_path / "shared", min_size=10,
                                  finder=StubFinder(), report=report))
    assert [(c.name, c.box, c.label, c.pixels.shape[:2]) for c in crops] == [
        ("seed-kaggle-incorrect_a_0", (40, 40, 100, 110), "incorrect_mask", (70, 60))]
    assert crops[0].source_image == "seed-kaggle-incorrect/incorrect_mask/a.jpg"
    assert report.unreadable == [str(folder / "b.jpg")]
    too_small = list(from_photos.import_photos({folder: "incorrect_mask"}, root=tmp_path / "shared", min_size=80,
                                      finder=StubFinder(), report=Report()))
    assert too_small == []


def test_near_duplicates_share_the_split_of_the_group_s_first_photo(tmp_path: Path):
    shared = tmp_path / "shared"
    old = noise_image(shared / "face-mask-voc" / "images" / "a.jpg", 50, 50, 1)
    noise_image(shared / "face-mask-voc-hires" / "images" / "1.jpg", 150, 150, 2)
    noise_image(shared / "seed-kaggle-incorrect" / "incorrect_mask" / "x.jpg", 80, 80, 3)
    noise_image(shared / "seed-kaggle-incorrect" / "incorrect_mask" / "y.jpg", 80, 80, 4)
    header = "# comment\nnew_file\tmatches\tdhash\tdhash_mirrored\tahash\tverdict\n"
    (shared / "face-mask-voc-hires" / "NEAR_DUPLICATES.tsv").write_text(
        header + "images/1.jpg\tshared/datasets/face-mask-voc/images/a.jpg\t1\t29\t1\tlikely\n")
    (shared / "seed-kaggle-incorrect" / "NEAR_DUPLICATES.tsv").write_text(
        header + "incorrect_mask/x.jpg\tshared/datasets/face-mask-voc-hires/images/1.jpg\t0\t30\t0\tlikely\n"
        "incorrect_mask/y.jpg\tINTERNAL:incorrect_mask/x.jpg\t0\t30\t0\tlikely\n")
    keys = near_duplicate_keys(shared)
    first = hashlib.sha1(old.read_bytes()).hexdigest()
    assert keys == {name: first for name in ("face-mask-voc/images/a.jpg", "face-mask-voc-hires/images/1.jpg",
                                             "seed-kaggle-incorrect/incorrect_mask/x.jpg",
                                             "seed-kaggle-incorrect/incorrect_mask/y.jpg")}


def test_a_missing_face_detector_is_one_error_line_and_exit_1(shared: Path, tmp_path: Path, capsys, monkeypatch):
    from facemask.faces import FaceDetectorError

    def missing(image):
        raise FaceDetectorError("res10 SSD face detector not found")

    monkeypatch.setattr(cli, "SSDRecropper", lambda: missing)
    assert run_cli(shared, tmp_path / "out") == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert err == ["error: res10 SSD face detector not found"]


@pytest.mark.parametrize("kind", ["brand", "credit", "pattern"])
def test_watermarks_are_light_partial_and_repeatable(kind):
    from facemask.tools.watermark import paste_watermark

    face = np.full((180, 150, 3), 60, np.uint8)
    marked = paste_watermark(face, np.random.default_rng(3), kind)
    assert marked.shape == face.shape and marked.dtype == np.uint8
    touched = (marked.astype(int) - face).max(axis=2) > 10
    assert 0.005 < touched.mean() < 0.6  # text over part of the face, not a veil over all of it
    assert (marked >= face).all()  # lighter only: white or light grey
    assert np.array_equal(marked, paste_watermark(face, np.random.default_rng(3), kind))


def test_watermarks_go_on_training_crops_of_every_class_only(shared, tmp_path, monkeypatch):
    img, ann = shared / "ilc2021-train" / "images", shared / "ilc2021-train" / "annotations"
    faces = [("with_mask", (10, 10, 70, 80)), ("without_mask", (90, 10, 150, 80)),
             ("mask_weared_incorrect", (10, 90, 70, 160))]
    for i in range(12):
        noise_image(img / f"w{i}.jpg", 160, 170, 700 + i)
        voc_xml(ann / f"w{i}.xml", f"w{i}.jpg", (160, 170), faces)
    built = {}
    for share in ("0", "1"):
        out = tmp_path / share
        assert run_cli(shared, out, "--sources", "ilc2021-train", "--watermarks", share, monkeypatch=monkeypatch) == 0
        built[share] = {r["file"]: (r["split"], cv2.imread(str(out / r["file"]))) for r in read_rows(out)}
    assert built["0"].keys() == built["1"].keys()
    changed = {f: not np.array_equal(built["0"][f][1], built["1"][f][1]) for f in built["0"]}
    train = [f for f, (split, _) in built["0"].items() if split == "train"]
    assert {f.split("/")[0] for f in train} == set(CLASSES) and all(changed[f] for f in train)
    assert not any(changed[f] for f, (split, _) in built["0"].items() if split != "train")
