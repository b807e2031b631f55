"""peprkit.data: file lookup, stratified fractions, tasks, synthetic data (offline)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from peprkit import data as D


def _write_npz(path, n=(40, 10, 10), labels_shape=1, n_labels=2, size=28, rgb=False, seed=0):
    """A MedMNIST-layout file without metadata (like an official one)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        shape = (count, size, size, 3) if rgb else (count, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if labels_shape == 1:
            labels = (np.arange(count) % n_labels).reshape(-1, 1)
            arrays[f"{split}_labels"] = labels.astype(np.uint8)
        else:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (count, labels_shape), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(autouse=True)
def no_medmnist_root(tmp_path_factory, monkeypatch):
    """Keep medmnist's default root (~/.medmnist) out of the search."""
    empty = tmp_path_factory.mktemp("medmnist_root")
    monkeypatch.setattr(D, "medmnist_default_root", lambda: empty)
    monkeypatch.delenv("PEPRKIT_DATA_DIR", raising=False)


def test_flags_are_every_2d_medmnist_dataset():
    flags = D.flags_2d()
    assert "breastmnist" in flags and "chestmnist" in flags and "retinamnist" in flags
    assert len(flags) == 12
    assert not [f for f in flags if f.endswith("3d")]


def test_dataset_filename_follows_medmnist():
    assert D.dataset_filename("pathmnist", 28) == "pathmnist.npz"
    assert D.dataset_filename("pathmnist", 224) == "pathmnist_224.npz"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(flag="breastmnst"), r"flag='breastmnst'.*Did you mean: breastmnist"),
        (dict(flag="organmnist3d"), r"flag='organmnist3d' is a 3D.*breastmnist"),
        (dict(flag="breastmnist", size=32), r"size=32 .*28, 64, 128, 224"),
        (dict(flag="breastmnist", fraction=0.0), r"fraction=0.0 must be in \(0, 1\]"),
    ],
)
def test_bad_arguments_raise_valueerror(tmp_path, kwargs, match):
    _write_npz(tmp_path / "breastmnist.npz")
    flag = kwargs.pop("flag")
    with pytest.raises(ValueError, match=match):
        D.load_medmnist(flag, root=tmp_path, download=False, **kwargs)


def test_missing_file_says_what_and_where(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        D.load_medmnist("dermamnist", size=64, root=tmp_path, download=False)
    msg = str(err.value)
    assert "dermamnist_64.npz" in msg and D.expected_md5("dermamnist", 64) in msg
    assert str(tmp_path) in msg and "bundle" in msg and "PEPRKIT_DATA_DIR" in msg


def test_failed_download_is_reported_offline(tmp_path):
    with pytest.raises(FileNotFoundError, match="Download failed"):
        D.load_medmnist("breastmnist", root=tmp_path / "dl", download=True)


def test_search_order_argument_then_env(tmp_path, monkeypatch):
    arg, env = tmp_path / "arg", tmp_path / "env"
    arg.mkdir()
    env.mkdir()
    _write_npz(env / "breastmnist.npz", n=(20, 4, 4))
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(env))
    found = D.load_medmnist("breastmnist", root=arg, download=False).source
    assert found == env / "breastmnist.npz"
    _write_npz(arg / "breastmnist.npz", n=(30, 4, 4))
    data = D.load_medmnist("breastmnist", root=arg, download=False)
    assert data.source == arg / "breastmnist.npz" and len(data.train) == 30


def test_official_layout_is_read_into_uint8_nchw(tmp_path):
    _write_npz(tmp_path / "bloodmnist.npz", n_labels=8, rgb=True)
    data = D.load_medmnist("bloodmnist", root=tmp_path, download=False)
    assert tuple(data.train.images.shape) == (40, 3, 28, 28)
    assert str(data.train.images.dtype) == "torch.uint8"
    assert str(data.train.labels.dtype) == "torch.int64"
    assert data.num_classes == 8 and data.n_channels == 3 and data.task == "multi-class"
    assert data.license == "CC BY 4.0" and not data.synthetic and data.name == "bloodmnist"
    assert data.class_names[0] == "basophil"


def test_multilabel_and_ordinal_tasks(tmp_path):
    _write_npz(tmp_path / "chestmnist.npz", labels_shape=14)
    chest = D.load_medmnist("chestmnist", root=tmp_path, download=False)
    assert chest.multilabel and tuple(chest.train.labels.shape) == (40, 14)
    assert str(chest.train.labels.dtype) == "torch.float32" and chest.num_classes == 14
    _write_npz(tmp_path / "retinamnist.npz", n_labels=5, rgb=True)
    retina = D.load_medmnist("retinamnist", root=tmp_path, download=False)
    assert retina.task == "ordinal-regression" and "multi-class" in retina.task_note
    assert not retina.multilabel and retina.num_classes == 5


def test_stratified_fraction_keeps_class_shares_and_is_deterministic():
    labels = np.array([0] * 80 + [1] * 20)
    a = D.stratified_indices(labels, 0.1, seed=3)
    assert np.bincount(labels[a]).tolist() == [8, 2]
    assert np.array_equal(a, D.stratified_indices(labels, 0.1, seed=3))
    assert not np.array_equal(a, D.stratified_indices(labels, 0.1, seed=4))
    assert D.stratified_indices(labels, 0.001, seed=0).size == 2  # at least one per class
    with pytest.raises(ValueError, match=r"fraction=1.5 must be in \(0, 1\]"):
        D.stratified_indices(labels, 1.5)


