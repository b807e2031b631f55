"""The conclusions lessons 05 and 06 print follow the learner's own table, and every
accuracy of the paper's table gets a published majority-class baseline beside it."""

from __future__ import annotations

import numpy as np
import pytest

from peprkit import conclude
from peprkit.course.hidden import lesson05 as hidden05


def _drawn_sweep(seed: int, small_margin: float, large_margin: float):
    """A drawn sweep (the hidden tests' tables) of ten models, two seeds each: the five
    smallest at ``small_margin`` above the majority baseline, the five largest at
    ``large_margin``."""
    rng = np.random.default_rng(seed)
    models = [f"m{i}" for i in range(10)]
    table = hidden05._sweep(rng, {m: [0.0, 0.0] for m in models}, datasets=["breastmnist"])
    order = table.groupby("model")["num_params"].first().sort_values().index
    small = set(order[:5])
    margin = np.where(table["model"].isin(small), small_margin, large_margin)
    margin = margin + rng.uniform(-0.005, 0.005, len(table))
    return table.assign(test_acc=table["majority_acc"] + margin,
                        energy_kwh=np.where(table["model"].isin(small), 5.0, 1.0)
                        * table["energy_kwh"].median())


def _lesson05_conclusion(results):
    """What lesson 05 prints in section 4 (cell ``l05-size-conclusion``)."""
    from peprkit.metric import add_pepr

    scored = add_pepr(results, performance="test_acc", resources={"e": "energy_kwh"},
                      by="dataset")
    return conclude.compare_groups(scored, by="size", score="pepr_e")


def test_lesson05_conclusion_says_small_models_lose_when_they_do():
    results = _drawn_sweep(0, small_margin=0.03, large_margin=0.2)
    c = _lesson05_conclusion(results)
    assert c.verdict == "lower"
    assert c.text.startswith("Small models") and "scored lower on pepr_e" in c.text
    assert "n = 5 + 5 models" in c.text and "opposite of" in c.text
    assert "usually on the front" not in c.text


def test_lesson05_conclusion_says_small_models_win_when_they_do():
    results = _drawn_sweep(1, small_margin=0.2, large_margin=0.03)
    results = results.assign(energy_kwh=results["energy_kwh"].max() / results["energy_kwh"])
    c = _lesson05_conclusion(results)
    assert c.verdict == "higher" and "agrees with" in c.text


def test_lesson05_conclusion_draws_none_when_nothing_learned():
    c = _lesson05_conclusion(_drawn_sweep(2, small_margin=-0.01, large_margin=-0.02))
    assert c.verdict == "no conclusion" and "majority-class baseline" in c.text


@pytest.mark.parametrize(("name", "flag", "fraction"), [
    ("derma_pt", "dermamnist", 6705 / 10015), ("derma_smallest", "dermamnist", 0.6695),
    ("pneumonia_small", "pneumoniamnist", 0.625), ("breastmnist", "breastmnist", 0.7308),
])
def test_published_majority_baselines(name, flag, fraction):
    b = conclude.majority_baseline(name)
    assert b.dataset == flag and b.fraction == pytest.approx(fraction, abs=5e-4)
    assert b.count / b.total == b.fraction and b.source


def test_breastmnist_baseline_matches_the_file(real_data_dir):
    if real_data_dir is None:
        pytest.skip("no real BreastMNIST here")
    labels = np.load(real_data_dir / "breastmnist.npz")["test_labels"].ravel()
    b = conclude.majority_baseline("breastmnist")
    assert (np.bincount(labels).max(), len(labels)) == (b.count, b.total)


def test_lidc_has_no_baseline_and_unknown_names_are_refused():
    assert conclude.majority_baseline("lidc_small") is None
    with pytest.raises(ValueError, match="dataset='bloodmnst'.*majority_accuracy"):
        conclude.majority_baseline("bloodmnst")
