"""peprkit.metric: the PePR formula, normalisation, tables, curves, Pareto fronts, sizes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from peprkit.metric import (
    PeprOptimum,
    SizeComparison,
    add_pepr,
    compare_sizes,
    normalize,
    pareto_front,
    pepr,
    pepr_curve,
    pepr_optimum,
)

unit = st.floats(0.0, 1.0, allow_nan=False)


# --- pepr ---------------------------------------------------------------------------
def test_pepr_returns_the_kind_it_was_given():
    assert pepr(0.9, 0.5) == pytest.approx(0.6)
    assert isinstance(pepr(0.9, 0.5), float)
    arr = pepr(np.array([0.8, 0.6]), np.array([0.0, 1.0]))
    assert isinstance(arr, np.ndarray)
    np.testing.assert_allclose(arr, [0.8, 0.3])
    np.testing.assert_allclose(pepr([0.8, 0.6], [0.0, 1.0]), [0.8, 0.3])
    s = pepr(pd.Series([0.8, 0.6], index=["a", "b"]), pd.Series([0.0, 1.0], index=["a", "b"]))
    assert isinstance(s, pd.Series) and list(s.index) == ["a", "b"]
    np.testing.assert_allclose(s, [0.8, 0.3])


def test_pepr_broadcasts_a_scalar_and_allows_resources_over_a_budget():
    np.testing.assert_allclose(pepr(0.8, [0.0, 1.0, 3.0]), [0.8, 0.4, 0.2])
    np.testing.assert_allclose(pepr([0.8, 0.4], 1.0), [0.4, 0.2])


@pytest.mark.parametrize(
    ("p", "r", "match"),
    [
        (87.5, 0.1, r"`performance` must lie in \[0, 1\], got 87.5; pass accuracy as a fraction"),
        ([0.5, -0.1], [0, 0], r"`performance` must lie in \[0, 1\], got -0.1 at position 1"),
        ([0.5, np.nan], [0, 0], r"`performance` must not be NaN, got nan at position 1; drop"),
        (0.5, -0.2, r"`resource` must be >= 0, got -0.2; normalise the resource first with"),
        ([0.5, 0.5], [0.1, np.inf], r"`resource` must be finite, got inf at position 1; drop"),
        ([0.5, 0.5], [0.1, 0.2, 0.3], r"must have the same length, got 2 and 3; pass one value"),
        ("high", 0.1, r"`performance` must be numbers, got 'high'.*pass a float, a list"),
        ([[0.5]], [0.1], r"`performance` must be a scalar or 1-D, got an array of shape \(1, 1\)"),
    ],
)
def test_pepr_rejects_bad_input(p, r, match):
    with pytest.raises(ValueError, match=match):
        pepr(p, r)


@given(unit, unit)
def test_pepr_lies_between_half_p_and_p(p, r):
    score = pepr(p, r)
    assert p / 2 <= score <= p


@given(unit, unit, unit)
def test_pepr_increases_with_performance_and_decreases_with_resource(a, b, r):
    lo, hi = sorted((a, b))
    assert pepr(lo, r) <= pepr(hi, r)
    assert pepr(r, lo) >= pepr(r, hi)


# --- normalize ----------------------------------------------------------------------
def test_normalize_methods():
    np.testing.assert_allclose(normalize([2.0, 4.0, 6.0]), [0, 0.5, 1])
    np.testing.assert_allclose(normalize([2.0, 4.0], method="max"), [0.5, 1])
    np.testing.assert_allclose(normalize([0.005, 0.02], reference=0.01), [0.5, 2.0])
    np.testing.assert_array_equal(normalize([3.0, 3.0, 3.0]), [0, 0, 0])
    np.testing.assert_array_equal(normalize([0.0, 0.0], method="max"), [0, 0])
    assert normalize(5.0) == 0.0 and isinstance(normalize(5.0), float)
    assert normalize([]).shape == (0,)
    s = normalize(pd.Series([1.0, 3.0], index=[10, 20], name="energy_kwh"))
    assert list(s.index) == [10, 20] and s.name == "energy_kwh"


@pytest.mark.parametrize(
    ("kwargs", "values", "match"),
    [
        ({"method": "zscore"}, [1.0], r"`method` must be one of minmax, max, got 'zscore'; use"),
        ({}, [1.0, -2.0], r"`values` must be >= 0, got -2.0 at position 1; resources are"),
        ({}, [1.0, np.nan], r"`values` must be finite, got nan at position 1"),
        ({"reference": 0.0}, [1.0], r"`reference` must be a positive finite budget, got 0.0"),
        ({"reference": [1, 2]}, [1.0], r"`reference` must be a positive finite budget"),
    ],
)
def test_normalize_rejects_bad_input(kwargs, values, match):
    with pytest.raises(ValueError, match=match):
        normalize(values, **kwargs)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_normalize_is_in_unit_interval_and_keeps_order(values):
    for method in ("minmax", "max"):
        out = normalize(values, method=method)
        assert ((out >= 0) & (out <= 1)).all()
        order = np.argsort(values, kind="stable")
        assert (np.diff(out[order]) >= 0).all()
    out = normalize(values)
    if max(values) > min(values):
        assert out.min() == 0.0 and out.max() == 1.0


# --- add_pepr -----------------------------------------------------------------------
RESOURCES = {"e": "energy", "c": "co2", "m": "memR", "t": "train_time"}


def _authors_like_table(seed: int = 0, n_models: int = 12) -> pd.DataFrame:
    """A generated table with the columns of the paper's published all_results.csv."""
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in ("derma_pt", "lidc", "pneumonia_small"):
        for i in range(n_models):
            energy = rng.uniform(0.005, 0.3)
            row = {"model": f"m{i}", "num_param": int(rng.integers(1e6, 1.3e8)),
                   "memR": rng.uniform(1.5, 23), "energy": energy, "co2": energy * 60,
                   "train_time": energy * 600 + rng.uniform(0, 5)}
            row.update({f"test_{k:02d}": rng.uniform(0.4, 0.95) for k in range(10)})
            row.update({"type": "CNN", "efficient": 0, "dataset": dataset})
            rows.append(row)
    return pd.DataFrame(rows)


