"""peprkit.train: history/summary schema, resume without double counting, early stop."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import train as T  # noqa: E402
from peprkit.data import load_medmnist, load_npz, make_synthetic  # noqa: E402
from peprkit.meter import EnergyMeter  # noqa: E402
from peprkit.schema import RUN_KEY  # noqa: E402
from peprkit.train import _loop as L  # noqa: E402

MODEL = "resnet18"
HISTORY = ["epoch", "train_loss", "train_acc", "val_acc", "test_acc", "test_auc", "time_s",
           "energy_kwh", "gpu_kwh", "cpu_kwh", "ram_kwh", "co2_g", "memory_gb", "memory_source",
           "gpu_source", "cpu_source", "ram_source"]
SCHEMA = ["model", "dataset", "size", "input_size", "pretrained", "fraction", "seed", "epochs",
          "num_params", "test_acc", "test_auc", "val_acc", "energy_kwh", "co2_g", "memory_gb",
          "memory_source", "train_time_s", "device", "synthetic", "gpu_source", "cpu_source",
          "ram_source"]


def _meter():
    return EnergyMeter(intensity_g_per_kwh=100.0, gpu=False, rapl_root="/nonexistent")


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    path = make_synthetic(tmp_path_factory.mktemp("syn") / "syn.npz", n_classes=2, n_train=64,
                          n_val=16, n_test=16, size=28)
    return load_npz(path)


#: Tests of run mechanics (interrupt, run folder, checkpoint, early stop) train from random
#: weights with the fine-tuning recipe: 28 px, a quarter of the scratch recipe's pixels.
MECHANICS = {"pretrained": False, "recipe": "finetune"}


def test_history_and_summary_schema(syn):
    run = T.finetune(MODEL, syn, epochs=2, pretrained=False, batch_size=16, meter=_meter(),
                     quiet=True)
    h = run.history
    assert list(h.columns[: len(HISTORY)]) == HISTORY and list(h["epoch"]) == [1, 2]
    assert (h["metered"] == "train+eval").all() and run.status == "completed"
    assert h["train_loss"].iloc[1] < h["train_loss"].iloc[0]
    for col in ("time_s", "energy_kwh", "cpu_kwh", "co2_g"):
        assert h[col].iloc[1] > h[col].iloc[0] > 0  # cumulative
    assert h["gpu_kwh"].isna().all() and (h["gpu_source"] == "unavailable").all()
    assert (h["cpu_source"] == "estimated:cpu-time").all()
    assert h["memory_gb"].iloc[0] > 0 and h["memory_source"].iloc[0].startswith("process-rss")
    assert h["co2_g"].iloc[1] == pytest.approx(h["energy_kwh"].iloc[1] * 100.0)
    assert 0.0 <= h["test_auc"].iloc[1] <= 1.0
    s = run.summary
    assert list(s.columns[: len(SCHEMA)]) == SCHEMA and len(s) == 1
    row = s.iloc[0]
    assert row["model"] == MODEL and row["dataset"] == "synthetic" and bool(row["synthetic"])
    assert row["input_size"] == T.RECIPES["scratch"]["min_input_size"] == 64  # scratch recipe
    assert not row["pretrained"] and row["epochs"] == 2
    assert row["train_time_s"] == h["time_s"].iloc[1] and row["weights"] == "random init"
    assert set(RUN_KEY) <= set(s.columns)


def test_meter_off_is_labelled_not_zero(syn):
    run = T.finetune(MODEL, syn, epochs=1, pretrained=False, batch_size=32, meter=False,
                     quiet=True)
    row = run.history.iloc[0]
    assert math.isnan(row["energy_kwh"]) and row["cpu_source"] == "unavailable:meter-off"
    assert run.summary.iloc[0]["metered"] == "off"


def test_small_input_is_resized_and_recorded(syn):
    run = T.finetune("ese_vovnet19b_dw", syn, epochs=1, pretrained=False, batch_size=32,
                     meter=False, quiet=True, recipe="finetune")  # no minimum input size
    assert run.summary.iloc[0]["input_size"] == 32 and run.summary.iloc[0]["size"] == 28


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(epochs=0), r"epochs=0 must be a whole number >= 1"),
        (dict(lr=-1.0), r"lr=-1.0 must be a positive number"),
        (dict(recipe="fast"), r"recipe='fast' must be .*'scratch'"),
        (dict(batch_size=1), r"batch_size=1 must be a whole number >= 2"),
        (dict(optimizer="adamm"), r"optimizer='adamm' .*Did you mean: adam"),
        (dict(amp="yes"), r"amp='yes' must be 'auto', True or False"),
        (dict(amp=True, device="cpu"), r"amp=True needs a CUDA device"),
        (dict(early_stop="energy"), r"early_stop='energy' must be None or 'pepr'"),
        (dict(early_stop="pepr"), r"budget_kwh=None: early_stop='pepr' needs"),
        (dict(early_stop="pepr", budget_kwh=1.0, patience=0), r"patience=0 must be"),
        (dict(early_stop="pepr", budget_kwh=1.0, meter=False), r"meter=False: early_stop"),
        (dict(device="gpu0"), r"device='gpu0' is not a torch device"),
        (dict(threads=0), r"threads=0 must be None \(the cores of this machine\) or a whole"),
    ],
)
def test_bad_options_raise_valueerror(syn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.finetune(MODEL, syn, pretrained=False, quiet=True, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda(syn):
    with pytest.raises(ValueError, match=r"device='cuda' but CUDA is not available"):
        T.finetune(MODEL, syn, pretrained=False, device="cuda", quiet=True)


def test_interrupt_keeps_epochs_and_resume_does_not_double_count(syn, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    real_epoch = L.train_epoch
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(L, "train_epoch", flaky)
    first = T.finetune(MODEL, syn, epochs=3, **MECHANICS, batch_size=16, meter=_meter(),
                       run_dir=run_dir, quiet=True)
    assert first.status == "interrupted" and list(first.history["epoch"]) == [1]
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "history.csv"]
    monkeypatch.setattr(L, "train_epoch", real_epoch)

    meter = _meter()
    second = T.finetune(MODEL, syn, epochs=3, **MECHANICS, batch_size=16, meter=meter,
                        run_dir=run_dir, quiet=True)
    h = second.history
    assert second.status == "completed" and list(h["epoch"]) == [1, 2, 3]
    assert [lap.label for lap in meter.laps] == ["epoch 2", "epoch 3"]  # epoch 1 not redone
    stored = first.history.iloc[0]
    assert h["energy_kwh"].iloc[0] == stored["energy_kwh"]
    new_kwh = sum(lap.energy_kwh for lap in meter.laps)
    assert h["energy_kwh"].iloc[2] == pytest.approx(stored["energy_kwh"] + new_kwh)
    assert h["time_s"].iloc[2] > h["time_s"].iloc[1] > h["time_s"].iloc[0]
    # a finished run_dir returns at once, without training or metering
    again = T.finetune(MODEL, syn, epochs=3, **MECHANICS, batch_size=16, meter=_meter(),
                       run_dir=run_dir, quiet=True)
    assert again.history.equals(h)


def test_resume_matches_an_uninterrupted_run(syn, tmp_path):
    whole = T.finetune(MODEL, syn, epochs=2, pretrained=False, batch_size=16, meter=False,
                       run_dir=tmp_path / "a", quiet=True)
    T.finetune(MODEL, syn, epochs=1, pretrained=False, batch_size=16, meter=False,
               run_dir=tmp_path / "b", quiet=True)
    resumed = T.finetune(MODEL, syn, epochs=2, pretrained=False, batch_size=16, meter=False,
                         run_dir=tmp_path / "b", quiet=True)
    for col in ("train_loss", "val_acc", "test_acc"):
        assert resumed.history[col].tolist() == pytest.approx(whole.history[col].tolist())


def test_run_dir_of_another_run_is_refused(syn, tmp_path):
    T.finetune(MODEL, syn, epochs=1, **MECHANICS, batch_size=16, meter=False,
               run_dir=tmp_path, quiet=True)
    with pytest.raises(ValueError, match=r"holds a different run .*'lr'"):
        T.finetune(MODEL, syn, epochs=2, lr=1e-3, **MECHANICS, batch_size=16, meter=False,
                   run_dir=tmp_path, quiet=True)


def test_checkpoint_is_written_atomically(syn, tmp_path, monkeypatch):
    T.finetune(MODEL, syn, epochs=1, **MECHANICS, batch_size=32, meter=False,
               run_dir=tmp_path, quiet=True)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        T.finetune(MODEL, syn, epochs=2, **MECHANICS, batch_size=32, meter=False,
                   run_dir=tmp_path, quiet=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    state = torch.load(io.BytesIO(before), weights_only=True)
    assert len(state["history"]) == 1


def test_pepr_early_stop_records_the_optimum(syn, monkeypatch):
    monkeypatch.setattr(L, "evaluate_split", lambda *a, **k: L.Scores(0.8, 0.8, 0.9))  # flat
    run = T.finetune(MODEL, syn, epochs=6, **MECHANICS, batch_size=32, meter=_meter(),
                     early_stop="pepr", patience=2, budget_kwh=1e-6, quiet=True)
    h = run.history
    assert run.status == "early-stopped" and len(h) == 3 and run.pepr_best_epoch == 1
    assert run.summary.iloc[0]["pepr_best_epoch"] == 1
    expected = 0.8 / (1 + h["energy_kwh"] / 1e-6)
    assert np.allclose(h["pepr_budget"], expected) and h["pepr_budget"].is_monotonic_decreasing


def test_multilabel_task_trains_with_bce(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 14), dtype=np.uint8)
    np.savez(tmp_path / "chestmnist.npz", **arrays)
    data = load_medmnist("chestmnist", root=tmp_path, download=False)
    run = T.finetune(MODEL, data, epochs=1, pretrained=False, batch_size=8, meter=False,
                     quiet=True)
    row = run.history.iloc[0]
    assert 0.0 <= row["train_acc"] <= 1.0 and 0.0 <= row["test_acc"] <= 1.0
    assert 0.0 <= row["test_auc"] <= 1.0 and run.summary.iloc[0]["task"].startswith("multi-label")


def test_pretrained_run_uses_local_weights(syn, tmp_path, monkeypatch):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    import timm

    source = timm.create_model(MODEL, pretrained=False)
    safetensors_torch.save_file({k: v.contiguous() for k, v in source.state_dict().items()},
                                str(tmp_path / f"{MODEL}.safetensors"))
    monkeypatch.setenv("PEPRKIT_WEIGHTS_DIR", str(tmp_path))
    run = T.finetune(MODEL, syn, epochs=1, pretrained=True, batch_size=32, meter=False,
                     quiet=True)
    row = run.summary.iloc[0]
    assert bool(row["pretrained"]) and row["weights"] == str(tmp_path / f"{MODEL}.safetensors")


def test_pretrained_offline_without_weights_fails_loudly(syn, tmp_path, monkeypatch):
    from peprkit.models import WeightsNotFoundError

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFoundError, match="pretrained=False"):
        T.finetune(MODEL, syn, epochs=1, pretrained=True, quiet=True)


def test_real_breastmnist_from_scratch_beats_majority(breastmnist_path):
    """Five epochs of regnetx_002 (the cheapest model of models.LEARNS_FROM_SCRATCH) on the
    scratch recipe beat always answering the majority class."""
    data = load_medmnist("breastmnist", root=breastmnist_path.parent, download=False)
    majority = max(np.bincount(data.test.labels.numpy())) / len(data.test)
    assert majority == pytest.approx(0.7308, abs=1e-3)
    run = T.finetune("regnetx_002", data, epochs=5, pretrained=False, meter=False, quiet=True,
                     seed=0)
    assert run.conditions["recipe"] == "scratch"
    assert run.history["test_acc"].iloc[-1] > majority
    assert run.history["test_auc"].iloc[-1] > 0.7
