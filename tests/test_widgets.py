"""peprkit.widgets, headless: set a control's value, check what the explorer computes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ipywidgets")

from peprkit import paper, widgets  # noqa: E402
from peprkit.examples import example_results  # noqa: E402
from peprkit.metric import pepr  # noqa: E402


def _control(w, description):
    return next(c for c in w.children if getattr(c, "description", None) == description)


@pytest.fixture
def runs():
    return example_results()


def test_import_does_not_load_ipywidgets_or_matplotlib():
    code = ("import sys, peprkit.widgets; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rank_minmax_and_budget(runs):
    table = widgets.rank(runs, variant="E")
    e = runs["energy_kwh"].to_numpy()
    expected = pepr(runs["test_acc"].to_numpy(), (e - e.min()) / (e.max() - e.min()))
    assert table["pepr"].tolist() == sorted(expected, reverse=True)
    assert table["rank"].tolist() == list(range(1, 9))
    budget = widgets.rank(runs, variant="E", budget=0.004)
    by_model = budget.set_index("model")
    assert by_model.loc["resnet50", "R"] == pytest.approx(0.0067 / 0.004)
    assert by_model.loc["resnet50", "pepr"] < by_model.loc["resnet50", "test_acc"] / 2


def test_rank_subset_changes_minmax(runs):
    few = widgets.rank(runs, variant="T", models=["resnet18", "resnet50"])
    assert sorted(few["model"]) == ["resnet18", "resnet50"]
    assert sorted(few["R"]) == [0.0, 1.0]
    assert few["pareto"].all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"variant": "X"}, r"variant='X' is not a PePR variant; use one of \['E', 'C', 'M', 'T'\]"),
    ({"performance": "test_accc"}, r"performance='test_accc' is not a column.*test_acc"),
    ({"budget": 0}, r"budget=0 must be a positive number in energy_kwh's units"),
    ({"models": ["nope"]}, r"models=\['nope'\] selects no row"),
])
def test_rank_bad_arguments(runs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.rank(runs, **kwargs)


def test_rank_missing_resource_column(runs):
    with pytest.raises(ValueError, match=r"variant='M' needs the column 'memory_gb'"):
        widgets.rank(runs.drop(columns="memory_gb"), variant="M")


def test_explore_updates_table_and_plot_together(runs):
    w = widgets.explore(runs)
    first = w.result
    assert first["model"].iloc[0] == widgets.rank(runs)["model"].iloc[0]
    assert w.figure is not None and w.figure.axes[0].get_xlabel().startswith("normalised energy")

    _control(w, "PePR-").value = "M"
    assert "memory_gb" in w.result.columns
    pd.testing.assert_frame_equal(w.result, widgets.rank(runs, variant="M"))
    assert "memory_gb" in w.figure.axes[0].get_xlabel()

    _control(w, "models").value = ("resnet18", "resnet50", "densenet121")
    assert sorted(w.result["model"]) == ["densenet121", "resnet18", "resnet50"]

    budget = _control(w, "budget")
    assert budget.value == pytest.approx(runs["memory_gb"].max())  # reset for the variant
    budget.value = 1.0
    _control(w, "normalise").value = "budget"
    by_model = w.result.set_index("model")
    assert by_model.loc["resnet50", "R"] == pytest.approx(3.12)
    assert "budget" in w.figure.axes[0].get_xlabel()


def test_explore_picks_the_experiment():
    scored = paper.tidy(paper.make_example_results(n_models=5))
    w = widgets.explore(scored)
    group = _control(w, "dataset")
    assert not group.disabled and group.value == "derma_pt"
    group.value = "pneumonia"
    expected = widgets.rank(scored[scored.dataset == "pneumonia"])
    pd.testing.assert_frame_equal(w.result, expected)
    assert w.figure.axes[0].get_title().endswith("dataset = pneumonia")


def test_explore_changes_performance_column(runs):
    runs = runs.assign(val_acc=np.linspace(0.5, 0.9, len(runs)))
    w = widgets.explore(runs)
    _control(w, "performance").value = "val_acc"
    assert "val_acc" in w.result.columns
    assert w.result["model"].iloc[0] == widgets.rank(runs, performance="val_acc")["model"][0]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"variant": "Q"}, r"variant='Q' is not a PePR variant"),
    ({"performance": "acc"}, r"performance='acc' is not a column"),
    ({"label": "name"}, r"label='name' is not a column"),
])
def test_explore_bad_arguments(runs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.explore(runs, **kwargs)


def test_explore_offers_only_complete_performance_columns(runs):
    w = widgets.explore(runs.assign(test_auc=np.nan, val_acc=0.7))
    assert _control(w, "performance").options == ("test_acc", "val_acc")


def test_explore_without_performance_column(runs):
    with pytest.raises(ValueError, match=r"df has none of the performance columns"):
        widgets.explore(runs.drop(columns="test_acc"))


def test_profile_slider_moves_the_point():
    w = widgets.profile_slider(performance=0.8, resource=0.0)
    assert w.result == pytest.approx(0.8)
    _control(w, "R").value = 1.0
    assert w.result == pytest.approx(0.4)
    _control(w, "P").value = 0.5
    assert w.result == pytest.approx(0.25)
    offsets = w.figure.axes[0].collections[-1].get_offsets()
    assert offsets.tolist() == [[1.0, 0.5]]


def test_profile_slider_bad_start():
    with pytest.raises(ValueError, match=r"performance=1.5 must lie in \[0, 1\]"):
        widgets.profile_slider(performance=1.5)
