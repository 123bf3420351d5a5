"""Mask synthesis: cfg parsing, where masks sit for each way of wearing them, and the dataset run.

Everything is built in tmp_path (tiny templates, drawn faces with known keypoints); no MTCNN, no shared data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask.tools import synthesis as S

# A 200x200 face: eye distance 60 px, nose 35 px below the eye line, mouth 60 px below it.
KEYPOINTS = {
    "left_eye": (70.0, 80.0),
    "right_eye": (130.0, 80.0),
    "nose": (100.0, 115.0),
    "mouth_left": (78.0, 140.0),
    "mouth_right": (122.0, 140.0),
}
NOSE = (100, 115)
MOUTH = (100, 140)
EYES = ((70, 80), (130, 80))

CFG = """\
[plain]
template:   masks/templates/plain.png
mask_a:     10, 10
mask_b:     60, 10
mask_c:     110, 10
mask_d:     10, 70
mask_e:     60, 70
mask_f:     110, 70

;[plain_old]
;template:   masks/plain_old.png
;mask_a:     1, 1

[plain_left]
template:   masks/templates/plain_left.png
mask_c:     110, 10
mask_b:     40, 10
mask_a:     10, 10
mask_f:     110, 70
mask_e:     40, 70
mask_d:     10, 70

[plain_right]
template: masks/templates/plain_right.png
mask_a: 10, 10
mask_b: 80, 10
mask_c: 110, 10
mask_d: 10, 70
mask_e: 80, 70
mask_f: 110, 70

[gas]
template: masks/templates/gas.png
mask_a: -5, 10
mask_b: 60, 10
mask_c: 110, 10
mask_d: 10, 70
mask_e: 60, 70
mask_f: 110, 70

[empty]
[inpaint_left]
"""


def template_image(color=(200, 120, 40)) -> np.ndarray:
    """120x80 BGRA: opaque exactly inside the anchor rectangle (10..110, 10..70), transparent outside."""
    image = np.zeros((80, 120, 4), np.uint8)
    image[10:71, 10:111, :3] = color
    image[10:71, 10:111, 3] = 255
    image[10:71:6, 10:111, :3] //= 2  # some "pleats", so there is shading to keep
    return image


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    root = tmp_path / "mask-templates"
    (root / "templates").mkdir(parents=True)
    (root / "masks.cfg").write_text(CFG)
    for name in ("plain", "plain_left", "plain_right", "gas"):
        cv2.imwrite(str(root / "templates" / f"{name}.png"), template_image())
    (root / "textures" / "check").mkdir(parents=True)
    check = np.kron(np.indices((8, 8)).sum(axis=0) % 2, np.ones((8, 8)))[:, :, None] * np.array([40, 60, 220])
    cv2.imwrite(str(root / "textures" / "check" / "check_1.png"), check.astype(np.uint8))
    return root


@pytest.fixture
def templates(templates_dir: Path) -> list[S.Template]:
    return S.load_templates(templates_dir)


@pytest.fixture
def textures(templates_dir: Path) -> list[np.ndarray]:
    return S.load_textures(templates_dir / "textures")


def face_image(seed: int = 0) -> np.ndarray:
    """A 200x200 drawn face whose features sit at KEYPOINTS."""
    rng = np.random.default_rng(seed)
    image = np.full((200, 200, 3), (150, 170, 200), np.uint8)
    cv2.ellipse(image, (100, 110), (70, 90), 0, 0, 360, (120, 150, 190), -1)
    for x, y in EYES:
        cv2.circle(image, (x, y), 6, (40, 40, 40), -1)
    cv2.circle(image, NOSE, 5, (90, 110, 160), -1)
    cv2.line(image, (78, 140), (122, 140), (60, 60, 150), 3)
    noise = rng.integers(-8, 9, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def cover_for(kind: str, templates, textures, seed: int, keypoints=KEYPOINTS) -> np.ndarray:
    face = face_image()
    rng = np.random.default_rng(seed)
    points = S.face_points(keypoints, face.shape)
    targets = S.mask_quad(points, kind, rng)
    template = S.choose_template(templates, points.yaw, rng)
    _, cover = S.paste_mask_alpha(face, template, targets, rng, textures)
    return cover


def top_edge(cover: np.ndarray, x: int = 100) -> int:
    """Topmost row where the mask covers more than half of the face's centre column (x +- 2)."""
    rows = np.nonzero((cover[:, x - 2:x + 3] > 0.5).any(axis=1))[0]
    assert rows.size, "no mask pasted"
    return int(rows[0])