def _reference_pepr(df: pd.DataFrame, column: str) -> list[float]:
    """Plain-Python per-row PePR with min-max over each dataset (independent of numpy)."""
    out = []
    for _, row in df.iterrows():
        group = [v for v, d in zip(df[column], df["dataset"], strict=True) if d == row["dataset"]]
        lo, hi = min(group), max(group)
        out.append(row["test_09"] / (1 + (row[column] - lo) / (hi - lo)))
    return out


def test_add_pepr_matches_a_plain_python_reference_per_dataset():
    df = _authors_like_table()
    out = add_pepr(df, performance="test_09", resources=RESOURCES, by="dataset")
    for key, column in RESOURCES.items():
        np.testing.assert_allclose(out[f"pepr_{key}"], _reference_pepr(df, column), rtol=1e-15)
        for _, grp in out.groupby("dataset"):
            assert grp[f"{column}_norm"].min() == 0.0 and grp[f"{column}_norm"].max() == 1.0
    assert list(out.columns[: len(df.columns)]) == list(df.columns)
    assert "pepr_e" not in df.columns  # the input is left alone


def test_add_pepr_without_by_keeps_index_and_handles_constant_groups():
    df = pd.DataFrame({"acc": [0.5, 0.8, 0.9], "kwh": [1.0, 2.0, 3.0], "g": [5.0, 5.0, 5.0],
                       "lab": ["x", "y", "y"]}, index=[7, 8, 9])
    out = add_pepr(df, performance="acc", resources={"e": "kwh", "c": "g"})
    assert list(out.index) == [7, 8, 9]
    np.testing.assert_allclose(out["pepr_e"], [0.5, 0.8 / 1.5, 0.45])
    np.testing.assert_array_equal(out["g_norm"], [0, 0, 0])
    by_two = add_pepr(df, performance="acc", resources={"e": "kwh"}, by=["lab", "g"])
    np.testing.assert_allclose(by_two["kwh_norm"], [0, 0, 1])
    assert add_pepr(df.iloc[:0], performance="acc", resources={"e": "kwh"}, by="lab").empty


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"performance": "acc", "resources": {}}, r"`resources` must be a non-empty dict"),
        ({"performance": "accuracy", "resources": {"e": "kwh"}},
         r"`performance` names column 'accuracy', which is not in the table; use one of: acc"),
        ({"performance": "acc", "resources": {"e": "energy"}},
         r"`resources` names column 'energy', which is not in the table"),
        ({"performance": "acc", "resources": {"e": "kwh"}, "by": "dataset"},
         r"`by` names column 'dataset', which is not in the table"),
        ({"performance": "pct", "resources": {"e": "kwh"}},
         r"`df\['pct'\]` must lie in \[0, 1\], got 85.0 at position 0; pass accuracy as a"),
        ({"performance": "acc", "resources": {"e": "neg"}},
         r"`df\['neg'\]` must be >= 0, got -1.0 at position 1; resources are amounts"),
        ({"performance": "acc", "resources": {"e": "kwh"}, "by": "site"},
         r"`by` column 'site' is missing at row 1; fill it"),
        ({"performance": "acc", "resources": {"e": "name"}},
         r"column 'name' must hold numbers, got dtype .*; convert it first"),
    ],
)
def test_add_pepr_rejects_bad_input(kwargs, match):
    df = pd.DataFrame({"acc": [0.5, 0.8], "pct": [85.0, 90.0], "kwh": [1.0, 2.0],
                       "neg": [1.0, -1.0], "site": ["a", None], "name": ["a", "b"]})
    with pytest.raises(ValueError, match=match):
        add_pepr(df, **kwargs)


