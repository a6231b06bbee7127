"""The data layer: real files with their known facts, loaders for unreachable sets on files in the real format,
the papers' preprocessing, and the errors."""
import gzip
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit import data
from advex_lit.data import DataNotFoundError, load_dataset


# ---------------------------------------------------------------- real data reachable on this machine kind
def test_fashion_mnist_facts():
    d = load_dataset("fashion_mnist")
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert (np.bincount(d.y_train) == 6000).all() and (np.bincount(d.y_test) == 1000).all()
    assert d.class_names[9] == "Ankle boot"


def total_rows(d):
    return sum(len(y) for y in (d.y_train, d.y_val, d.y_test) if y is not None)


def test_spambase_facts():
    d = load_dataset("spambase")
    assert total_rows(d) == 4601 and d.x_train.shape[1] == 57
    assert sum(int(y.sum()) for y in (d.y_train, d.y_val, d.y_test)) == 1813
    assert d.feature_names[0] == "make" and d.feature_names[-1] == "capitalTotal"


def test_mushroom_facts_and_one_hot():
    d = load_dataset("mushroom")
    assert total_rows(d) == 8124
    assert sum(int((y == 0).sum()) for y in (d.y_train, d.y_val, d.y_test)) == 4208
    assert d.x_train.shape[1] == 117 and "stalk-root=missing" in d.feature_names
    assert len(d.groups) == 22
    for feature, cols in d.groups.items():  # exactly one active column per categorical feature
        assert (d.x_train[:, cols].sum(axis=1) == 1).all(), feature
    dropped = load_dataset("mushroom", stalk_root_missing="drop")
    assert total_rows(dropped) == 8124 - 2480 and "stalk-root=missing" not in dropped.feature_names


def test_packaged_stand_ins():
    m = load_dataset("mnist_5k")
    assert m.x_train.shape == (4000, 28, 28, 1) and (np.bincount(m.y_train) == 400).all()
    dg = load_dataset("digits")
    assert dg.x_train.shape[1:] == (8, 8, 1) and len(dg.y_train) + len(dg.y_test) == 1797 and dg.x_train.max() == 1.0
    bc = load_dataset("breast_cancer", split="arxiv")
    assert bc.x_val is None and len(bc.y_train) + len(bc.y_test) == 569 and bc.x_train.shape[1] == 30


def test_icml_split_is_64_16_20_stratified_and_seeded():
    a = load_dataset("spambase", seed=3)
    b = load_dataset("spambase", seed=3)
    c = load_dataset("spambase", seed=4)
    assert [len(a.y_train), len(a.y_val), len(a.y_test)] == pytest.approx([0.64 * 4601, 0.16 * 4601, 0.2 * 4601], abs=2)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)
    for y in (a.y_train, a.y_val, a.y_test):
        assert abs(y.mean() - 1813 / 4601) < 0.005