# ---------------------------------------------------------------------------------------------- templates


def test_parse_cfg_skips_comments_and_sections_without_template():
    entries = S.parse_masks_cfg(CFG)
    assert set(entries) == {"plain", "plain_left", "plain_right", "gas"}
    # Keys in any order end up as a..f; negative coordinates parse.
    np.testing.assert_array_equal(entries["plain_left"]["anchors"][:3], [[10, 10], [40, 10], [110, 10]])
    assert entries["gas"]["anchors"][0, 0] == -5
    assert entries["plain"]["template"] == "masks/templates/plain.png"


def test_load_templates_maps_cfg_paths_and_skips_gas(templates_dir: Path):
    templates = S.load_templates(templates_dir)
    assert sorted(t.name for t in templates) == ["plain", "plain_left", "plain_right"]
    views = {t.name: (t.family, t.view) for t in templates}
    assert views == {"plain": ("plain", "front"), "plain_left": ("plain", "left"), "plain_right": ("plain", "right")}
    assert all(t.image.shape == (80, 120, 4) and t.anchors.shape == (6, 2) for t in templates)
    with_gas = S.load_templates(templates_dir, exclude=())
    assert "gas" in {t.name for t in with_gas}


def test_load_templates_scales_anchors_with_the_image(templates_dir: Path):
    small = {t.name: t for t in S.load_templates(templates_dir, max_side=60)}["plain"]
    assert small.image.shape[:2] == (40, 60)
    np.testing.assert_allclose(small.anchors[2], [55, 5])


def test_load_textures(textures):
    assert len(textures) == 1 and textures[0].shape == (64, 64, 3) and textures[0].dtype == np.uint8


# ---------------------------------------------------------------------------------------------- geometry


def test_face_points_frame_and_estimates():
    points = S.face_points(KEYPOINTS, (200, 200, 3))
    assert points.eye_dist == pytest.approx(60)
    assert points.roll == pytest.approx(0)
    assert points.yaw == pytest.approx(0)
    np.testing.assert_allclose(points.to_image(points.nose), NOSE)
    assert 0 < points.bridge[1] < points.nose[1]  # bridge between the eyes and the nose tip
    assert points.chin[1] > points.mouth[1] + 20  # chin below the mouth
    # Face sides well outside the eyes (at +-30 px), narrowing towards the chin.
    assert points.left_at(0.0) < -55 and points.right_at(0.0) > 55
    assert points.left_at(points.chin[1]) > points.left_at(points.mouth[1]) > points.left_at(points.nose[1])


def test_face_points_roll():
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = {k: tuple(rot @ (np.array(v) - 100) + 100) for k, v in KEYPOINTS.items()}
    points = S.face_points(rolled, (120, 200, 3))
    assert points.roll == pytest.approx(30)


def test_face_points_rejects_impossible_faces():
    upside_down = dict(KEYPOINTS, nose=(100.0, 60.0))
    with pytest.raises(ValueError):
        S.face_points(upside_down, (200, 200, 3))


def test_mask_quad_unknown_kind():
    points = S.face_points(KEYPOINTS, (200, 200, 3))
    with pytest.raises(ValueError):
        S.mask_quad(points, "forehead", np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(8))
def test_correct_mask_covers_nose_and_mouth(templates, textures, seed):
    cover = cover_for("correct", templates, textures, seed)
    assert top_edge(cover) < NOSE[1]
    assert cover[MOUTH[1], MOUTH[0]] > 0.5 and cover[NOSE[1], NOSE[0]] > 0.5
    assert all(cover[y, x] < 0.5 for x, y in EYES)


@pytest.mark.parametrize("seed", range(8))
def test_nose_out_mask_leaves_the_nose_free(templates, textures, seed):
    cover = cover_for("nose_out", templates, textures, seed)
    assert NOSE[1] < top_edge(cover) < MOUTH[1]
    assert cover[MOUTH[1], MOUTH[0]] > 0.5
    assert cover[NOSE[1], NOSE[0]] < 0.5


@pytest.mark.parametrize("seed", range(8))
def test_chin_mask_sits_below_the_mouth(templates, textures, seed):
    cover = cover_for("chin", templates, textures, seed)
    assert top_edge(cover) > MOUTH[1]
    assert cover[MOUTH[1], MOUTH[0]] < 0.5


