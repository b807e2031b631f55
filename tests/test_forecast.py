"""Forecasts before the spend: a run's after epoch 1, a sweep's after its first run; limits."""

from __future__ import annotations

import itertools
import math
import warnings

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import sweep as S  # noqa: E402
from peprkit import train as T  # noqa: E402
from peprkit.data import load_npz, make_synthetic  # noqa: E402
from peprkit.meter import EnergyMeter  # noqa: E402
from peprkit.train import _forecast as F  # noqa: E402

MODEL = "resnet18"
#: Fast run mechanics (see tests/test_train.py): random weights, 28 px.
MECHANICS = {"pretrained": False, "recipe": "finetune", "batch_size": 16}
EPOCH_S = 10.0  # every fake epoch lasts 10 s at 36 W: 1e-4 kWh
WATTS = 36.0


class _FakeCpu:
    """A CPU energy reader drawing a constant 36 W on the fake clock."""

    component, source, error, whole_device = "cpu", "estimated:fake-36w", None, False

    def __init__(self) -> None:
        self.first: float | None = None

    def read_j(self, now_s: float) -> float:
        self.first = now_s if self.first is None else self.first
        return (now_s - self.first) * WATTS


def _meter() -> EnergyMeter:
    """A meter whose every lap lasts 10 fake seconds (the clock moves once per reading)."""
    ticks = itertools.count(0.0, EPOCH_S)
    return EnergyMeter(intensity_g_per_kwh=100.0, gpu=False, ram=False, interval_s=1e6,
                       cpu_reader=_FakeCpu(), clock=lambda: next(ticks),
                       rapl_root="/nonexistent")


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    path = make_synthetic(tmp_path_factory.mktemp("syn") / "syn.npz", n_classes=2, n_train=32,
                          n_val=8, n_test=8, size=28)
    return load_npz(path)


def test_the_run_forecast_is_epoch_one_scaled_and_labelled(syn, capsys):
    run = T.finetune(MODEL, syn, epochs=3, **MECHANICS, meter=_meter())
    assert "forecast for all 3 epochs (epoch 1 x 3; a forecast, not a measurement): " \
        "30 s, 0.0003 kWh, 0.03 gCO2eq" in capsys.readouterr().out
    row = run.summary.iloc[0]
    assert row["forecast_time_s"] == pytest.approx(3 * EPOCH_S)
    assert row["forecast_energy_kwh"] == pytest.approx(3e-4)
    assert row["forecast_co2_g"] == pytest.approx(3e-4 * 100.0)
    assert row["forecast_source"] == ("forecast:epoch-1-x3[cpu=estimated:fake-36w;"
                                      "gpu=unavailable;ram=unavailable]")
    assert row["train_time_s"] == pytest.approx(3 * EPOCH_S)  # the fake epochs cost alike