def test_fraction_subsets_only_the_training_split(tmp_path):
    path = D.make_synthetic(tmp_path / "s.npz", n_classes=4, n_train=80, n_val=12, n_test=12)
    full = D.load_npz(path)
    tenth = D.load_npz(path, fraction=0.1, seed=1)
    assert len(tenth.train) == 8 and len(tenth.val) == 12 and len(tenth.test) == 12
    assert np.bincount(tenth.train.labels.numpy()).tolist() == [2, 2, 2, 2]
    assert tenth.fraction == 0.1 and full.fraction == 1.0
    assert full.subset(0.5, seed=1).train.images.shape[0] == 40


def test_make_synthetic_is_marked_and_learnable(tmp_path):
    path = D.make_synthetic(tmp_path / "syn.npz", n_classes=3, n_channels=3, size=16, n_train=60)
    data = D.load_npz(path)
    assert data.synthetic and data.name == "synthetic" and data.task == "multi-class"
    assert tuple(data.train.images.shape) == (60, 3, 16, 16) and data.num_classes == 3
    named = D.load_npz(path, flag="breastmnist")
    assert named.name == "breastmnist (synthetic)"
    # class means differ clearly: a nearest-class-mean classifier separates the classes
    x = data.train.images.float().flatten(1).numpy()
    y = data.train.labels.numpy()
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    xt = data.test.images.float().flatten(1).numpy()
    pred = ((xt[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == data.test.labels.numpy()).mean() > 0.8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n_classes=1), r"n_classes=1 is too small"),
        (dict(n_channels=2), r"n_channels=2 must be 1"),
        (dict(size=4), r"size=4 is too small"),
    ],
)
def test_make_synthetic_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.make_synthetic(tmp_path / "x.npz", **kwargs)


def test_unreadable_file_raises_valueerror(tmp_path):
    bad = tmp_path / "breastmnist.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a readable .npz.*download it again"):
        D.load_medmnist("breastmnist", root=tmp_path, download=False)


def test_real_breastmnist_loads_without_md5_check(breastmnist_path):
    data = D.load_medmnist("breastmnist", root=breastmnist_path.parent, download=False)
    assert [len(data.train), len(data.val), len(data.test)] == [546, 78, 156]
    assert data.num_classes == 2 and data.n_channels == 1 and not data.synthetic


def test_load_or_synthetic_prefers_the_real_file(tmp_path, capsys):
    _write_npz(tmp_path / "breastmnist.npz", n=(20, 4, 4))
    data = D.load_or_synthetic("breastmnist", root=tmp_path, download=False,
                               folder=tmp_path / "syn")
    assert not data.synthetic and data.flag == "breastmnist" and len(data.train) == 20
    out = capsys.readouterr().out
    assert "real MedMNIST" in out and "SYNTHETIC" not in out
    assert not (tmp_path / "syn").exists()


def test_load_or_synthetic_falls_back_loudly_with_the_flags_shape(tmp_path, capsys):
    data = D.load_or_synthetic("dermamnist", root=tmp_path, download=False,
                               folder=tmp_path / "syn", n_train=70, fraction=0.5)
    out = capsys.readouterr().out
    assert "SYNTHETIC DATA: dermamnist is not available" in out
    assert "NOT medical results" in out and "PEPRKIT_DATA_DIR" in out
    assert "Why: MedMNIST file dermamnist.npz" in out
    assert data.synthetic and data.flag == "dermamnist-synthetic"
    assert data.name == "dermamnist-synthetic"
    assert data.num_classes == 7 and data.n_channels == 3 and data.size == 28
    assert len(data.train) == 35 and data.fraction == 0.5
    again = D.load_or_synthetic("dermamnist", root=tmp_path, download=False,
                                folder=tmp_path / "syn", n_train=70)
    assert len(list((tmp_path / "syn").glob("*.npz"))) == 1  # the stand-in is reused
    assert again.source == data.source and len(again.train) == 70


def test_load_or_synthetic_multilabel_flag_gets_a_binary_stand_in(tmp_path, capsys):
    data = D.load_or_synthetic("chestmnist", size=64, root=tmp_path, download=False,
                               folder=tmp_path, n_train=8)
    assert "binary (the real task is multi-label)" in capsys.readouterr().out
    assert data.num_classes == 2 and data.size == 64 and data.synthetic


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(flag="breastmnst"), r"flag='breastmnst'.*Did you mean: breastmnist"),
        (dict(flag="breastmnist", size=32), r"size=32 .*28, 64, 128, 224"),
        (dict(flag="breastmnist", n_train=1), r"n_train=1 is too small"),
        (dict(flag="breastmnist", fraction=2.0), r"fraction=2.0 must be in \(0, 1\]"),
    ],
)
def test_load_or_synthetic_never_hides_bad_arguments(tmp_path, kwargs, match):
    flag = kwargs.pop("flag")
    with pytest.raises(ValueError, match=match):
        D.load_or_synthetic(flag, root=tmp_path, download=False, folder=tmp_path, **kwargs)


def test_load_or_synthetic_reads_the_real_breastmnist(breastmnist_path, tmp_path):
    data = D.load_or_synthetic("breastmnist", root=breastmnist_path.parent, download=False,
                               folder=tmp_path)
    assert not data.synthetic and len(data.test) == 156


def test_download_medmnist_options_are_keyword_only():
    with pytest.raises(TypeError):
        D.download_medmnist("breastmnist", 28)  # type: ignore[misc]