def test_standardization_uses_training_statistics():
    d = load_dataset("spambase", standardize_features=True)
    assert np.allclose(d.x_train.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(d.x_train.std(axis=0), 1, atol=1e-3)
    assert not np.allclose(d.x_test.mean(axis=0), 0, atol=1e-4)  # test set is scaled with train statistics


@pytest.mark.parametrize("name", ["spambase", "mushroom"])
def test_feat_trans_translation_on_real_data(name):
    d = load_dataset(name, translate=True)
    y = data.signed_labels(d.y_train)
    x = d.x_train.astype(np.float64)
    _, a = data.feature_translation(x, y)
    scale = np.abs(a).max()
    # FEAT-EXP on the training split: class-conditional means are exactly +a and -a, so E[y x_i] = a_i
    assert np.allclose(x[y == 1].mean(axis=0), a, atol=1e-5 * scale)
    assert np.allclose(x[y == -1].mean(axis=0), -a, atol=1e-5 * scale)
    assert np.allclose((y[:, None] * x).mean(axis=0), a, atol=1e-5 * scale)
    # the untranslated data does not satisfy it (an offset c != 0 on some feature)
    raw = load_dataset(name)
    x_raw, y_raw = raw.x_train.astype(np.float64), data.signed_labels(raw.y_train)
    assert np.abs(x_raw[y_raw == 1].mean(axis=0) + x_raw[y_raw == -1].mean(axis=0)).max() > 1e-2


def test_limits_take_stratified_subsets():
    d = load_dataset("fashion_mnist", limit_train=1000, limit_test=200)
    assert len(d.y_train) == 1000 and len(d.y_test) == 200 and (np.bincount(d.y_train) == 100).all()


# ---------------------------------------------------------------- loaders on files written in the real formats
def write_mnist_style(folder, n_train=30, n_test=10, rng=np.random.default_rng(0)):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": np.arange(n_train) % 10,
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": np.arange(n_test) % 10}
    return {k: v.astype(np.uint8) for k, v in arrays.items()}


def test_mnist_npz_and_idx_formats(tmp_path):
    arrays = write_mnist_style(tmp_path / "npz")
    np.savez(tmp_path / "npz" / "mnist.npz", **arrays)
    d = load_dataset("mnist", path=tmp_path / "npz" / "mnist.npz", download=False)
    assert np.allclose(d.x_train[..., 0] * 255, arrays["x_train"]) and np.array_equal(d.y_test, arrays["y_test"])
    for key, stem in data.IDX_FILES.items():
        data.write_idx(tmp_path / "npz" / (stem + ".gz"), arrays[key])
    (tmp_path / "npz" / "mnist.npz").unlink()
    d2 = load_dataset("mnist", path=tmp_path / "npz", download=False)
    assert np.array_equal(d2.x_train, d.x_train) and d2.source.startswith("path=")


def test_idx_reader_round_trip_and_rejects_garbage(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    data.write_idx(tmp_path / "a.idx", arr)
    assert np.array_equal(data.read_idx(tmp_path / "a.idx"), arr)
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX"):
        data.read_idx(tmp_path / "bad.idx")


def test_advex_data_folder_is_searched(tmp_path, monkeypatch):
    arrays = write_mnist_style(tmp_path / "mnist")
    np.savez(tmp_path / "mnist" / "mnist.npz", **arrays)
    monkeypatch.setenv("ADVEX_DATA", str(tmp_path))
    d = load_dataset("mnist", download=False)
    assert "ADVEX_DATA" in d.source and d.x_train.shape == (30, 28, 28, 1)


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8), b"labels": list(rng.integers(0, 10, 4))}
        first = first or batch
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    d = load_dataset("cifar10", path=tmp_path, download=False)
    assert d.x_train.shape == (20, 32, 32, 3) and d.x_test.shape == (4, 32, 32, 3)
    # channel-major rows: the first 1024 bytes are the red plane
    assert np.allclose(d.x_train[0, :, :, 0] * 255, first[b"data"][0, :1024].reshape(32, 32))


def test_gtsrb_pickled_and_benchmark_layouts(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(2)
    pick = tmp_path / "pickled"
    pick.mkdir()
    for split, n in (("train", 6), ("valid", 3), ("test", 4)):
        with open(pick / f"{split}.p", "wb") as f:
            pickle.dump({"features": rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8),
                         "labels": rng.integers(0, 43, n)}, f)
    d = load_dataset("gtsrb", path=pick, download=False)
    assert d.x_train.shape == (6, 32, 32, 3) and d.x_val.shape == (3, 32, 32, 3) and d.x_test.shape == (4, 32, 32, 3)

    root = tmp_path / "GTSRB"
    header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
    for cls in (0, 5):
        cdir = root / "Final_Training" / "Images" / f"{cls:05d}"
        cdir.mkdir(parents=True)
        rows = []
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (40, 45, 3)).astype(np.uint8)).save(cdir / f"{i:05d}.ppm")
            rows.append(f"{i:05d}.ppm;45;40;5;5;39;34;{cls}\n")
        (cdir / f"GT-{cls:05d}.csv").write_text(header + "".join(rows))
    tdir = root / "Final_Test" / "Images"
    tdir.mkdir(parents=True)
    Image.fromarray(np.full((30, 30, 3), 200, np.uint8)).save(tdir / "00000.ppm")
    (tdir / "GT-final_test.csv").write_text(header + "00000.ppm;30;30;0;0;29;29;5\n")
    d = load_dataset("gtsrb", path=tmp_path, download=False)
    assert d.x_train.shape == (4, 32, 32, 3) and list(d.y_train) == [0, 0, 5, 5]
    assert d.y_test.tolist() == [5] and np.allclose(d.x_test, 200 / 255)


def test_flowers17_folder_split_per_class(tmp_path):
    from PIL import Image
    jpg = tmp_path / "jpg"
    jpg.mkdir()
    for i in range(17 * 10):
        Image.fromarray(np.full((20, 24, 3), i % 255, np.uint8)).save(jpg / f"image_{i + 1:04d}.jpg")
    d = load_dataset("flowers17", path=tmp_path, image_size=16, download=False)
    assert d.x_train.shape == (17 * 2, 16, 16, 3) and (np.bincount(d.y_test) == 8).all()
    # fewer images per class than the 8 test images the split needs: reading says so
    with pytest.raises(ValueError, match="test_per_class"):
        data.read_flowers17_folder(tmp_path, size=16, test_per_class=10)