@pytest.mark.filterwarnings("ignore::peprkit.train.ChanceLevelWarning")
def test_without_a_meter_the_energy_forecast_is_unknown_not_zero(syn):
    run = T.finetune(MODEL, syn, epochs=1, **MECHANICS, meter=False, quiet=True)
    row = run.summary.iloc[0]
    assert math.isnan(row["forecast_energy_kwh"]) and row["forecast_time_s"] > 0
    assert "cpu=unavailable:meter-off" in row["forecast_source"]


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(max_time_s=0), r"max_time_s=0 must be None \(no limit\) or a positive number"),
    (dict(max_energy_kwh="1"), r"max_energy_kwh='1' must be None"),
    (dict(max_energy_kwh=1e-3, meter=False), r"max_energy_kwh needs the energy meter"),
])
def test_bad_limits_raise_valueerror(syn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.finetune(MODEL, syn, epochs=1, **MECHANICS, quiet=True, **kwargs)
    with pytest.raises(ValueError, match=match):
        S.run_sweep([MODEL], syn, epochs=1, quiet=True, isolate=False, **kwargs)


def test_a_budget_stop_then_resume_matches_an_uninterrupted_run(syn, tmp_path):
    whole = T.finetune(MODEL, syn, epochs=4, **MECHANICS, meter=_meter(), quiet=True,
                       run_dir=tmp_path / "whole")
    with pytest.warns(F.OverBudgetWarning, match=r"stopped before epoch 3/4: spent 20 s \+ "
                      r"10 s forecast for the next epoch .* > max_time_s=25.*rerun with a "
                      r"higher limit with run_dir="):
        stopped = T.finetune(MODEL, syn, epochs=4, **MECHANICS, meter=_meter(), quiet=True,
                             run_dir=tmp_path / "cut", max_time_s=25)
    assert stopped.status == "over_budget" and len(stopped.history) == 2
    assert stopped.summary.iloc[0]["status"] == "over_budget"
    with pytest.warns(F.OverBudgetWarning, match=r"before epoch 3/4"):  # same limit: no epoch
        again = T.finetune(MODEL, syn, epochs=4, **MECHANICS, meter=_meter(), quiet=True,
                           run_dir=tmp_path / "cut", max_energy_kwh=2.5e-4)
    assert again.status == "over_budget" and len(again.history) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", F.OverBudgetWarning)
        resumed = T.finetune(MODEL, syn, epochs=4, **MECHANICS, meter=_meter(), quiet=True,
                             run_dir=tmp_path / "cut", max_time_s=45)
    assert resumed.status == "completed"
    for col in ("epoch", "train_loss", "val_acc", "test_acc", "time_s", "energy_kwh"):
        assert resumed.history[col].tolist() == pytest.approx(whole.history[col].tolist())


def test_next_epoch_over_uses_the_mean_epoch_and_every_limit():
    rows = [{"time_s": 10.0, "energy_kwh": 1e-4}, {"time_s": 30.0, "energy_kwh": 2e-4}]
    assert F.next_epoch_over(rows, {"max_time_s": 45.0}) is None  # 30 + 15
    assert "max_time_s=44" in F.next_epoch_over(rows, {"max_time_s": 44.0})
    assert "max_energy_kwh=0.00029" in F.next_epoch_over(rows, {"max_energy_kwh": 2.9e-4})
    assert F.next_epoch_over([], {"max_time_s": 1.0}) is None
    nan = [{"time_s": 10.0, "energy_kwh": math.nan}]
    assert F.next_epoch_over(nan, {"max_energy_kwh": 1e-9}) is None  # unknown: not a reason


def test_sweep_forecast_scales_measured_runs_by_work_and_gflop():
    done = [{"model": "resnet18", "side": 28, "work": 100.0, "time_s": 10.0,
             "energy_kwh": 1e-4, "co2_g": 0.01}]
    todo = [{"model": "resnet18", "side": 28, "work": 200.0},
            {"model": "resnet18", "side": 56, "work": 100.0},
            {"model": "lcnet_050", "side": 28, "work": 100.0},
            {"model": "not_in_any_table", "side": 28, "work": 100.0}]
    rows = F.sweep_forecast(todo, done)
    gflop = F.EXTRA_GFLOP["lcnet_050"][1] / F.EXTRA_GFLOP["resnet18"][1]
    assert [r["forecast_time_s"] for r in rows] == pytest.approx([20.0, 40.0, 10 * gflop, 10.0])
    assert rows[0]["forecast_energy_kwh"] == pytest.approx(2e-4)
    assert [r["forecast_source"].split("(")[0] for r in rows] == [
        "forecast:measured-resnet18-x-images-x-epochs"] * 2 + [
        "forecast:measured-runs-x-train-gflop-per-image",
        "forecast:measured-runs-x-images-x-epochs"]
    empty = F.sweep_forecast(todo[:1], [])[0]
    assert math.isnan(empty["forecast_time_s"])
    assert empty["forecast_source"] == "unavailable:nothing-measured-yet"
    assert F.model_gflop("dla46_c", 32) == pytest.approx(0.067)  # from paper_zoo.csv
    assert F.model_gflop("deit_tiny_patch16_224", 28) == F.model_gflop(
        "deit_tiny_patch16_224", 224)  # fixed input size


@pytest.fixture
def fake_finetune(monkeypatch):
    """A stand-in for finetune: each epoch costs 10 s and 1e-4 kWh; honours max_time_s."""
    calls = []

    def fake(model, data, *, epochs, pretrained, seed, run_dir, quiet, **options):
        calls.append(dict(model=model, seed=seed, options=options))
        limit = options.get("max_time_s", math.inf)
        done = 0
        while done < epochs and not (done and (done + 1) * EPOCH_S > limit):
            done += 1
        status = "completed" if done == epochs else F.OVER_BUDGET
        row = {c: None for c in T.SUMMARY_COLUMNS}
        row.update(model=model, dataset=data.flag, size=data.size, input_size=28,
                   pretrained=pretrained, fraction=data.fraction, seed=seed, epochs=epochs,
                   epochs_run=done, train_time_s=done * EPOCH_S, energy_kwh=done * 1e-4,
                   co2_g=done * 1e-2, status=status, test_acc=0.5)
        return T.Run(history=pd.DataFrame(), summary=pd.DataFrame([row]), model=None,
                     status=status)

    monkeypatch.setattr(T, "finetune", fake)
    return calls


def test_a_sweep_forecasts_once_stops_before_its_limit_and_resumes(syn, tmp_path,
                                                                    fake_finetune, capsys):
    out = tmp_path / "r.csv"
    grid = dict(epochs=2, out=out, seeds=(0, 1, 2), pretrained=(False,), isolate=False,
                recipe="finetune")  # 28 px, as the fake's rows say
    with pytest.warns(F.OverBudgetWarning, match=r"sweep stopped at resnet18 \(seed 2.*spent "
                      r"40 s \+ 20 s forecast for the next run > max_time_s=50.*1 run\(s\) "
                      r"not done"):
        table = S.run_sweep([MODEL], syn, max_time_s=50, **grid)
    assert table["seed"].tolist() == [0, 1] and len(fake_finetune) == 2
    assert [c["options"]["max_time_s"] for c in fake_finetune] == [50, 30]  # what is left
    printed = capsys.readouterr().out
    assert printed.count("sweep forecast (a forecast, not a measurement) for 3 runs, 1 done: "
                         "60 s, 0.0006 kWh, 0.06 gCO2eq in all") == 1
    assert "resnet18 x2 to come: 40 s" in printed
    saved = pd.read_csv(tmp_path / "r_forecast.csv")
    assert saved["seed"].tolist() == [1, 2] and saved["forecast_time_s"].tolist() == [20, 20]
    assert saved["forecast_source"].str.startswith("forecast:").all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", F.OverBudgetWarning)
        table = S.run_sweep([MODEL], syn, max_time_s=60, quiet=True, **grid)
    assert table["seed"].tolist() == [0, 1, 2]
    assert fake_finetune[-1]["options"]["max_time_s"] == 20


def test_a_run_stopped_by_the_sweep_limit_is_not_recorded(syn, tmp_path, fake_finetune):
    out = tmp_path / "r.csv"
    with pytest.warns(F.OverBudgetWarning, match=r"its next epoch would pass what is left"):
        table = S.run_sweep([MODEL], syn, epochs=3, out=out, pretrained=(False,),
                            isolate=False, quiet=True, max_time_s=15, recipe="finetune")
    assert table.empty and not out.exists()
