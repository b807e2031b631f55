"""peprkit.conclude: the words follow the learner's table, whichever way it points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peprkit.conclude import Conclusion, compare_groups
from peprkit.metric import add_pepr, compare_sizes, pareto_front


def draw_table(rng: np.random.Generator, *, small_better: bool, n: int = 8, seeds: int = 2,
               learned: bool = True, majority: float = 0.731) -> pd.DataFrame:
    """``n`` small and ``n`` large models with ``seeds`` runs each, scored with PePR-E.

    Small models are cheap; the accuracy gap decides which group has the higher PePR."""
    rows = []
    for k in range(2 * n):
        small = k < n
        acc = (0.86 if small == small_better else 0.76) + rng.normal(0, 0.01)
        kwh = (0.002 if small else 0.004) * rng.uniform(0.9, 1.1)
        if not small_better:  # large models both better and no dearer (a CPU, say)
            kwh = (0.0022 if small else 0.0018) * rng.uniform(0.98, 1.02)
        for s in range(seeds):
            rows.append({"model": f"{'small' if small else 'large'}_{k}", "seed": s,
                         "num_params": (1 + k) * 1e6 if small else (30 + k) * 1e6,
                         "test_acc": (min(acc + rng.normal(0, 0.005), 0.99) if learned
                                      else majority - abs(rng.normal(0, 0.01))),
                         "energy_kwh": kwh * rng.uniform(0.98, 1.02),
                         "majority_acc": majority, "pretrained": bool(k % 2)})
    return add_pepr(pd.DataFrame(rows), performance="test_acc", resources={"e": "energy_kwh"})


@pytest.mark.parametrize("seed", range(4))
def test_when_large_models_win_the_text_says_so(seed):
    table = draw_table(np.random.default_rng(seed), small_better=False)
    c = compare_groups(table, by="size", score="pepr_e", threshold=24.6e6)
    assert isinstance(c, Conclusion) and str(c) == c.text
    assert c.verdict == "lower"
    assert c.text.startswith("Small models (at most 24.6M parameters, the split given) scored "
                             "lower on pepr_e than large models")
    assert "this is the opposite of that finding" in c.text
    assert "n = 8 + 8 models" in c.text and "32 runs were averaged per model" in c.text
    assert "small models scored higher" not in c.text.lower()


@pytest.mark.parametrize("seed", range(4))
def test_when_small_models_win_the_text_says_so(seed):
    table = draw_table(np.random.default_rng(seed), small_better=True)
    c = compare_groups(table, by="size", score="pepr_e", threshold=24.6e6)
    assert c.verdict == "higher" and "scored higher on pepr_e" in c.text
    assert "this agrees with that finding" in c.text
    res = compare_sizes(table, score="pepr_e", threshold=24.6e6)
    assert c.comparison.p_value == pytest.approx(res.p_value)
    assert c.comparison.median == pytest.approx((res.median_small, res.median_large))


def test_when_no_run_learned_no_conclusion_is_drawn():
    table = draw_table(np.random.default_rng(0), small_better=True, learned=False)
    c = compare_groups(table, by="size", score="pepr_e")
    assert c.verdict == "no conclusion" and c.comparison is None
    assert "no conclusion can be drawn" in c.text
    assert "majority-class baseline (0.731)" in c.text


def test_one_group_at_chance_gets_a_caveat():
    table = draw_table(np.random.default_rng(1), small_better=True)
    large = table["num_params"] > 24.6e6
    table.loc[large, "test_acc"] = 0.70  # every large model below the majority class
    c = compare_groups(table, by="size", score="test_acc", threshold=24.6e6)
    assert any(s.startswith("Caveat: none of the large models scored above") for s in c.caveats)
    assert "compares learning with not learning" in c.text


def test_three_and_three_models_cannot_reach_five_percent():
    table = draw_table(np.random.default_rng(2), small_better=True, n=3, seeds=2)
    c = compare_groups(table, by="size", score="pepr_e")
    assert c.verdict == "no difference detectable"
    assert "With 3 + 3 models the smallest possible p is 0.1" in c.text
    assert "p = 0.10" in c.text


def test_the_pareto_sentence_counts_models_on_the_front():
    table = draw_table(np.random.default_rng(3), small_better=True)
    c = compare_groups(table, by="size", score="pepr_e", threshold=24.6e6)
    per = table.groupby("model").agg(acc=("test_acc", "mean"), kwh=("energy_kwh", "mean"),
                                     n=("num_params", "first"))
    front = pareto_front(per["acc"].to_numpy(), per["kwh"].to_numpy())
    k = int((front & (per["n"] <= 24.6e6).to_numpy()).sum())
    assert c.on_front == (k, int(front.sum()))
    verb = "is" if k == 1 else "are"
    expected = (f"{k} of the {int(front.sum())} models on the test_acc-energy_kwh Pareto front "
                f"{verb} among the small models" if front.sum() > 1 else
                "The only model on the test_acc-energy_kwh Pareto front is")
    assert expected in c.text
    quiet = compare_groups(table, by="size", score="pepr_e", resource=None)
    assert quiet.on_front is None and "Pareto" not in quiet.text


def test_other_groupings_and_words():
    table = draw_table(np.random.default_rng(4), small_better=True)
    c = compare_groups(table, by="pretrained", score="test_acc")
    assert "pretrained models and from-scratch models" in c.text
    c = compare_groups(table.assign(fraction=np.where(table["pretrained"], 1.0, 0.1)),
                       by="fraction", score="test_acc", order=(1.0, 0.1),
                       names={1.0: "full-data", 0.1: "10%-data"})
    assert "full-data models and 10%-data models" in c.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"by": "model", "score": "pepr_e"}, r"by='model' must hold two values, got 16"),
        ({"by": "size", "score": "nope"}, r"`score` names column 'nope'"),
        ({"by": "nope", "score": "pepr_e"}, r"`by` names column 'nope'"),
        ({"by": "size", "score": "pepr_e", "alpha": 5}, r"alpha=5 must be a number in \(0, 1\)"),
        ({"by": "size", "score": "pepr_e", "threshold": "mean"}, r"threshold='mean' must be"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    table = draw_table(np.random.default_rng(0), small_better=True)
    with pytest.raises(ValueError, match=match):
        compare_groups(table, **kwargs)
