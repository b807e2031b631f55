"""peprkit.train: baselines beside accuracies, CPU time, honest early stopping, run folders."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import schema  # noqa: E402
from peprkit import train as T  # noqa: E402
from peprkit.data import load_npz, make_synthetic  # noqa: E402
from peprkit.meter import EnergyMeter  # noqa: E402
from peprkit.metric import majority_accuracy  # noqa: E402
from peprkit.train import _loop as L  # noqa: E402

MODEL = "resnet18"
#: Mechanism tests train from random weights on the fine-tuning recipe (28 px, cheap); the
#: scratch recipe's own settings are checked once, in the first test.
MECHANICS = {"pretrained": False, "recipe": "finetune"}


def _meter():
    return EnergyMeter(intensity_g_per_kwh=100.0, gpu=False, rapl_root="/nonexistent")


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Three unbalanced classes (the training split's mode differs from chance 1/3)."""
    path = make_synthetic(tmp_path_factory.mktemp("syn3") / "syn.npz", n_classes=3, n_train=60,
                          n_val=15, n_test=30, size=28)
    return load_npz(path)


def test_every_row_carries_baselines_balanced_scores_and_cpu_time(three):
    meter = _meter()
    run = T.finetune(MODEL, three, epochs=2, pretrained=False, batch_size=16, meter=meter,
                     quiet=True)
    h, s = run.history, run.summary.iloc[0]
    assert list(h.columns) == list(schema.HISTORY_COLUMNS)
    assert list(run.summary.columns) == list(schema.SUMMARY_COLUMNS)
    majority = majority_accuracy(three.train.labels.numpy(), three.test.labels.numpy())
    assert (h["majority_acc"] == majority).all() and s["majority_acc"] == majority
    assert h["test_balanced_acc"].between(0, 1).all() and h["test_auc"].between(0, 1).all()
    # CPU seconds are cumulative, positive, and reported beside wall time
    assert h["train_cpu_s"].iloc[1] > h["train_cpu_s"].iloc[0] > 0
    assert s["train_cpu_s"] == h["train_cpu_s"].iloc[1] and s["train_time_s"] > 0
    assert s["epochs_run"] == 2 and s["pepr_best_epoch"] is None
    assert (s["lr"], s["batch_size"], s["optimizer"]) == (5e-3, 16, "adamw")  # scratch recipe
    # the wall-clock total is the meter's laps added up
    assert h["time_s"].iloc[1] == pytest.approx(sum(lap.duration_s for lap in meter.laps))
    assert h["energy_kwh"].iloc[1] == pytest.approx(sum(lap.energy_kwh for lap in meter.laps))
    assert h["memory_source"].iloc[0] == "process-rss-increase:measured:kernel-peak-rss"
    assert 0 < s["memory_gb"] < 2.0


def test_evaluate_gives_the_scores_of_the_history(three):
    run = T.finetune(MODEL, three, epochs=1, **MECHANICS, batch_size=16, meter=False,
                     quiet=True)
    scores = T.evaluate(run.model, three)
    last = run.history.iloc[-1]
    assert scores.acc == pytest.approx(last["test_acc"])
    assert scores.balanced_acc == pytest.approx(last["test_balanced_acc"])
    assert scores.auc == pytest.approx(last["test_auc"])
    with pytest.raises(ValueError, match=r"split='dev' must be 'test', 'val' or 'train'"):
        T.evaluate(run.model, three, split="dev")


