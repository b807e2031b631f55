"""The usual slips of lessons 00, 01, 02, 05, 06 and 07 get the hint written for them: a
self-check never crashes on a learner's error (it turns it into that hint), and a choice
made on the test split, on a run at chance, or with the wrong set, order or scale is named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peprkit import checks, paper
from peprkit.checks import CheckFailed, _common
from peprkit.course.hidden import lesson01 as hidden01
from peprkit.metric import add_pepr
from peprkit.schema import RESOURCES


def _hint(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as err:
        check(*args, **kwargs)
    return str(err.value)


# --- a learner's error becomes a hint, never a crash ---------------------------------------
def test_result_of_turns_any_error_into_the_hint_for_that_slip():
    def broken(x):
        return {}[x]

    message = _hint(_common.result_of, broken, "f", 1, slips={ZeroDivisionError: "zero!"})
    assert "`f` raised KeyError" in message
    with pytest.raises(CheckFailed, match="zero!") as err:
        _common.result_of(lambda x: 1 / x, "f", 0, slips={ArithmeticError: "zero!"})
    assert isinstance(err.value.__cause__, ZeroDivisionError)  # kept for a debugger


def test_result_of_lets_the_kits_own_hints_and_interrupts_through():
    def refused(x):
        raise checks.ByHand("peprkit.pepr is the kit's own function")

    with pytest.raises(checks.ByHand, match="kit's own function"):
        _common.result_of(refused, "f", 1)

    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _common.result_of(interrupted, "f", 1)


# --- lesson 01 -----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("slip", [
    lambda p, r: p / r,  # the forgotten 1 +: R = 0 divides by zero
    lambda p, r: np.float64(p) / r,  # the same in numpy: inf, no error
    lambda p, r: p / r if r else p / 0,
], ids=["python", "numpy", "only-at-zero"])
def test_l01_forgotten_one_plus_gets_its_hint(slip):
    assert "did you forget the 1 + in the denominator?" in _hint(checks.lesson01.q2, slip)


def test_l01_forgotten_one_plus_in_the_hidden_test_fails_without_crashing():
    with pytest.raises(CheckFailed, match=r"forget the 1 \+ in the denominator"):
        hidden01.hidden_q2(lambda p, r: p / r, rng=np.random.default_rng(0))


def test_l01_other_slips():
    assert "percentage" in _hint(checks.lesson01.q2, lambda p, r: 100 * p / (1 + r))
    assert "divided by zero" in _hint(
        checks.lesson01.q1, lambda v: [(x - min(v)) / (max(v) - max(v)) for x in v])
    assert "raised AttributeError" in _hint(checks.lesson01.q1, lambda v: v.min())
    table = pd.DataFrame({"model": ["a", "b", "c"], "test_acc": [0.9, 0.8, 0.7],
                          "energy_kwh": [3.0, 1.0, 2.0]})
    scored = add_pepr(table, performance="test_acc", resources={"e": "energy_kwh"})
    by_pepr = list(scored.sort_values("pepr_e", ascending=False)["model"])
    assert "reversed" in _hint(checks.lesson01.q3, ["c", "b", "a"], by_pepr, table=table)
    opts = {"table": table, "model": "c", "drop": "a", "budget_kwh": 2.0}
    with_a, without_a, budget = 0.7 / 1.5, 0.7 / 2, 0.7 / 2  # R = 0.5, 1 and 2 kWh / 2 kWh
    checks.lesson01.q4(with_a, without_a, budget, budget, **opts)
    assert "other set" in _hint(checks.lesson01.q4, without_a, with_a, budget, budget, **opts)


# --- lesson 00 and 02 ----------------------------------------------------------------------
def test_l00_slips():
    class Reading:
        sources = {"cpu": "estimated:cpu-time", "gpu": "measured:nvml-energy-counter",
                   "ram": "estimated:ram-per-gb"}

    assert "joules" in _hint(checks.lesson00.q1, 300.0, power_w=15, duration_s=20)
    message = _hint(checks.lesson00.q2, "measured:nvml-energy-counter", reading=Reading())
    assert "label of the gpu's energy" in message


def test_l02_slips():
    opts = {"energy_kwh": 0.01, "intensity_g_per_kwh": 100.0, "pue": 1.5}
    assert "kilograms" in _hint(checks.lesson02.q1, 1.5 / 1000, **opts)

    class Run:
        def __init__(self, energies):
            self.history = pd.DataFrame({"energy_kwh": energies})

    runs = {"run_small": Run([0.01, 0.02]), "run_large": Run([0.005, 0.01]), "n_images": 50}
    assert "swapped" in _hint(checks.lesson02.q2, 0.01 / 50, 0.02 / 50, **runs)


# --- lesson 05 -----------------------------------------------------------------------------
def _sweep() -> pd.DataFrame:
    """a: the best PePR on validation among runs that learned; b: the best on the test
    split; c: the cheapest, at chance (0.737 against 0.731, as offline on BreastMNIST)."""
    return pd.DataFrame({"model": ["a", "b", "c"], "dataset": "breastmnist", "seed": 0,
                         "val_acc": [0.86, 0.80, 0.78], "test_acc": [0.80, 0.86, 0.737],
                         "majority_acc": 0.731, "train_time_s": [20.0, 20.0, 5.0],
                         **{c: [2.0, 2.0, 1.0] for c in RESOURCES.values()
                            if c != "train_time_s"}})


def test_l05_choice_slips():
    runs = _sweep()
    checks.lesson05.q2({k: "a" for k in RESOURCES}, results=runs)
    on_test = {k: "b" for k in RESOURCES}
    assert "chosen on the test split" in _hint(checks.lesson05.q2, on_test, results=runs)
    at_chance = _hint(checks.lesson05.q2, {k: "c" for k in RESOURCES}, results=runs)
    assert "this run never beat always answering the majority class" in at_chance
    assert "0.731" in at_chance
    nobody = runs.assign(test_acc=[0.735, 0.72, 0.737])
    checks.lesson05.q2(None, results=nobody)
    assert "`deploy = None`" in _hint(checks.lesson05.q2, {k: "a" for k in RESOURCES},
                                      results=nobody)
    assert "choose among those runs" in _hint(checks.lesson05.q2, None, results=runs)


def test_l05_pepr_t_slips():
    runs = _sweep()
    right = add_pepr(runs, performance="test_acc", resources={"t": "train_time_s"},
                     by="dataset")["pepr_t"]
    assert "percentage" in _hint(checks.lesson05.q1, 100 * right, results=runs)
    on_val = add_pepr(runs, performance="val_acc", resources={"t": "train_time_s"},
                      by="dataset")["pepr_t"]
    assert "reproduces the paper's PePR-T" in _hint(checks.lesson05.q1, on_val, results=runs)


# --- lesson 06 -----------------------------------------------------------------------------
def test_l06_slips():
    raw = paper.make_example_results(n_models=6)
    rows = raw[raw["dataset"] == "derma"]
    right = paper.paper_pepr(raw).loc[rows.index, "pepr_e"]
    assert "percentage" in _hint(checks.lesson06.q1, 100 * right, results=raw,
                                 experiment="derma")
    e = raw["energy"]
    whole = rows["test_09"] / (1 + (rows["energy"] - e.min()) / (e.max() - e.min()))
    assert "over all experiments" in _hint(checks.lesson06.q1, whole, results=raw,
                                           experiment="derma")


# --- lesson 07 -----------------------------------------------------------------------------
def _clinic() -> pd.DataFrame:
    t = _sweep().drop(columns=["dataset", "seed"]).assign(num_params=[1e6, 2e6, 5e5],
                                                          memory_gb=1.0)
    return t.assign(co2_clinic_g=t["energy_kwh"] * 100.0,
                    pepr_e=t["val_acc"] / (1 + t["energy_kwh"] / 3.0))


def test_l07_slips():
    t = _clinic()
    opts = {"budget_kwh": 3.0, "intensity_g_per_kwh": 100.0}
    checks.lesson07.q1(t, **opts)
    on_test = t.assign(pepr_e=t["test_acc"] / (1 + t["energy_kwh"] / 3.0))
    assert "P is the validation accuracy" in _hint(checks.lesson07.q1, on_test, **opts)
    assert "percentage" in _hint(checks.lesson07.q1, t.assign(pepr_e=100 * t["pepr_e"]), **opts)
    budgets = {"energy_budget_kwh": 3.0, "memory_budget_gb": 2.0}
    checks.lesson07.q3("a", table=t, **budgets)
    assert "chosen on the test split" in _hint(checks.lesson07.q3, "b", table=t, **budgets)
    assert "this run never beat always answering" in _hint(checks.lesson07.q3, "c", table=t,
                                                           **budgets)