def test_placement_follows_a_rolled_face(templates, textures):
    """The rules hold in the face's own frame: a mask on a face tilted by 30 degrees tilts with it."""
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def turn(p):
        return tuple(rot @ (np.array(p, float) - 100) + 100)

    rolled = {k: turn(v) for k, v in KEYPOINTS.items()}
    nose = tuple(round(c) for c in turn(NOSE))
    mouth = tuple(round(c) for c in turn(MOUTH))
    for seed in range(4):
        correct = cover_for("correct", templates, textures, seed, rolled)
        chin = cover_for("chin", templates, textures, seed, rolled)
        assert correct[nose[1], nose[0]] > 0.5 and correct[mouth[1], mouth[0]] > 0.5
        assert chin[nose[1], nose[0]] < 0.5 and chin[mouth[1], mouth[0]] < 0.5


def test_turned_face_gets_a_side_template(templates):
    turned = dict(KEYPOINTS, nose=(118.0, 115.0))  # nose 0.3 eye distances to the image right
    points = S.face_points(turned, (200, 200, 3))
    assert points.yaw > S.YAW_SIDE
    rng = np.random.default_rng(0)
    assert {S.choose_template(templates, points.yaw, rng).view for _ in range(10)} == {"right"}
    assert {S.choose_template(templates, -points.yaw, rng).view for _ in range(10)} == {"left"}
    assert {S.choose_template(templates, 0.0, rng).view for _ in range(10)} == {"front"}


def test_warp_fits_every_anchor(templates):
    """Two half homographies put all six anchors exactly on their targets (one homography could not)."""
    template = templates[0]
    targets = np.float32([[40, 90], [100, 80], [160, 95], [50, 150], [100, 185], [150, 150]])
    bgr = np.ones((80, 120, 3), np.float32)
    bgr[:, :60] = 0.2  # dark left of the b-e line, bright right of it
    _, alpha = S.warp_template(bgr, template.image[:, :, 3] / 255.0, template.anchors, targets, (200, 200))
    assert alpha[82:88, 98:102].min() > 0.5 and alpha[70:77, 98:102].max() < 0.5  # top edge at b, y=80
    assert alpha[178:183, 98:102].min() > 0.5 and alpha[190:195, 98:102].max() < 0.5  # bottom edge at e, y=185
    assert alpha[120, 60] > 0.5 and alpha[120, 30] < 0.5  # between a and d


def test_warp_survives_a_folded_outline(templates):
    template = templates[0]
    folded = np.float32([[160, 90], [100, 80], [40, 95], [150, 150], [100, 185], [50, 150]])  # mirrored
    colour, alpha = S.warp_template(template.image[:, :, :3] / 255.0, template.image[:, :, 3] / 255.0,
                                    template.anchors, folded, (200, 200))
    assert colour.shape == (200, 200, 3) and alpha.shape == (200, 200)
    assert np.isfinite(colour).all() and np.isfinite(alpha).all()


def test_visible_fraction():
    inside = np.float32([[10, 10], [50, 5], [90, 10], [10, 60], [50, 70], [90, 60]])
    assert S.visible_fraction(inside, (100, 100)) == pytest.approx(1.0)
    assert S.visible_fraction(inside + np.float32([0, 70]), (100, 100)) < 0.5


# -------------------------------------------------------------------------------------------- appearance


@pytest.mark.parametrize("kind", S.KINDS)
def test_synthesize_keeps_shape_and_dtype(templates, textures, kind):
    face = face_image()[:180, :170]
    out = S.synthesize(face, KEYPOINTS, kind, templates, np.random.default_rng(1), textures)
    assert out.shape == face.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - face).max() > 30  # a mask was actually pasted