def test_add_pepr_needs_a_dataframe():
    with pytest.raises(ValueError, match=r"`df` must be a pandas DataFrame, got dict; build one"):
        add_pepr({"acc": [0.5]}, performance="acc", resources={"e": "acc"})


# --- pepr_curve / pepr_optimum -----------------------------------------------------------
def test_pepr_curve_columns_and_values():
    curve = pepr_curve([0.6, 0.8, 0.82], [1.0, 2.0, 3.0])
    assert list(curve.columns) == ["step", "performance", "resource", "resource_norm", "pepr"]
    assert curve["step"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(curve["pepr"], [0.6, 0.8 / 1.5, 0.41])
    wide = pepr_curve([0.6, 0.8], [1.0, 2.0], resource_range=(0.0, 4.0), steps=[10, 20])
    np.testing.assert_allclose(wide["resource_norm"], [0.25, 0.5])
    assert wide["step"].tolist() == [10, 20]
    assert pepr_curve([0.7], [0.3])["pepr"].tolist() == [0.7]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([], []), {}, r"`performance` must hold at least one step, got an empty sequence"),
        (([0.5, 0.6], [1.0]), {}, r"same length, got 2 and 1"),
        (([0.5, 0.6], [1.0, 2.0]), {"resource_range": (1.5, 3.0)},
         r"`resource_range` \(1.5, 3.0\) does not cover the run's resource \[1.0, 2.0\]; widen"),
        (([0.5], [1.0]), {"resource_range": (2.0, 1.0)},
         r"`resource_range` must satisfy 0 <= min < max \(finite\), got \(2.0, 1.0\)"),
        (([0.5], [1.0]), {"resource_range": 5}, r"`resource_range` must be a pair \(min, max\)"),
        (([0.5, 0.6], [1.0, 2.0]), {"steps": [1]},
         r"`steps` must give one label per step \(2\), got shape \(1,\)"),
        (([1.5], [1.0]), {}, r"`performance` must lie in \[0, 1\], got 1.5 at position 0"),
    ],
)
def test_pepr_curve_rejects_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pepr_curve(*args, **kwargs)


def test_pepr_optimum_finds_the_peak():
    best = pepr_optimum([0.5, 0.8, 0.84, 0.85], [1.0, 2.0, 3.0, 4.0])
    assert isinstance(best, PeprOptimum)
    assert (best.step, best.position) == (2, 1)
    assert best.pepr == pytest.approx(0.6)
    assert (best.performance, best.resource) == (0.8, 2.0)
    assert best.resource_norm == pytest.approx(1 / 3)
    tie = pepr_optimum([0.6, 0.6], [0.0, 0.0], steps=["a", "b"])
    assert tie.step == "a"  # ties go to the earliest step
    history = pd.DataFrame({"epoch": [1, 2, 3], "test_acc": [0.7, 0.9, 0.9],
                            "energy_kwh": [0.01, 0.02, 0.03]})
    best = pepr_optimum(history["test_acc"], history["energy_kwh"], steps=history["epoch"],
                        resource_range=(0.0, 0.1))
    assert best.step == 2 and isinstance(best.step, int)


# --- pareto_front --------------------------------------------------------------------
def _brute_force_front(p, r):
    n = len(p)
    return np.array([
        not any(p[j] >= p[i] and r[j] <= r[i] and (p[j] > p[i] or r[j] < r[i])
                for j in range(n))
        for i in range(n)
    ], dtype=bool)