def test_flowers17_split_sizes(tmp_path):
    from PIL import Image
    jpg = tmp_path / "jpg"
    jpg.mkdir()
    for i in range(17 * 10):
        Image.fromarray(np.full((8, 8, 3), i % 255, np.uint8)).save(jpg / f"image_{i + 1:04d}.jpg")
    d = data.read_flowers17_folder(tmp_path, size=8, test_per_class=2, seed=0)
    assert d["x_train"].shape == (17 * 8, 8, 8, 3) and (np.bincount(d["y_test"]) == 2).all()


def test_uci_csv_formats(tmp_path):
    rng = np.random.default_rng(3)
    table = np.column_stack([rng.random((10, 57)), np.arange(10) % 2])
    np.savetxt(tmp_path / "spambase.data", table, delimiter=",")
    d = load_dataset("spambase", path=tmp_path / "spambase.data", split="arxiv", download=False)
    assert len(d.y_train) + len(d.y_test) == 10 and d.x_train.shape[1] == 57
    rows = ["p,x,s,n,t,p,f,c,n,k,e,e,s,s,w,w,p,w,o,p,k,s,u", "e,x,s,y,t,a,f,c,b,k,e,?,s,s,w,w,p,w,o,p,n,n,g"] * 5
    (tmp_path / "agaricus-lepiota.data").write_text("\n".join(rows) + "\n")
    m = load_dataset("mushroom", path=tmp_path / "agaricus-lepiota.data", split="arxiv", download=False)
    assert "stalk-root=missing" in m.feature_names and len(m.groups) == 22


# ---------------------------------------------------------------- errors
def test_missing_source_names_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("cifar10", download=False)
    message = str(err.value)
    assert "Sources tried" in message and str(tmp_path / "cifar10") in message and "How to get it" in message


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="imagenet"), "unknown data set"),
    (dict(name="spambase", split=(0.5, 0.6)), "split"),
    (dict(name="spambase", split="random"), "split"),
    (dict(name="spambase", limit_train=0), "limit_train"),
    (dict(name="mushroom", stalk_root_missing="mode"), "stalk_root_missing"),
    (dict(name="digits", path="/nowhere"), "path"),
    (dict(name="fashion_mnist", translate=True), "translate"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="name"):
        load_dataset(3)


def test_explicit_bad_path_raises_not_silently_falls_back(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset("mnist", path=tmp_path / "nothing.npz", download=False)


# ---------------------------------------------------------------- preprocessing properties
@settings(max_examples=examples(30), deadline=None)
@given(n=st.integers(10, 200), seed=st.integers(0, 10_000))
def test_split_indices_partition_and_stratify(n, seed):
    y = np.random.default_rng(seed).integers(0, 3, n)
    parts = data.split_indices(y, "icml", seed)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(n))
    for label in np.unique(y):
        count = (y == label).sum()
        assert abs((y[parts[0]] == label).sum() - 0.64 * count) <= 1


@settings(max_examples=examples(20), deadline=None)
@given(strengths=st.lists(st.floats(-2, 2), min_size=1, max_size=5), seed=st.integers(0, 1000),
       noise=st.sampled_from(["gaussian", "uniform", "rademacher"]))
def test_feat_indep_dataset_has_the_requested_conditional_means(strengths, seed, noise):
    x, y = data.feat_indep_dataset(20_000, strengths, 0.5, noise=noise, seed=seed)
    pos, neg = data.class_conditional_means(x, y)
    assert np.allclose(pos, strengths, atol=0.03) and np.allclose(neg, -np.asarray(strengths), atol=0.03)
    x2, y2 = data.feat_indep_dataset(20_000, strengths, 0.5, noise=noise, seed=seed)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


@settings(max_examples=examples(30), deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.1, 0.9))
def test_lemma1_translation_gives_e_yx_equal_a(seed, p):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(500) < p, 1, -1)
    y[:2] = [1, -1]
    x = rng.normal(size=(500, 3)) + 2.0 + 0.7 * y[:, None]
    c, a = data.feature_translation(x, y)
    xt = data.translate_features(x, c)
    pos, neg = data.class_conditional_means(xt, y)
    assert np.allclose(pos, a, atol=1e-5) and np.allclose(neg, -a, atol=1e-5)


def test_feat_indep_dataset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n"):
        data.feat_indep_dataset(0, [1.0])
    with pytest.raises(ValueError, match="noise_scale"):
        data.feat_indep_dataset(5, [1.0], -1.0)
    with pytest.raises(ValueError, match="strengths"):
        data.feat_indep_dataset(5, [np.nan])
    with pytest.raises(ValueError, match="noise"):
        data.feat_indep_dataset(5, [1.0], noise="cauchy")