def test_synthesize_is_deterministic(templates, textures):
    face = face_image()
    runs = [S.synthesize(face, KEYPOINTS, "nose_out", templates, np.random.default_rng(7), textures)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    other = S.synthesize(face, KEYPOINTS, "nose_out", templates, np.random.default_rng(8), textures)
    assert not np.array_equal(runs[0], other)


def test_paste_mask_does_not_touch_the_input(templates):
    face = face_image()
    before = face.copy()
    targets = S.mask_quad(S.face_points(KEYPOINTS, face.shape), "correct", np.random.default_rng(0))
    S.paste_mask(face, templates[0], targets, np.random.default_rng(0))
    np.testing.assert_array_equal(face, before)


def test_restyle_varies_colour_and_keeps_alpha(templates, textures):
    colours = set()
    for seed in range(20):
        bgr, alpha = S.restyle(templates[0], np.random.default_rng(seed), textures)
        np.testing.assert_allclose(alpha, templates[0].image[:, :, 3] / 255)
        colours.add(tuple(np.round(bgr[40, 30] * 4)))
    assert len(colours) > 5  # not one mask colour for all


def test_blur_sigma_is_larger_for_blurred_photos():
    face = face_image()
    assert S.blur_sigma(cv2.GaussianBlur(face, (0, 0), 2)) > S.blur_sigma(face)


# -------------------------------------------------------------------------------------------- dataset run

MANIFEST_COLUMNS = ["file", "class", "split", "source", "source_image", "box", "synthetic"]


def make_dataset(root: Path, manifest: bool = True) -> Path:
    """Four real without_mask faces (two train, one val, one test), a real with_mask crop, a maskedfacenet row."""
    dataset = root / "dataset"
    for folder in ("without_mask", "with_mask", "incorrect_mask"):
        (dataset / folder).mkdir(parents=True)
    splits = {"a": "train", "b": "train", "c": "val", "d": "test"}
    rows = []
    for i, (stem, split) in enumerate(splits.items()):
        cv2.imwrite(str(dataset / "without_mask" / f"{stem}.jpg"), face_image(i))
        rows.append({"file": f"without_mask/{stem}.jpg", "class": "without_mask", "split": split, "source": "real",
                     "source_image": f"real/{stem}.jpg", "box": "0 0 200 200", "synthetic": "0"})
    cv2.imwrite(str(dataset / "with_mask" / "m.jpg"), face_image(9))
    rows.append({"file": "with_mask/m.jpg", "class": "with_mask", "split": "train", "source": "real",
                 "source_image": "real/m.jpg", "box": "0 0 200 200", "synthetic": "0"})
    cv2.imwrite(str(dataset / "incorrect_mask" / "mfn.jpg"), face_image(8))
    rows.append({"file": "incorrect_mask/mfn.jpg", "class": "incorrect_mask", "split": "val",
                 "source": "maskedfacenet", "source_image": "mfn.jpg", "box": "0 0 200 200", "synthetic": "1"})
    if manifest:
        with open(dataset / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return dataset


def read_rows(dataset: Path) -> list[dict[str, str]]:
    with open(dataset / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


class FakeLandmarks:
    """Known keypoints for every face, except the stems listed as faceless; counts its calls."""

    def __init__(self, faceless: tuple[str, ...] = ()):
        self.calls = 0
        self.faceless = faceless

    def __call__(self, image: np.ndarray):
        self.calls += 1
        if image.shape != (200, 200, 3):
            raise AssertionError("landmarks get the crop as it is")
        return None if self.calls in self.faceless else dict(KEYPOINTS)


def run(dataset: Path, templates_dir: Path, landmarks=None, **kwargs) -> dict[str, int]:
    return S.synthesize_dataset(dataset, templates_dir, landmarks=landmarks or FakeLandmarks(), progress=False,
                                **kwargs)


def synth_files(dataset: Path) -> list[str]:
    return sorted(p.relative_to(dataset).as_posix() for p in dataset.glob("*/synth_*.jpg"))


def test_dataset_run_appends_train_rows_from_train_faces_only(tmp_path: Path, templates_dir: Path):
    dataset = make_dataset(tmp_path)
    counts = run(dataset, templates_dir)
    rows = read_rows(dataset)
    synthetic = [r for r in rows if r["source"] == "synthetic"]
    assert counts["faces"] == 2 and counts["rows"] == len(synthetic) == 6
    assert all(r["split"] == "train" and r["synthetic"] == "1" for r in synthetic)
    assert {r["source_image"] for r in synthetic} == {"without_mask/a.jpg", "without_mask/b.jpg"}
    assert sorted(r["file"] for r in synthetic) == synth_files(dataset) == [
        "incorrect_mask/synth_a_chin_0.jpg", "incorrect_mask/synth_a_nose_out_0.jpg",
        "incorrect_mask/synth_b_chin_0.jpg", "incorrect_mask/synth_b_nose_out_0.jpg",
        "with_mask/synth_a_0.jpg", "with_mask/synth_b_0.jpg",
    ]
    classes = {r["file"]: r["class"] for r in synthetic}
    assert classes["with_mask/synth_a_0.jpg"] == "with_mask"
    assert classes["incorrect_mask/synth_a_chin_0.jpg"] == "incorrect_mask"
    # Real rows, and other sources' synthetic rows, are kept as they were.
    assert [r for r in rows if r["source"] != "synthetic"] == rows[:6]
    assert len(rows) == 12
    image = cv2.imread(str(dataset / "with_mask" / "synth_a_0.jpg"))
    assert image.shape == (200, 200, 3)


def test_dataset_rerun_replaces_instead_of_duplicating(tmp_path: Path, templates_dir: Path):
    dataset = make_dataset(tmp_path)
    run(dataset, templates_dir)
    first = read_rows(dataset)
    first_image = cv2.imread(str(dataset / "with_mask" / "synth_b_0.jpg"))
    landmarks = FakeLandmarks()
    counts = run(dataset, templates_dir, landmarks)
    assert read_rows(dataset) == first
    assert len(synth_files(dataset)) == 6
    np.testing.assert_array_equal(cv2.imread(str(dataset / "with_mask" / "synth_b_0.jpg")), first_image)
    assert landmarks.calls == 0 and counts["cached"] == 2  # landmarks came from the cache

    # Fewer faces and kinds this time: what the earlier run wrote and this one did not is removed.
    counts = run(dataset, templates_dir, limit=1, kinds=("chin",), per_face=2)
    synthetic = [r for r in read_rows(dataset) if r["source"] == "synthetic"]
    assert len(synthetic) == 2 and counts["removed_old"] == 5  # synth_?_chin_0 was rewritten
    assert sorted(r["file"] for r in synthetic) == synth_files(dataset)
    assert all(r["file"].startswith("incorrect_mask/synth_") and "_chin_" in r["file"] for r in synthetic)


def test_dataset_run_counts_faces_without_landmarks(tmp_path: Path, templates_dir: Path):
    dataset = make_dataset(tmp_path)
    counts = run(dataset, templates_dir, FakeLandmarks(faceless=(1,)))
    assert counts["no_face"] == 1 and counts["faces_ok"] == 1 and counts["rows"] == 3


def test_dataset_run_without_manifest_uses_every_crop_and_creates_no_manifest(tmp_path: Path, templates_dir: Path):
    dataset = make_dataset(tmp_path, manifest=False)
    counts = run(dataset, templates_dir, kinds=("correct",))
    assert counts["faces"] == 4 and counts["correct"] == 4
    assert not (dataset / "manifest.csv").exists()


def test_dataset_run_writes_a_contact_sheet(tmp_path: Path, templates_dir: Path):
    dataset = make_dataset(tmp_path)
    sheet = tmp_path / "plots" / "sheet.png"
    run(dataset, templates_dir, sheet=sheet)
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[0] == 2 * (160 + 18) and image.shape[1] == 4 * 160


def test_contact_sheet_grid(tmp_path: Path):
    images = [("original", face_image()), face_image(1)[:100], ("chin", face_image(2))]
    path = S.contact_sheet(images, tmp_path / "sheet.png", columns=2, tile=64)
    image = cv2.imread(str(path))
    assert image.shape == (2 * (64 + 18), 2 * 64, 3)
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, no temp left behind


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_missing_folders_exit_2(tmp_path: Path, templates_dir: Path, capsys):
    assert S.main(["--dataset", str(tmp_path / "nope"), "--templates", str(templates_dir)]) == 2
    assert "--dataset" in capsys.readouterr().err
    dataset = make_dataset(tmp_path)
    assert S.main(["--dataset", str(dataset), "--templates", str(tmp_path / "nope")]) == 2
    assert "--templates" in capsys.readouterr().err
    assert S.main(["--dataset", str(dataset), "--templates", str(templates_dir), "--kinds", "forehead"]) == 2


def test_cli_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit):
        S.main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--dataset", "--templates", "--per-face", "--seed", "--limit", "--sheet", "--kinds", "--cache"):
        assert flag in text


def test_cli_runtime_error_is_one_line_and_exit_1(tmp_path: Path, templates_dir: Path, capsys, monkeypatch):
    def fails(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(S, "synthesize_dataset", fails)
    monkeypatch.setattr(S, "MtcnnLandmarks", lambda *a: None)
    dataset = make_dataset(tmp_path)
    assert S.main(["--dataset", str(dataset), "--templates", str(templates_dir)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["error: No space left on device"]