def test_pareto_front_examples_and_duplicates():
    np.testing.assert_array_equal(
        pareto_front([0.9, 0.8, 0.95, 0.7], [0.5, 0.1, 1.0, 0.3]), [True, True, True, False]
    )
    # identical non-dominated points are all kept; identical dominated points all dropped
    np.testing.assert_array_equal(
        pareto_front([0.9, 0.9, 0.5, 0.5], [0.2, 0.2, 0.9, 0.9]), [True, True, False, False]
    )
    # equal R: only the best P survives; equal P: only the smallest R survives
    np.testing.assert_array_equal(pareto_front([0.7, 0.8], [0.3, 0.3]), [False, True])
    np.testing.assert_array_equal(pareto_front([0.8, 0.8], [0.3, 0.4]), [True, False])
    assert pareto_front([], []).shape == (0,)
    s = pareto_front(pd.Series([0.5, 0.9], index=["a", "b"]), [1.0, 2.0])
    assert isinstance(s, pd.Series) and s.dtype == bool and list(s.index) == ["a", "b"]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=40))
def test_pareto_front_equals_brute_force(points):
    # small integer grids force many ties and duplicates
    p = np.array([a / 6 for a, _ in points], dtype=float)
    r = np.array([b / 6 for _, b in points], dtype=float)
    np.testing.assert_array_equal(pareto_front(p, r), _brute_force_front(p, r))


@given(st.lists(st.tuples(unit, st.floats(0, 1e3)), max_size=30))
def test_pareto_front_equals_brute_force_on_continuous_values(points):
    p = np.array([a for a, _ in points], dtype=float)
    r = np.array([b for _, b in points], dtype=float)
    np.testing.assert_array_equal(pareto_front(p, r), _brute_force_front(p, r))


@pytest.mark.parametrize(
    ("p", "r", "match"),
    [
        ([0.5, np.nan], [1.0, 2.0], r"`performance` must be finite, got nan at position 1; drop"),
        ([0.5, 0.6], [1.0, -np.inf], r"`resource` must be finite, got -inf at position 1"),
        ([0.5], [1.0, 2.0], r"`performance` and `resource` must have the same length"),
    ],
)
def test_pareto_front_rejects_bad_input(p, r, match):
    with pytest.raises(ValueError, match=match):
        pareto_front(p, r)


# --- compare_sizes -------------------------------------------------------------------
def _sized_models() -> pd.DataFrame:
    return pd.DataFrame({
        "num_params": [1e6, 5e6, 24.6e6, 30e6, 60e6, 90e6, 2e6],
        "pepr_e": [0.80, 0.78, 0.75, 0.60, 0.55, 0.50, 0.82],
    })


def test_compare_sizes_median_split_matches_scipy():
    df = _sized_models()
    res = compare_sizes(df, score="pepr_e")
    assert isinstance(res, SizeComparison)
    assert res.threshold == 24.6e6  # the median parameter count; it counts as small
    assert (res.n_small, res.n_large) == (4, 3)
    assert res.median_small == pytest.approx(0.79)
    assert res.median_large == pytest.approx(0.55)
    expected = mannwhitneyu([0.80, 0.78, 0.75, 0.82], [0.60, 0.55, 0.50]).pvalue
    assert res.p_value == pytest.approx(expected)


def test_compare_sizes_numeric_threshold_is_inclusive():
    res = compare_sizes(_sized_models(), score="pepr_e", threshold=5e6)
    assert (res.n_small, res.n_large, res.threshold) == (3, 4, 5e6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"score": "pepr_x"}, r"`score` names column 'pepr_x', which is not in the table"),
        ({"score": "pepr_e", "params": "n"}, r"`params` names column 'n', which is not"),
        ({"score": "pepr_e", "threshold": "mean"},
         r"threshold='mean' must be 'median' or a positive parameter count; pass e.g."),
        ({"score": "pepr_e", "threshold": float("nan")},
         r"threshold=nan must be 'median' or a positive parameter count"),
        ({"score": "pepr_e", "threshold": 0},
         r"threshold=0 must be 'median' or a positive parameter count"),
        ({"score": "pepr_e", "threshold": 1e9},
         r"`threshold` 1000000000.0 \(1000000000.0\) puts all 7 models in one group; pass a"),
    ],
)
def test_compare_sizes_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_sizes(_sized_models(), **kwargs)


def test_compare_sizes_rejects_missing_scores():
    df = _sized_models()
    df.loc[2, "pepr_e"] = np.nan
    with pytest.raises(ValueError, match=r"`df\['pepr_e'\]` must be finite, got nan at position 2"):
        compare_sizes(df, score="pepr_e")


# --- import weight -------------------------------------------------------------------
def test_metric_imports_only_numpy_and_plot_defers_matplotlib():
    heavy = ("pandas", "scipy", "matplotlib", "torch")
    code = (
        f"import sys, peprkit.metric; print(sorted(m for m in {heavy!r} if m in sys.modules)); "
        "import peprkit.plot, peprkit.examples; "
        f"print(sorted(m for m in {heavy[1:]!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "[]"]