def test_a_run_at_the_majority_baseline_warns_once_in_plain_words(three, monkeypatch):
    majority = majority_accuracy(three.train.labels.numpy(), three.test.labels.numpy())
    monkeypatch.setattr(L, "evaluate_split",
                        lambda *a, **k: L.Scores(majority + 0.005, 0.5, 0.5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        T.finetune(MODEL, three, epochs=2, **MECHANICS, batch_size=16, meter=False,
                   quiet=True)
    chance = [w for w in caught if issubclass(w.category, T.ChanceLevelWarning)]
    assert len(chance) == 1
    assert "always answering the most common class" in str(chance[0].message)


def test_a_run_above_the_baseline_does_not_warn(three, monkeypatch):
    monkeypatch.setattr(L, "evaluate_split", lambda *a, **k: L.Scores(0.99, 0.99, 0.99))
    with warnings.catch_warnings():
        warnings.simplefilter("error", T.ChanceLevelWarning)
        T.finetune(MODEL, three, epochs=1, **MECHANICS, batch_size=16, meter=False,
                   quiet=True)


def test_early_stop_restores_the_pepr_best_epoch(three, tmp_path):
    # a budget far below one epoch's energy: PePR falls every epoch, so epoch 1 is best
    run = T.finetune(MODEL, three, epochs=6, **MECHANICS, batch_size=16, meter=_meter(),
                     early_stop="pepr", patience=2, budget_kwh=1e-9, run_dir=tmp_path,
                     quiet=True)
    h, s = run.history, run.summary.iloc[0]
    assert run.status == "early-stopped" and len(h) == 3
    assert s["epochs_run"] == 3 and s["pepr_best_epoch"] == 1 == run.pepr_best_epoch
    best = h[h["epoch"] == 1].iloc[0]
    for col in ("test_acc", "test_auc", "test_balanced_acc", "val_acc"):
        assert s[col] == best[col]
    assert s["energy_kwh"] == h["energy_kwh"].iloc[-1] > best["energy_kwh"]  # all epochs paid
    assert s["train_time_s"] == h["time_s"].iloc[-1]
    # the model holds the best epoch's weights: evaluating it gives the summary's scores
    scores = T.evaluate(run.model, three)
    assert scores.acc == pytest.approx(s["test_acc"]) and scores.auc == pytest.approx(s["test_auc"])
    assert (tmp_path / T.BEST).is_file()
    # a finished early-stopped run comes back as it was, without training on
    again = T.finetune(MODEL, three, epochs=6, **MECHANICS, batch_size=16, meter=_meter(),
                       early_stop="pepr", patience=2, budget_kwh=1e-9, run_dir=tmp_path,
                       quiet=True)
    assert again.status == "early-stopped" and again.history.equals(h)
    assert T.evaluate(again.model, three).auc == pytest.approx(s["test_auc"])


def test_run_root_keys_the_folder_by_the_settings(three, tmp_path):
    first = T.finetune(MODEL, three, epochs=1, **MECHANICS, batch_size=16, meter=False,
                       run_root=tmp_path, quiet=True)
    assert first.run_dir.parent == tmp_path
    assert first.run_dir.name == "resnet18_synthetic28_scratch_f1_s0_e1_lr0.0005_b16_adam"
    # a changed setup starts a new run instead of stopping with "holds a different run"
    other = T.finetune(MODEL, three, epochs=1, **MECHANICS, batch_size=16, lr=1e-3,
                       meter=False, run_root=tmp_path, quiet=True)
    assert other.run_dir != first.run_dir and len(list(tmp_path.iterdir())) == 2
    # an unchanged setup resumes (here: is already finished, so nothing is metered)
    meter = _meter()
    again = T.finetune(MODEL, three, epochs=1, **MECHANICS, batch_size=16, meter=meter,
                       run_root=tmp_path, quiet=True)
    assert again.history.equals(first.history) and meter.laps == []
    with pytest.raises(ValueError, match=r"run_dir=.* and run_root=.*: pass one"):
        T.finetune(MODEL, three, run_dir=tmp_path, run_root=tmp_path, quiet=True)


def test_schema_describes_every_column():
    for col in (*schema.HISTORY_COLUMNS, *schema.SUMMARY_COLUMNS):
        assert schema.COLUMNS[col].description
    for col in schema.RESOURCES.values():
        assert schema.COLUMNS[col].unit and col.endswith(("_kwh", "_g", "_gb", "_s"))
    for col in ("energy_kwh", "co2_g", "memory_gb", "cpu_kwh"):
        assert set(schema.COLUMNS[col].source.split(", ")) <= set(schema.SOURCE_COLUMNS)
    assert schema.describe("memory_gb").startswith("memory_gb [GB]")
    with pytest.raises(ValueError, match=r"column='memory' is not in the results schema"):
        schema.describe("memory")
