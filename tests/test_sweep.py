"""peprkit.sweep: grid, shards, skipping finished runs, atomic appends."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import add_pepr  # noqa: E402
from peprkit import sweep as S  # noqa: E402
from peprkit import train as T  # noqa: E402
from peprkit.data import load_npz, make_synthetic  # noqa: E402


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    path = make_synthetic(tmp_path_factory.mktemp("syn") / "syn.npz", n_classes=2, n_train=40,
                          n_val=8, n_test=8)
    return load_npz(path)


@pytest.fixture
def fake_finetune(monkeypatch):
    """Replace finetune by a fast stand-in that records its calls and returns a summary."""
    calls = []

    def fake(model, data, *, epochs, pretrained, seed, run_dir, quiet, **options):
        calls.append(dict(model=model, pretrained=pretrained, seed=seed, n_train=len(data.train),
                          fraction=data.fraction, run_dir=run_dir, options=options))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / T.CHECKPOINT).write_bytes(b"x")
        (run_dir / "history.csv").write_text("epoch\n1\n")
        row = {c: None for c in T.SUMMARY_COLUMNS}
        row.update(model=model, dataset=data.flag, size=data.size, pretrained=pretrained,
                   fraction=data.fraction, seed=seed, epochs=epochs, test_acc=0.5 + seed / 10,
                   energy_kwh=1e-5 * (1 + len(calls)), co2_g=1e-3, memory_gb=1.0,
                   train_time_s=float(len(calls)), synthetic=data.synthetic)
        return T.Run(history=pd.DataFrame(), summary=pd.DataFrame([row]), model=None,
                     status=fake.status)

    fake.status = "completed"
    monkeypatch.setattr(T, "finetune", fake)
    return calls


def test_make_jobs_grid_and_shards_partition_it():
    grid = S.make_jobs(["a", "b"], pretrained=(True, False), fractions=(0.1, 1.0), seeds=(0, 1))
    assert len(grid) == 16
    shards = [S.make_jobs(["a", "b"], pretrained=(True, False), fractions=(0.1, 1.0),
                          seeds=(0, 1), shard=(i, 3)) for i in range(3)]
    assert [len(s) for s in shards] == [6, 5, 5]
    assert sorted(map(str, sum(shards, []))) == sorted(map(str, grid))
    assert shards[1] == grid[1::3]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(shard=(3, 3)), r"shard=\(3, 3\) must be \(i, n\) with 0 <= i < n"),
        (dict(shard=(0,)), r"shard=\(0,\) must be"),
        (dict(fractions=(0.0,)), r"fractions contains 0.0"),
    ],
)
def test_make_jobs_rejects_bad_grids(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.make_jobs(["a"], **kwargs)


def test_models_must_be_a_list():
    with pytest.raises(ValueError, match=r"models='resnet18' must be a non-empty list"):
        S.make_jobs("resnet18")


def test_sweep_appends_skips_and_subsets(syn, tmp_path, fake_finetune):
    out = tmp_path / "results.csv"
    table = S.run_sweep(["resnet18", "lcnet_050"], syn, epochs=2, out=out,
                        fractions=(0.5, 1.0), quiet=True, isolate=False, lr=1e-3)
    assert len(table) == 4 and len(fake_finetune) == 4
    assert {c["n_train"] for c in fake_finetune} == {20, 40}
    assert all(c["options"] == {"lr": 1e-3} for c in fake_finetune)
    # checkpoints removed after the row is written, per-epoch history kept
    assert not list(tmp_path.glob("results_runs/*/checkpoint.pt"))
    assert len(list(tmp_path.glob("results_runs/*/history.csv"))) == 4
    again = S.run_sweep(["resnet18", "lcnet_050"], syn, epochs=2, out=out,
                        fractions=(0.5, 1.0), seeds=(0, 1), quiet=True, isolate=False)
    assert len(fake_finetune) == 8 and len(again) == 8  # only the seed-1 runs were new
    assert sorted(again["seed"].tolist()) == [0] * 4 + [1] * 4
    # other epochs: a new run
    S.run_sweep(["resnet18"], syn, epochs=3, out=out, quiet=True, isolate=False)
    assert len(S.read_results(out)) == 9


def test_a_sweep_shows_each_warning_once_and_names_every_run_at_chance(syn, tmp_path,
                                                                      monkeypatch):
    import warnings

    def noisy(model, data, *, seed, **options):
        warnings.warn("No country or intensity given: using the world average", UserWarning,
                      stacklevel=2)
        warnings.warn(f"{model} reached test accuracy ...", T.ChanceLevelWarning, stacklevel=2)
        row = {c: None for c in T.SUMMARY_COLUMNS}
        row.update(model=model, dataset=data.flag, size=data.size, pretrained=True,
                   fraction=data.fraction, seed=seed, epochs=1, test_acc=0.5 + seed / 10,
                   majority_acc=0.55)
        return T.Run(history=pd.DataFrame(), summary=pd.DataFrame([row]), model=None,
                     status="completed")

    monkeypatch.setattr(T, "finetune", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        S.run_sweep(["resnet18", "lcnet_050"], syn, epochs=1, out=tmp_path / "r.csv",
                    seeds=(0, 1), quiet=True, isolate=False)
    texts = [(w.category, str(w.message)) for w in caught]
    assert [c for c, _ in texts].count(UserWarning) == 1  # four runs, one message
    chance = [t for c, t in texts if c is T.ChanceLevelWarning]
    assert len(chance) == 1 and chance[0].startswith("2 of the 4 run(s)")
    assert "resnet18 (seed 0" in chance[0] and "lcnet_050 (seed 0" in chance[0]
    assert "seed 1" not in chance[0]  # 0.6 beats the 0.55 baseline
    assert all(w.filename == __file__ for w in caught)  # shown at the learner's call


def test_shard_runs_only_its_jobs(syn, tmp_path, fake_finetune):
    S.run_sweep(["resnet18", "lcnet_050", "vgg13"], syn, epochs=1, out=tmp_path / "r.csv",
                seeds=(0, 1), shard=(1, 2), quiet=True, isolate=False)
    assert [(c["model"], c["seed"]) for c in fake_finetune] == [
        ("resnet18", 1), ("lcnet_050", 1), ("vgg13", 1)]


def test_interrupted_run_is_not_recorded(syn, tmp_path, fake_finetune):
    out = tmp_path / "r.csv"
    S.run_sweep(["resnet18"], syn, epochs=1, out=out, quiet=True, isolate=False)
    T.finetune.status = "interrupted"
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(["resnet18", "lcnet_050"], syn, epochs=1, out=out, quiet=True,
                    isolate=False)
    assert S.read_results(out)["model"].tolist() == ["resnet18"]


def test_append_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    S.append_row(out, pd.DataFrame([{"model": "a", "test_acc": 0.5}]))
    before = out.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        S.append_row(out, pd.DataFrame([{"model": "b", "test_acc": 0.6}]))
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_bad_sweep_options(syn, tmp_path):
    with pytest.raises(ValueError, match=r"model='resnet81' is not a timm model.*resnet18"):
        S.run_sweep(["resnet81"], syn, epochs=1, out=tmp_path / "r.csv", quiet=True)
    with pytest.raises(ValueError, match=r"meter= must be True or False in a sweep"):
        S.run_sweep(["resnet18"], syn, epochs=1, out=tmp_path / "r.csv", quiet=True,
                    meter=object())


def test_real_sweep_feeds_add_pepr(syn, tmp_path):
    table = S.run_sweep(["resnet18", "regnetx_002"], syn, epochs=1, out=tmp_path / "r.csv",
                        pretrained=(False,), quiet=True, batch_size=16)
    scored = add_pepr(table, performance="test_acc",
                      resources={"e": "energy_kwh", "c": "co2_g", "m": "memory_gb",
                                 "t": "train_time_s"}, by="dataset")
    assert len(scored) == 2 and scored["pepr_e"].between(0, 1).all()
    assert set(scored["dataset"]) == {"synthetic"} and scored["synthetic"].all()
