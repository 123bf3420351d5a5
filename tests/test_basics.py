import cv2
import numpy as np
import pytest

from facemask.files import atomic_path, write_json
from facemask.images import read_image, to_bgr8
from facemask.labels import CLASSES, canonical_label


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("mask_weared_incorrect", "incorrect_mask"),
        ("with_incorrect_mask", "incorrect_mask"),
        ("Mask-Incorrect", "incorrect_mask"),
        ("incorrect_mask", "incorrect_mask"),
        ("with_mask", "with_mask"),
        ("without_mask", "without_mask"),
        ("no_mask", "without_mask"),
        ("hat", None),
    ],
)
def test_canonical_label(name, label):
    assert canonical_label(name) == label


def test_classes_order_is_fixed():
    assert CLASSES == ("with_mask", "without_mask", "incorrect_mask")


@pytest.mark.parametrize(
    "image",
    [
        np.full((5, 7), 128, np.uint8),
        np.full((5, 7, 1), 128, np.uint8),
        np.full((5, 7, 4), 128, np.uint8),
        np.full((5, 7, 3), 128 * 256, np.uint16),
        np.full((5, 7, 3), 128 / 255, np.float32),
        np.full((7, 5, 3), 128, np.uint8).transpose(1, 0, 2),
    ],
)
def test_to_bgr8_converts_every_layout(image):
    out = to_bgr8(image)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert abs(int(out[2, 3, 0]) - 128) <= 1


@pytest.mark.parametrize("image", [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros(5)])
def test_to_bgr8_rejects_non_images(image):
    assert to_bgr8(image) is None


def test_read_image_handles_bad_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    good = np.zeros((10, 12), np.uint16) + 1000
    cv2.imwrite(str(tmp_path / "deep.png"), good)
    assert read_image(tmp_path / "empty.jpg") is None
    assert read_image(tmp_path / "text.jpg") is None
    assert read_image(tmp_path / "missing.jpg") is None
    assert read_image(tmp_path / "deep.png").shape == (10, 12, 3)


def test_atomic_path_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.h5"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".h5" and tmp.parent == target.parent
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")


def test_sample_weights_balance_classes_and_give_real_photos_their_share():
    from facemask.train.model import sample_weights

    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [2] * 18)
    synthetic = np.array([False] * 15 + [False] * 2 + [True] * 18)
    w = sample_weights(labels, synthetic, real_share=0.5)
    assert w.mean() == pytest.approx(1)
    totals = [w[labels == c].sum() for c in range(3)]
    assert totals == pytest.approx([totals[0]] * 3)  # each class weighs the same
    assert w[:10] == pytest.approx(np.full(10, w[0]))  # a class with no synthetic image: all alike
    real, fake = w[15:17].sum(), w[17:].sum()
    assert real == pytest.approx(fake)  # 2 real photos weigh as much as 18 synthetic ones
    w = sample_weights(labels, synthetic, real_share=0.8)
    assert w[15:17].sum() == pytest.approx(4 * w[17:].sum())


def test_load_dataset_reads_split_and_synthetic_marks_from_the_manifest(tmp_path):
    from conftest import make_dataset

    from facemask.train.data import load_dataset

    root = make_dataset(tmp_path / "data", per_class=2)
    (root / "manifest.csv").write_text(
        "file,class,split,source,source_image,box,synthetic\n"
        "incorrect_mask/0.png,incorrect_mask,train,synthetic,x.jpg,,1\n"
        "incorrect_mask/1.png,incorrect_mask,val,ilc,y.jpg,1 2 3 4,0\n"
    )
    data = load_dataset(root)
    rows = zip(data.paths, data.splits, data.synthetic, strict=True)
    marks = {path.relative_to(root).as_posix(): (split, bool(fake)) for path, split, fake in rows}
    assert marks["incorrect_mask/0.png"] == ("train", True)
    assert marks["incorrect_mask/1.png"] == ("val", False)
    assert marks["with_mask/0.png"] == ("", False)


def test_train_on_val_trains_on_the_validation_images_too_but_never_on_test(tmp_path):
    from conftest import make_dataset

    from facemask.train.data import load_dataset, split_indices

    root = make_dataset(tmp_path / "data", per_class=3)
    (root / "manifest.csv").write_text(
        "file,class,split,source,source_image,box,synthetic\n"
        + "".join(f"{c}/{i}.png,{c},{s},x,{c}{i}.jpg,,0\n" for c in CLASSES for i, s in enumerate(("train", "val")))
        + "".join(f"{c}/2.png,{c},test,x,{c}2.jpg,,0\n" for c in CLASSES)
    )
    data = load_dataset(root)
    train, val = split_indices(data, 0.2, 0)
    both, same_val = split_indices(data, 0.2, 0, train_on_val=True)
    splits = np.array(data.splits)
    assert set(splits[train]) == {"train"} and set(splits[val]) == {"val"}
    assert sorted(both) == sorted([*train, *val]) and list(same_val) == list(val)
    assert "test" not in splits[both]


def test_training_images_are_the_pixels_the_classifier_gets_at_run_time(tmp_path):
    from facemask.classifier import prepare_crops
    from facemask.train.data import load_dataset

    rng = np.random.default_rng(3)
    for label in CLASSES:
        (tmp_path / label).mkdir()
    small = rng.integers(0, 256, (90, 70, 3), np.uint8)  # enlarged: INTER_LINEAR, not INTER_AREA's blocks
    large = rng.integers(0, 256, (300, 260, 3), np.uint8)  # shrunk
    for label, image in zip(CLASSES, (small, large, small[::2, ::2]), strict=True):
        assert cv2.imwrite(str(tmp_path / label / "a.png"), image)
    data = load_dataset(tmp_path)
    expected = prepare_crops([small, large, np.ascontiguousarray(small[::2, ::2])])
    assert data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images.astype(np.float32), expected[data.labels])
    blocky = cv2.resize(small, (224, 224), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert not np.array_equal(data.images[data.labels == 0][0], blocky)


@pytest.mark.slow
@pytest.mark.parametrize(("fine_tune", "trained"), [(0, set()), (3, {"Conv_1"}), ("all", {"Conv1", "Conv_1"})])
def test_fine_tune_trains_the_top_of_the_base_or_all_of_it(fine_tune, trained):
    import keras

    from facemask.train.model import TrainConfig, train

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 224, 224, 3), np.uint8)
    labels = np.arange(12) % 3
    config = TrainConfig(epochs=1, batch_size=6, views=1, fine_tune=fine_tune, fine_tune_epochs=1, weights=None)
    model, history = train(images, labels, np.zeros(12, bool), images[:3], labels[:3], config)
    convolutions = {"Conv1", "Conv_1"}  # the base's first and last
    assert {name for name in convolutions if model.get_layer(name).trainable} == trained
    assert not any(layer.trainable for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert len(history["loss"]) == (1 if fine_tune == 0 else 2)
