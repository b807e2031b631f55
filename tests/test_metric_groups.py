"""Comparing groups of models on the right unit: a model's seeds averaged, n counted in models."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from peprkit.metric import (
    GroupComparison,
    SizeComparison,
    compare_models,
    compare_sizes,
    smallest_p_value,
)


def _zoo(seeds: int = 2, gap: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """8 small and 8 large models, ``seeds`` runs each, small ones ``gap`` better."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(16):
        small = k < 8
        level = 0.75 + (gap if small else 0.0) + rng.normal(0, 0.02)
        for s in range(seeds):
            rows.append({"model": f"m{k}", "seed": s, "num_params": (1 + k) * 1e6 if small
                         else (30 + k) * 1e6, "pepr_e": level + rng.normal(0, 0.005),
                         "pretrained": bool(s % 2 == 0)})
    return pd.DataFrame(rows)


def test_seeds_are_averaged_so_n_counts_models_and_p_is_on_model_means():
    runs = _zoo(seeds=2)
    res = compare_models(runs, score="pepr_e", group=runs["num_params"] <= 24.6e6)
    assert isinstance(res, GroupComparison)
    assert res.groups == ("True", "False") and res.n == (8, 8) and res.runs == (16, 16)
    means = runs.groupby("model")["pepr_e"].mean()
    small = runs.groupby("model")["num_params"].first() <= 24.6e6
    a, b = means[small].to_numpy(), means[~small].to_numpy()
    assert res.p_value == pytest.approx(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    assert res.median == pytest.approx((np.median(a), np.median(b)))
    assert res.difference == pytest.approx(np.median(a) - np.median(b))
    assert res.min_p_value == pytest.approx(2 / 12870)
    # treating each seed as a model (lesson 05's old 8 + 8 -> 16 + 16) overstates the evidence
    by_run = mannwhitneyu(runs.loc[runs["num_params"] <= 24.6e6, "pepr_e"],
                          runs.loc[runs["num_params"] > 24.6e6, "pepr_e"]).pvalue
    assert by_run < res.p_value
    one_row = runs.groupby("model", as_index=False).mean(numeric_only=True)
    again = compare_models(one_row, score="pepr_e", group=one_row["num_params"] <= 24.6e6)
    assert again.p_value == pytest.approx(res.p_value) and again.runs == (8, 8)


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 2), (3, 3), (2, 5), (4, 4)])
def test_smallest_p_value_is_the_exact_p_of_complete_separation(n1, n2):
    values = np.arange(n1 + n2, dtype=float)
    exact = min(mannwhitneyu(values[list(c)], np.delete(values, list(c)), method="exact").pvalue
                for c in itertools.combinations(range(n1 + n2), n1))
    assert smallest_p_value(n1, n2) == pytest.approx(min(1.0, exact))
    assert smallest_p_value(3, 3) == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_smallest_p_value_rejects_non_counts(bad):
    with pytest.raises(ValueError, match=r"must be a whole number >= 1 \(models in a group\)"):
        smallest_p_value(bad, 3)


def test_cliffs_delta_interval_and_shared_models():
    df = pd.DataFrame({"model": list("abcd") * 2, "pretrained": [True] * 4 + [False] * 4,
                       "acc": [0.9, 0.8, 0.7, 0.6, 0.85, 0.5, 0.4, 0.3]})
    res = compare_models(df, score="acc", group="pretrained")
    # pairs (pretrained > scratch): 0.9 beats all 4, 0.8 3, 0.7 3, 0.6 3 -> 13 of 16 higher
    assert res.cliffs_delta == pytest.approx((13 - 3) / 16)
    assert res.shared_models == 4 and res.models == (("a", "b", "c", "d"),) * 2
    assert res.ci[0] <= res.difference <= res.ci[1] and res.level == 0.95
    assert compare_models(df, score="acc", group="pretrained") == res  # seeded bootstrap
    flipped = compare_models(df, score="acc", group="pretrained", order=(False, True))
    assert flipped.cliffs_delta == -res.cliffs_delta and flipped.groups == ("False", "True")
    equal = compare_models(df.assign(acc=0.5), score="acc", group="pretrained")
    assert equal.p_value == 1.0 and equal.difference == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"group": "model"}, r"`group` \(model\) must hold exactly two values, got 4"),
        ({"group": "pretrained", "order": (True, "x")}, r"order=\(True, 'x'\) must name two"),
        ({"group": "pretrained", "order": 3}, r"order=3 must be the two group values"),
        ({"group": [True, False]}, r"one label per row \(8\), got shape \(2,\)"),
        ({"group": "nope"}, r"`group` names column 'nope'"),
        ({"group": "pretrained", "level": 1.5}, r"level=1.5 must be a number in \(0, 1\)"),
        ({"group": "pretrained", "n_boot": 10}, r"n_boot=10 must be a whole number >= 100"),
    ],
)
def test_compare_models_rejects_bad_input(kwargs, match):
    df = pd.DataFrame({"model": list("abcd") * 2, "pretrained": [True] * 4 + [False] * 4,
                       "acc": np.linspace(0.5, 0.9, 8)})
    with pytest.raises(ValueError, match=match):
        compare_models(df, score="acc", **kwargs)


def test_compare_models_rejects_missing_scores():
    df = pd.DataFrame({"g": [1, 2], "acc": [0.5, np.nan]})
    with pytest.raises(ValueError, match=r"`df\['acc'\]` must be finite, got nan at position 1"):
        compare_models(df, score="acc", group="g")


def test_compare_sizes_counts_models_and_reports_effect_and_smallest_p():
    runs = _zoo(seeds=2)
    res = compare_sizes(runs, score="pepr_e", threshold=24.6e6)
    assert isinstance(res, SizeComparison)
    assert (res.n_small, res.n_large, res.runs_small, res.runs_large) == (8, 8, 16, 16)
    assert res.min_p_value == pytest.approx(2 / 12870)
    assert res.ci_low <= res.difference <= res.ci_high and res.cliffs_delta > 0.5
    assert res.difference == pytest.approx(res.median_small - res.median_large)
    rows = compare_sizes(runs, score="pepr_e", threshold=24.6e6, model=None)
    assert (rows.n_small, rows.n_large) == (16, 16)  # only when asked: every row a model
    three = compare_sizes(_zoo(seeds=1).iloc[[0, 1, 2, 8, 9, 10]], score="pepr_e",
                          threshold=24.6e6)
    assert three.min_p_value == pytest.approx(0.1) and three.p_value >= 0.1