def test_signed_labels_and_its_errors():
    assert data.signed_labels([0, 1]).tolist() == [-1, 1]
    with pytest.raises(ValueError, match="y"):
        data.signed_labels([0, 2])


# ---------- augmentation and brightness (the NeurIPS GTSRB / Flower-17 preparation) ----------
def _probe(n=4, rows=9, cols=7, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, rows, cols, channels)).astype(np.float32)


def test_homography_from_corners_maps_the_corners():
    src = np.array([[0, 0], [0, 6], [8, 0], [8, 6]], float)[None]
    dst = np.array([[1, 0.5], [0, 6.2], [7.5, 1], [8.3, 5]], float)[None]
    h = data.corner_homographies(src, dst)[0]
    mapped = (h @ np.c_[src[0], np.ones(4)].T).T
    np.testing.assert_allclose(mapped[:, :2] / mapped[:, 2:], dst[0], atol=1e-9)


def test_warp_identity_shift_and_bilinear_midpoint():
    x = _probe()
    np.testing.assert_allclose(data.warp_images(x, np.broadcast_to(np.eye(3), (4, 3, 3))), x, atol=1e-6)
    right = np.broadcast_to(np.array([[1, 0, 0], [0, 1, -1], [0, 0, 1]], float), (4, 3, 3))  # column c reads c - 1
    np.testing.assert_allclose(data.warp_images(x, right)[:, :, 1:], x[:, :, :-1], atol=1e-6)
    np.testing.assert_allclose(data.warp_images(x, right)[:, :, 0], x[:, :, 0], atol=1e-6)  # the edge repeats
    half = np.broadcast_to(np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1]], float), (4, 3, 3))
    np.testing.assert_allclose(data.warp_images(x, half)[:, :-1], (x[:, :-1] + x[:, 1:]) / 2, atol=1e-6)


def test_random_homographies_are_seeded_and_bounded():
    a = data.random_homographies(50, (32, 32), seed=3)
    np.testing.assert_array_equal(a, data.random_homographies(50, (32, 32), seed=3))
    assert not np.allclose(a, data.random_homographies(50, (32, 32), seed=4))
    np.testing.assert_allclose(data.random_homographies(5, (32, 32), rotation=0, shift=0, corner=0),
                               np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-9)
    # each corner of the output reads from within rotation + shift + jitter of where it was
    corners = np.array([[0, 0, 1], [0, 31, 1], [31, 0, 1], [31, 31, 1]], float).T
    moved = np.einsum("nij,jk->nik", a, corners)
    moved = moved[:, :2] / moved[:, 2:]
    assert np.abs(moved - corners[:2]).max() < 31 * (0.2 + 2 * np.sin(np.deg2rad(15))) + 1


def test_balance_by_augmentation_fills_every_class_and_keeps_the_originals():
    x = _probe(7)
    y = np.array([0, 0, 0, 1, 2, 2, 2])
    bx, by = data.balance_by_augmentation(x, y, per_class=5, seed=1, chunk=2)
    assert np.bincount(by).tolist() == [5, 5, 5] and bx.shape == (15, 9, 7, 3) and bx.dtype == np.float32
    np.testing.assert_array_equal(bx[:7], x)
    assert bx.min() >= x.min() - 1e-6 and bx.max() <= x.max() + 1e-6  # interpolation stays within the image's range
    np.testing.assert_array_equal(bx, data.balance_by_augmentation(x, y, per_class=5, seed=1, chunk=2)[0])
    with pytest.raises(ValueError, match="per_class"): data.balance_by_augmentation(x, y, per_class=2)
    with pytest.raises(ValueError, match="x"): data.balance_by_augmentation(x[0], y, per_class=5)


def test_normalize_brightness_stretches_each_image():
    x = _probe()
    out = data.normalize_brightness(0.1 + 0.3 * x)
    np.testing.assert_allclose(out, data.normalize_brightness(x), atol=1e-6)  # a brightness and contrast change undone
    np.testing.assert_allclose(out.min(axis=(1, 2, 3)), 0, atol=1e-7)
    np.testing.assert_allclose(out.max(axis=(1, 2, 3)), 1, atol=1e-6)
    flat = np.full((1, 4, 4, 3), 0.4, np.float32)
    np.testing.assert_array_equal(data.normalize_brightness(flat), flat)
    with pytest.raises(ValueError, match="x"): data.normalize_brightness(np.full((1, 4, 4, 3), np.nan, np.float32))
