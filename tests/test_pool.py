"""peprkit.pool: fair shards of a zoo, and pooling a class's results with calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peprkit import cli, pool
from peprkit.models import PAPER_ZOO


def _results(models, *, factor=1.0, seed=0, machine="cpu", threads=2, epochs=2, noise=0.0):
    """A sweep results table: energy and time of each model scaled by a machine factor."""
    rng = np.random.default_rng(seed)
    base = {"resnet18": 4e-4, "a": 1e-4, "b": 2e-4, "c": 8e-4, "d": 3e-4}
    acc = {"resnet18": 0.80, "a": 0.72, "b": 0.78, "c": 0.83, "d": 0.75}
    energy = np.array([base[m] for m in models]) * factor * (1 + noise * rng.standard_normal(
        len(models)))
    return pd.DataFrame({
        "model": models, "dataset": "breastmnist", "size": 28, "input_size": 32,
        "pretrained": True, "fraction": 1.0, "seed": 0, "epochs": epochs,
        "num_params": 1_000_000, "test_acc": [acc[m] for m in models], "energy_kwh": energy,
        "co2_g": energy * 300, "train_time_s": energy * 3.6e6 / (10 * factor) * 40,
        "device": machine, "threads": threads, "lr": 5e-4, "batch_size": 32,
    })


@pytest.fixture
def two_machines(tmp_path):
    """The same models on two machines, the second metering 2.5x more energy (and time)."""
    paths = []
    for k, (models, factor) in enumerate(((["resnet18", "a", "b", "c"], 1.0),
                                          (["resnet18", "a", "b", "d"], 2.5))):
        path = tmp_path / f"learner{k}" / "results.csv"
        path.parent.mkdir()
        _results(models, factor=factor, seed=k, noise=0.01).to_csv(path, index=False)
        paths.append(path)
    return paths


def test_calibration_makes_machines_comparable(two_machines):
    pooled = pool.pool_results(two_machines)
    raw = pooled.pivot_table(index="model", columns="source_file", values="energy_kwh")
    assert raw.loc["a"].max() / raw.loc["a"].min() == pytest.approx(2.5, rel=0.05)
    rel = pooled.pivot_table(index="model", columns="source_file", values="energy_rel")
    for model in ("a", "b"):
        assert rel.loc[model].max() / rel.loc[model].min() == pytest.approx(1.0, abs=0.05)
    assert (pooled.loc[pooled["is_reference"], "energy_rel"] == 1.0).all()
    assert pooled["time_rel"].notna().all()
    assert pooled["calibrated_by"].eq("reference run in this file").all()
    assert set(pooled["machine"]) == {"cpu | 2 threads"}
    np.testing.assert_array_equal(pooled["co2_g"],  # carbon is not calibrated
                                  pd.concat([pd.read_csv(p) for p in two_machines])
                                  .set_index(["model", "energy_kwh"]).loc[
                                      list(zip(pooled["model"], pooled["energy_kwh"],
                                               strict=True)), "co2_g"])


def test_pool_is_idempotent_and_drops_exact_duplicates(two_machines, tmp_path):
    once = pool.pool_results(two_machines, out=tmp_path / "class.csv")
    twice = pool.pool_results([*two_machines, two_machines[0]])
    pd.testing.assert_frame_equal(once, twice)
    assert twice.attrs["duplicates_dropped"] == 4
    again = pool.pool_results([tmp_path / "class.csv"])
    pd.testing.assert_frame_equal(once, again, check_dtype=False)
    with_files = pool.pool_results([tmp_path / "class.csv", *two_machines])
    pd.testing.assert_frame_equal(once, with_files, check_dtype=False)


def test_pool_validates_each_file(tmp_path, two_machines):
    bad = tmp_path / "bad.csv"
    _results(["resnet18", "a"]).drop(columns="energy_kwh").to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv: column 'energy_kwh' is missing"):
        pool.pool_results([two_machines[0], bad])
    table = _results(["resnet18", "a"])
    table.loc[1, "test_acc"] = 81.0
    table.to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv: column 'test_acc' row 3 .* \[0, 1\]"):
        pool.pool_results([bad])
    with pytest.raises(ValueError, match=r"'.*nowhere\.csv' does not exist"):
        pool.pool_results([tmp_path / "nowhere.csv"])
    with pytest.raises(ValueError, match="paths is empty"):
        pool.pool_results([])


def test_pool_refuses_mixed_settings_unless_asked(tmp_path, two_machines):
    other = tmp_path / "five_epochs.csv"
    _results(["resnet18", "a"], epochs=5).to_csv(other, index=False)
    with pytest.raises(ValueError, match=r"mixes epochs = \['2', '5'\].*allow_mixed=True"):
        pool.pool_results([*two_machines, other])
    pooled = pool.pool_results([*two_machines, other], allow_mixed=True)
    five = pooled[pooled["epochs"] == 5]
    assert five.set_index("model")["energy_rel"].to_dict() == {"a": 0.25, "resnet18": 1.0}


def test_a_file_without_reference_borrows_its_machines_or_warns(tmp_path, two_machines):
    lone = tmp_path / "lone.csv"
    _results(["d"], machine="cuda:0", threads=1).to_csv(lone, index=False)
    with pytest.warns(UserWarning, match="no resnet18 reference run"):
        pooled = pool.pool_results([*two_machines, lone])
    row = pooled[pooled["source_file"] == str(lone)].iloc[0]
    assert np.isnan(row["energy_rel"]) and row["calibrated_by"].startswith("none")
    same_machine = tmp_path / "more.csv"
    _results(["c"], factor=2.5).to_csv(same_machine, index=False)
    pooled = pool.pool_results([*two_machines, same_machine])
    row = pooled[pooled["source_file"] == str(same_machine)].iloc[0]
    assert row["calibrated_by"] == "reference run of the same machine in another file"


def test_balanced_shards_share_the_cost_fairly():
    cost = {f"m{i}": float(c) for i, c in enumerate([50, 40, 30, 20, 10, 9, 8, 7, 3, 2, 1])}
    shards = pool.balanced_shards(list(cost), 3, cost=cost)
    assert sorted(m for s in shards for m in s) == sorted(cost)
    loads = [sum(cost[m] for m in s) for s in shards]
    assert max(loads) - min(loads) <= max(cost.values()) * 0.2
    by_count = [list(cost)[i::3] for i in range(3)]  # what a count-based split does
    count_loads = [sum(cost[m] for m in s) for s in by_count]
    assert max(loads) / min(loads) < max(count_loads) / min(count_loads)
    assert shards == pool.balanced_shards(list(cost), 3, cost=cost)  # deterministic
    with pytest.raises(ValueError, match=r"n=0 must be a whole number of shards"):
        pool.balanced_shards(list(cost), 0, cost=cost)


def test_paper_zoo_shards_cover_it_once_and_all_train_the_reference():
    models = pool.zoo_models("paper-cpu")
    assert 40 <= len(models) <= len(PAPER_ZOO) and pool.REFERENCE_MODEL not in models
    shards = [pool.shard_models(models, (i, 4)) for i in range(4)]
    assert all(s[0] == pool.REFERENCE_MODEL for s in shards)
    assert sorted(m for s in shards for m in s[1:]) == sorted(models)
    cost = pool.expected_cost(models)
    loads = [sum(cost[m] for m in s[1:]) for s in shards]
    assert max(loads) / min(loads) < 1.25
    with pytest.raises(ValueError, match=r"shard=\(4, 4\) must be \(i, n\)"):
        pool.shard_models(models, (4, 4))


def test_cli_class_pool(two_machines, tmp_path, capsys):
    out = tmp_path / "class.csv"
    code = cli.main(["class", "pool", *map(str, two_machines), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "8 runs from 2 files on 1 machine(s)" in text and "calibrated against resnet18" in text
    assert "no hardware, torch_version column" in text
    assert cli.main(["class", "pool", str(tmp_path / "missing.csv")]) == 2


def test_cli_sweep_zoo_shard_lists_its_share(tmp_path, capsys):
    code = cli.main(["sweep", "--zoo", "paper-cpu", "--shard", "1/8", "--dataset",
                     str(tmp_path / "missing.npz"), "--epochs", "1", "--out",
                     str(tmp_path / "r.csv")])
    out = capsys.readouterr().out
    assert "models in this shard (with the reference resnet18): resnet18," in out
    assert code == 2  # the dataset file is missing: nothing trained
    assert cli.main(["sweep", "--dataset", "breastmnist"]) == 2  # neither --models nor --zoo


def test_simulated_class_recovers_the_single_table_after_calibration(tmp_path):
    from peprkit import add_pepr, paper

    raw = paper.make_example_results(n_models=24, experiments=("derma_pt", "derma"))
    sim = pool.simulate_class(raw, tmp_path, n_learners=4, noise=0.0)
    pooled = pool.pool_results(sim.paths, reference=sim.reference)
    assert pooled["machine"].nunique() == 4 and pooled["synthetic"].all()
    per = pool.per_model(pooled)
    cal = add_pepr(per, performance="test_acc", resources={"e": "energy_rel"},
                   by=["dataset", "pretrained"])
    raw_kwh = add_pepr(per, performance="test_acc", resources={"e": "energy_kwh"},
                       by=["dataset", "pretrained"])
    truth = paper.paper_pepr(raw).set_index(["dataset", "model"])["pepr_e"]
    for pretrained, exp in ((True, "derma_pt"), (False, "derma")):
        mine = cal[cal["pretrained"] == pretrained].set_index("model")["pepr_e"]
        np.testing.assert_allclose(mine, truth.loc[exp].loc[mine.index], rtol=1e-9)
        wrong = raw_kwh[raw_kwh["pretrained"] == pretrained].set_index("model")["pepr_e"]
        assert not np.allclose(wrong, truth.loc[exp].loc[wrong.index])  # machines differ
