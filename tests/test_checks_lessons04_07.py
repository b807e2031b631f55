"""Self-checks of lessons 04-07: right answers pass, typical mistakes get a teaching hint,
blank answers get "still empty", and no hint prints the expected value."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from peprkit import paper
from peprkit.checks import lesson04, lesson05, lesson06, lesson07
from peprkit.examples import example_results
from peprkit.metric import add_pepr


def _fails(match: str, func, *args, secret=None, **kwargs) -> str:
    with pytest.raises(AssertionError, match=match) as err:
        func(*args, **kwargs)
    message = str(err.value)
    if secret is not None:
        for text in (f"{secret}", f"{secret:.3g}", f"{secret:.4f}"):
            assert text not in message, f"hint reveals the answer: {message}"
    return message


# --- lesson 04 --------------------------------------------------------------------------
@pytest.fixture
def history():
    return pd.DataFrame({"epoch": [1, 2, 3, 4], "val_acc": [0.60, 0.72, 0.81, 0.85],
                         "test_acc": [0.65, 0.82, 0.80, 0.84],
                         "energy_kwh": [0.011, 0.023, 0.034, 0.046]})


def test_lesson04_q1_right_and_never_reached(history):
    lesson04.q1(0.034, history=history, target=0.8)
    lesson04.q1(math.inf, history=history, target=0.9)
    lesson04.q1(0.011, history=history, target=0.5)


@pytest.mark.parametrize(("answer", "match"), [
    (..., "still empty"),
    ("0.034", "should be a single number in kWh"),
    (0.046, "energy of the whole run"),
    (0.011, "cumulative"),
    (0.023, "Decide with the validation accuracy"),
    (math.inf, "Some epoch of this run does reach the target"),
    (0.5, "not the energy at any epoch"),
])
def test_lesson04_q1_hints(history, answer, match):
    _fails(match, lesson04.q1, answer, history=history, target=0.8, secret=0.034)


def test_lesson04_q1_later_epoch_and_not_reached(history):
    longer = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "val_acc": [0.6, 0.72, 0.81, 0.85, 0.86],
                           "test_acc": 0.1, "energy_kwh": [0.011, 0.023, 0.034, 0.046, 0.06]})
    _fails("an earlier one already did", lesson04.q1, 0.046, history=longer, target=0.8,
           secret=0.034)
    _fails("still below the target", lesson04.q1, 0.023, history=longer, target=0.8,
           secret=0.034)
    _fails("no amount of this run's energy", lesson04.q1, 0.046, history=history, target=0.95)


def test_lesson04_q2():
    a, b = [0.81, 0.84, 0.86, 0.9], [0.7, 0.74, 0.8, 0.82]
    two = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    lesson04.q2(two, first=a, second=b)
    lesson04.q2(stats.mannwhitneyu(a, b).pvalue, first=a, second=b)
    _fails("one-sided", lesson04.q2, stats.mannwhitneyu(a, b, alternative="greater").pvalue,
           first=a, second=b, secret=two)
    _fails("t-test", lesson04.q2, stats.ttest_ind(a, b).pvalue,
           first=a, second=b, secret=two)
    _fails(r"probability, so it lies in \[0, 1\]", lesson04.q2, 3.0, first=a, second=b)
    _fails("still empty", lesson04.q2, ..., first=a, second=b)
    _fails("Not the p-value", lesson04.q2, 0.5, first=a, second=b, secret=two)


# --- lesson 05 --------------------------------------------------------------------------
@pytest.fixture
def runs():
    two = pd.concat([example_results(), example_results().assign(dataset="other")],
                    ignore_index=True)
    two.loc[8:, "train_time_s"] *= np.linspace(0.5, 3, 8)
    return two


def test_lesson05_q1(runs):
    expected = add_pepr(runs, performance="test_acc", resources={"t": "train_time_s"},
                        by="dataset")["pepr_t"]
    lesson05.q1(expected, results=runs)
    lesson05.q1(list(expected), results=runs)
    p, t = runs["test_acc"], runs["train_time_s"]
    _fails("not seconds", lesson05.q1, p / (1 + t), results=runs)
    _fails("longest time only", lesson05.q1, p / (1 + t / t.max()), results=runs)
    _fails("within each dataset", lesson05.q1,
           add_pepr(runs, performance="test_acc", resources={"t": "train_time_s"})["pepr_t"],
           results=runs)
    _fails("hold 16 values", lesson05.q1, expected[:3], results=runs)
    _fails("still empty", lesson05.q1, ..., results=runs)
    _fails("Not PePR-T yet", lesson05.q1, expected * 0.9, results=runs)


def test_lesson05_q1_val_acc_hint(runs):
    runs = runs.assign(val_acc=np.linspace(0.6, 0.9, len(runs)))
    wrong = add_pepr(runs, performance="val_acc", resources={"t": "train_time_s"},
                     by="dataset")["pepr_t"]
    _fails("not val_acc", lesson05.q1, wrong, results=runs)


def _zoo_runs(**over) -> pd.DataFrame:
    """Four runs of four models: a learned on validation's best PePR; b best on the test
    split; c the cheapest, at chance; d the most accurate on validation, expensive."""
    runs = pd.DataFrame({
        "model": ["a", "b", "c", "d"], "dataset": "breastmnist",
        "val_acc": [0.86, 0.80, 0.74, 0.90], "test_acc": [0.80, 0.86, 0.735, 0.84],
        "majority_acc": 0.731,
        **{col: [2.0, 2.0, 1.0, 9.0] for col in lesson05.RESOURCES.values()}})
    return runs.assign(**over)


def test_lesson05_q2_chooses_on_validation_among_runs_that_learned():
    runs = _zoo_runs()
    right = {k: "a" for k in "ecmt"}
    lesson05.q2(right, results=runs)
    lesson05.q2(right, scored=add_pepr(runs, performance="test_acc",
                                       resources=lesson05.RESOURCES))
    _fails("still empty", lesson05.q2, ..., results=runs)
    _fails("should be a dict", lesson05.q2, "a", results=runs)
    _fails(r"lacks the variant\(s\) \['m', 't'\]", lesson05.q2, {"e": "a", "c": "a"},
           results=runs)
    _fails("not a model of your table", lesson05.q2, {**right, "e": "resnet81"}, results=runs)
    _fails("chosen on the test split", lesson05.q2, {**right, "e": "b"}, results=runs)
    _fails("this run never beat always answering the majority class", lesson05.q2,
           {**right, "m": "c"}, results=runs)
    _fails("most accurate model on validation", lesson05.q2, {**right, "t": "d"}, results=runs)
    _fails("at least one run beat the majority baseline", lesson05.q2, None, results=runs)


def test_lesson05_q2_none_when_no_run_learned():
    runs = _zoo_runs(test_acc=[0.735, 0.70, 0.731, 0.74])
    lesson05.q2(None, results=runs)
    lesson05.q2({k: None for k in "ecmt"}, results=runs)
    message = _fails("nothing is worth deploying", lesson05.q2, {k: "a" for k in "ecmt"},
                     results=runs)
    assert "`deploy = None`" in message


def test_lesson05_q2_best_for_another_variant():
    runs = _zoo_runs(memory_gb=[2.0, 2.0, 1.0, 0.5], val_acc=[0.86, 0.80, 0.74, 0.78])
    _fails("best model for pepr_m, not for pepr_e", lesson05.q2,
           {"e": "d", "c": "a", "m": "d", "t": "a"}, results=runs)


# --- lesson 06 --------------------------------------------------------------------------
@pytest.fixture
def raw():
    return paper.make_example_results(n_models=10)


def test_lesson06_q1(raw):
    rows = raw[raw.dataset == "derma"]
    e = rows["energy"]
    right = rows["test_09"] / (1 + (e - e.min()) / (e.max() - e.min()))
    lesson06.q1(right, results=raw, experiment="derma")
    lesson06.q1(right.to_numpy(), results=raw, experiment="derma")
    _fails("not kWh as measured", lesson06.q1, rows["test_09"] / (1 + e), results=raw,
           experiment="derma")
    lo, hi = raw["energy"].min(), raw["energy"].max()
    _fails("over all experiments", lesson06.q1, rows["test_09"] / (1 + (e - lo) / (hi - lo)),
           results=raw, experiment="derma")
    _fails("largest energy only", lesson06.q1, rows["test_09"] / (1 + e / e.max()), results=raw,
           experiment="derma")
    r = (e - e.min()) / (e.max() - e.min())
    _fails("test_09", lesson06.q1, rows["test_05"] / (1 + r), results=raw, experiment="derma")
    _fails("hold 10 values", lesson06.q1, right[:5], results=raw, experiment="derma")
    _fails("Not PePR-E yet", lesson06.q1, right[::-1], results=raw, experiment="derma")


def test_lesson06_q2(raw):
    scored = paper.paper_pepr(raw)
    n_pepr, n_acc = lesson06.small_wins(scored, "pepr_e"), lesson06.small_wins(scored, "test_acc")
    lesson06.q2(n_pepr, n_acc, scored=scored)
    lesson06.q2(float(n_pepr), np.int64(n_acc), scored=scored)
    _fails("whole number", lesson06.q2, 1.5, n_acc, scored=scored)
    _fails("whole number", lesson06.q2, "three", n_acc, scored=scored)
    _fails("whole number", lesson06.q2, [3], n_acc, scored=scored)
    _fails("still empty", lesson06.q2, n_pepr, ..., scored=scored)
    _fails("between 0 and 4", lesson06.q2, 7, n_acc, scored=scored)
    if n_pepr != n_acc:
        _fails("swapped", lesson06.q2, n_acc, n_pepr, scored=scored)
    wrong_acc = (n_acc + 1) % 5
    _fails("n_small_better_acc` is not right yet", lesson06.q2, n_pepr, wrong_acc, scored=scored)


# --- lesson 07 --------------------------------------------------------------------------
BUDGET, INTENSITY = 0.004, 85.0


@pytest.fixture
def table():
    t = example_results()[["model", "num_params", "test_acc", "energy_kwh", "memory_gb"]].copy()
    t["val_acc"] = t["test_acc"] + np.linspace(-0.02, 0.02, len(t))
    t["majority_acc"] = 0.731
    t["co2_clinic_g"] = t["energy_kwh"] * INTENSITY
    t["pepr_e"] = t["val_acc"] / (1 + t["energy_kwh"] / BUDGET)
    return t


def test_lesson07_q1(table):
    lesson07.q1(table, budget_kwh=BUDGET, intensity_g_per_kwh=INTENSITY)
    kw = {"budget_kwh": BUDGET, "intensity_g_per_kwh": INTENSITY}
    _fails("still empty", lesson07.q1, ..., **kw)
    _fails(r"lacks the column\(s\) \['pepr_e'\]", lesson07.q1, table.drop(columns="pepr_e"), **kw)
    _fails(r"`table\['pepr_e'\]` is still `...`", lesson07.q1, table.assign(pepr_e=...), **kw)
    _fails("several rows for", lesson07.q1, pd.concat([table, table.iloc[:1]]), **kw)
    _fails("clinic's country", lesson07.q1, table.assign(co2_clinic_g=table.energy_kwh * 481),
           **kw)
    e = table["energy_kwh"]
    minmax = table["val_acc"] / (1 + (e - e.min()) / (e.max() - e.min()))
    _fails("min-max normalised over your models", lesson07.q1, table.assign(pepr_e=minmax), **kw)
    on_test = table["test_acc"] / (1 + e / BUDGET)
    _fails("P is the validation accuracy", lesson07.q1, table.assign(pepr_e=on_test), **kw)
    _fails("percentage", lesson07.q1, table.assign(pepr_e=table.pepr_e * 100), **kw)
    _fails("energy budget", lesson07.q1, table.assign(pepr_e=table.val_acc), **kw)
    _fails("should hold numbers", lesson07.q1, table.assign(test_acc="high"), **kw)
    _fails("missing values", lesson07.q1, table.assign(memory_gb=np.nan), **kw)


def test_lesson07_q2_fits(table):
    kw = {"energy_budget_kwh": 0.003, "memory_budget_gb": 2.0}
    fits = list(table.loc[(table.energy_kwh <= 0.003) & (table.memory_gb <= 2.0), "model"])
    lesson07.q2(fits, table=table, **kw)
    lesson07.q2(tuple(reversed(fits)), table=table, **kw)
    _fails("still empty", lesson07.q2, ..., table=table, **kw)
    _fails("should be a list", lesson07.q2, "resnet18", table=table, **kw)
    _fails("not a model of your table", lesson07.q2, ["resnet81"], table=table, **kw)
    _fails("more energy per retraining", lesson07.q2, [*fits, "resnet50"], table=table, **kw)
    _fails("more memory than the budget", lesson07.q2, [*fits, "densenet121"], table=table,
           energy_budget_kwh=0.01, memory_budget_gb=2.0)
    _fails("is missing", lesson07.q2, fits[1:], table=table, **kw)


def test_lesson07_q3_q4(table):
    kw = {"energy_budget_kwh": 0.003, "memory_budget_gb": 2.0}
    feasible = table[(table.energy_kwh <= 0.003) & (table.memory_gb <= 2.0)]
    best = feasible.loc[feasible["pepr_e"].idxmax(), "model"]
    lesson07.q3(best, table=table, **kw)
    yearly = 12 * table.set_index("model").loc[best, "energy_kwh"] * INTENSITY / 1000
    lesson07.q4(best, yearly, table=table, intensity_g_per_kwh=INTENSITY, **kw)
    _fails("breaks the energy or memory budget", lesson07.q3, "resnet50", table=table, **kw)
    dominated = "mobilevitv2_050"  # within budget, beaten by a cheaper, more accurate model
    _fails("is dominated", lesson07.q3, dominated, table=table, **kw)
    _fails("still empty", lesson07.q3, ..., table=table, **kw)
    _fails("learned something", lesson07.q3, None, table=table, **kw)
    _fails("more energy per retraining", lesson07.q4, "resnet50", 1.0, table=table,
           intensity_g_per_kwh=INTENSITY, **kw)
    _fails("more memory", lesson07.q4, "densenet121", 1.0, table=table,
           intensity_g_per_kwh=INTENSITY, energy_budget_kwh=0.01, memory_budget_gb=2.0)
    q4 = {"intensity_g_per_kwh": INTENSITY, **kw}
    _fails("in grams", lesson07.q4, best, yearly * 1000, table=table, **q4)
    _fails("every month", lesson07.q4, best, yearly / 12, table=table, **q4)
    _fails("twelve retrainings", lesson07.q4, best, yearly * 3, table=table, **q4,
           secret=yearly)
    _fails("go back to exercise 3", lesson07.q4, None, 0.0, table=table, **q4)


def _clinic_table() -> pd.DataFrame:
    """a: on the validation front; b: best on the test split only; c: the cheapest, at
    chance; d: over the energy budget."""
    return pd.DataFrame({"model": ["a", "b", "c", "d"], "val_acc": [0.88, 0.82, 0.80, 0.95],
                         "test_acc": [0.82, 0.88, 0.735, 0.95], "majority_acc": 0.731,
                         "energy_kwh": [2.0, 2.0, 1.0, 9.0], "memory_gb": 1.0})


def test_lesson07_q3_chooses_on_validation_among_models_that_learned():
    kw = {"energy_budget_kwh": 3.0, "memory_budget_gb": 2.0}
    t = _clinic_table()
    lesson07.q3("a", table=t, **kw)
    _fails("chosen on the test split", lesson07.q3, "b", table=t, **kw)
    _fails("this run never beat always answering the majority class", lesson07.q3, "c",
           table=t, **kw)
    _fails("this run never beat always answering", lesson07.q4, "c", 0.1, table=t,
           intensity_g_per_kwh=INTENSITY, **kw)
    _fails(r"lacks the column\(s\) \['val_acc'\]", lesson07.q3, "a",
           table=t.drop(columns="val_acc"), **kw)


def test_lesson07_none_when_no_model_within_budget_learned():
    kw = {"energy_budget_kwh": 3.0, "memory_budget_gb": 2.0}
    t = _clinic_table().assign(test_acc=[0.70, 0.74, 0.735, 0.95])  # only d learned: too costly
    lesson07.q3(None, table=t, **kw)
    lesson07.q4(None, 0.0, table=t, intensity_g_per_kwh=INTENSITY, **kw)
    message = _fails("this run never beat", lesson07.q3, "a", table=t, **kw)
    assert "None" in message


def test_lesson07_nothing_fits(table):
    kw = {"energy_budget_kwh": 1e-6, "memory_budget_gb": 2.0}
    lesson07.q2([], table=table, **kw)
    lesson07.q3(None, table=table, **kw)
    lesson07.q4(None, 0.0, table=table, intensity_g_per_kwh=INTENSITY, **kw)
    _fails(r"set `choice = None`", lesson07.q3, "resnet18", table=table, **kw)
