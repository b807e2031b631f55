"""Plots that tell the truth: labels apart and inside, one per model, chance drawn, sources said.

Crowded fronts like the lessons' (lesson 05's cluster of small models with two seeds each,
lesson 06's per-epoch front, lesson 07's budget axis on top, the explorer widget) are drawn
with Agg and every point label's box, as the renderer measures it, is checked: no two
overlap, none covers a marker, and all lie inside the Axes.
"""

from __future__ import annotations

import contextlib
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from peprkit import paper, plot  # noqa: E402
from peprkit.metric import add_pepr, compare_sizes, pareto_front  # noqa: E402

SMALL = ["mobilenetv3_small_050", "lcnet_050", "mobilenetv3_small_100", "dla46_c",
         "regnetx_002", "convnext_atto", "efficientnet_b0", "ese_vovnet19b_dw"]
ESTIMATED = {"cpu_source": "estimated:cpu-time", "gpu_source": "unavailable:no-gpu",
             "ram_source": "estimated:ram-per-gb", "memory_source": "measured:rss-sampled"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def lesson05_runs(seed: int = 3) -> pd.DataFrame:
    """8 small models x 2 seeds at near-identical energy and accuracy (around the majority
    baseline, as a short CPU sweep gives), and one larger model far away."""
    rng = np.random.default_rng(seed)
    rows = [{"model": m, "seed": s, "dataset": "breastmnist", "num_params": 1e6 * (k + 1),
             "test_acc": 0.731 + rng.normal(0, 0.004),
             "energy_kwh": 0.0010 + 2e-5 * k + rng.normal(0, 1e-5),
             "memory_gb": 0.5 + 0.01 * k + rng.normal(0, 0.002), "train_time_s": 60.0 + k,
             "majority_acc": 0.731, "synthetic": False, **ESTIMATED}
            for k, m in enumerate(SMALL) for s in (0, 1)]
    rows.append({"model": "resnet50", "seed": 0, "dataset": "breastmnist", "num_params": 23.5e6,
                 "test_acc": 0.86, "energy_kwh": 0.004, "memory_gb": 2.0, "train_time_s": 240.0,
                 "majority_acc": 0.731, "synthetic": False, **ESTIMATED})
    return pd.DataFrame(rows)


def label_boxes(ax):
    """The drawn point labels of ``ax``: {text: box} (the text alone, not its leader)."""
    ax.figure.canvas.draw()
    assert not ax.figure.stale  # placing the labels asks for no second draw
    renderer = ax.figure.canvas.get_renderer()
    return {t.get_text(): Text.get_window_extent(t, renderer)
            for t in ax.texts if t.get_gid() == "point-label"}


def assert_apart_and_inside(ax, markers=None):
    boxes = label_boxes(ax)
    names = list(boxes)
    frame = ax.bbox
    for i, a in enumerate(names):
        box = boxes[a]
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, (a, box, frame)
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, (a, box, frame)
        for b in names[i + 1:]:
            assert not box.overlaps(boxes[b]), (a, b)
    if markers is not None:  # no label covers the centre of a marker
        for x, y in ax.transData.transform(markers):
            for name, box in boxes.items():
                assert not box.contains(x, y), (name, x, y)
    return boxes


def test_lesson05_cluster_labels_each_model_once_apart_inside_both_panels(tmp_path):
    runs = lesson05_runs()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    for ax, resource in zip(axes, ("energy_kwh", "memory_gb"), strict=True):
        plot.pareto(runs, performance="test_acc", resource=resource, label="model",
                    baseline=0.731, ax=ax)
    fig.savefig(tmp_path / "lesson05.png", dpi=60)  # placed again at another dpi
    for ax in axes:
        points = np.vstack([c.get_offsets() for c in ax.collections
                            if c.get_label() == "dominated models (mean over runs)"]
                           + [np.column_stack(line.get_data()) for line in ax.lines
                              if line.get_label() == "Pareto front"])
        boxes = assert_apart_and_inside(ax, markers=points)
        assert sorted(boxes) == sorted(set(runs["model"]))  # once per model, not per seed
        assert len(points) == 9  # one point per model: the mean of its seeds
        assert "range over a model's 2 runs (seeds)" in ax.get_legend_handles_labels()[1]


def test_seeds_are_one_mean_point_and_the_front_is_of_models():
    runs = lesson05_runs()
    ax = plot.pareto(runs, performance="test_acc", resource="energy_kwh", label="model")
    means = runs.groupby("model", sort=False)[["test_acc", "energy_kwh"]].mean()
    r = (means["energy_kwh"] - runs["energy_kwh"].min()) / np.ptp(runs["energy_kwh"])
    front = pareto_front(means["test_acc"].to_numpy(), r.to_numpy())
    (line,) = [line for line in ax.lines if line.get_label() == "Pareto front"]
    np.testing.assert_allclose(sorted(line.get_ydata()), sorted(means["test_acc"][front]))
    each = plot.pareto(runs, performance="test_acc", resource="energy_kwh", label="model",
                       summarise=False)
    assert len(each.texts) == 17  # every run: the old behaviour on request


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_crowds_never_overlap(seed):
    rng = np.random.default_rng(seed)
    n = 14
    df = pd.DataFrame({"model": [f"model_{rng.integers(10**5)}_{i}" for i in range(n)],
                       "acc": 0.8 + rng.normal(0, 0.003, n),
                       "kwh": 1.0 + rng.normal(0, 0.01, n)})
    df.loc[0, ["acc", "kwh"]] = [0.95, 3.0]  # one far point sets the scale
    ax = plot.pareto(df, performance="acc", resource="kwh", label="model")
    assert len(assert_apart_and_inside(ax)) == n


def test_lesson06_per_epoch_front_labels_apart_inside_and_clear_of_the_legend():
    points = paper.epoch_points(paper.make_example_results(n_models=24), experiment="derma_pt")
    ax = plot.epoch_pareto(points)
    boxes = assert_apart_and_inside(ax)
    front = pareto_front(points["test_acc"], points["energy_kwh"])
    assert len(boxes) == int(front.sum()) >= 3
    legend = ax.get_legend().get_window_extent(ax.figure.canvas.get_renderer())
    assert not any(box.overlaps(legend) for box in boxes.values())
    assert "partly estimated" in ax.get_xlabel()  # epoch 10 measured, the others estimated
    assert "per-epoch energy estimated" in ax.get_title()


def test_lesson07_budget_plot_keeps_labels_off_the_top_axis():
    runs = lesson05_runs()
    ax = plot.pareto(runs, performance="test_acc", resource="energy_kwh", label="model",
                     reference=0.003, baseline=0.731)
    ax.axvline(1.0, color="black", ls="-.", lw=1, label="energy budget")
    boxes = assert_apart_and_inside(ax)
    top = ax.child_axes[0].get_tightbbox(ax.figure.canvas.get_renderer())
    assert not any(box.overlaps(top) for box in boxes.values())
    assert ax.child_axes[0].get_xlabel() == "energy_kwh (kWh, top axis: estimated)"


def test_explorer_labels_stay_under_its_title():
    pytest.importorskip("ipywidgets")
    from peprkit import widgets

    runs = pd.concat([lesson05_runs().assign(dataset="breastmnist"),
                      lesson05_runs(seed=4).assign(dataset="pneumoniamnist")])
    with contextlib.redirect_stdout(io.StringIO()):
        w = widgets.explore(runs)
    ax = w.figure.axes[0]
    FigureCanvasAgg(w.figure)  # the widget closed its figure after showing it
    boxes = assert_apart_and_inside(ax)
    assert sorted(boxes) == sorted(set(runs["model"]))
    assert "estimated" in ax.get_xlabel()
    assert "majority-class baseline (0.731)" in ax.get_legend_handles_labels()[1]


# --- words that follow the source of the numbers ------------------------------------
def test_axis_text_follows_the_source_label_never_as_measured_otherwise():
    runs = lesson05_runs()
    ax = plot.pareto(runs, performance="test_acc", resource="energy_kwh")
    assert "estimated" in ax.get_xlabel() and "estimated" in ax.child_axes[0].get_xlabel()
    measured = runs.assign(cpu_source="measured:rapl", ram_source="measured:rapl")
    ax = plot.pareto(measured, performance="test_acc", resource="energy_kwh")
    assert ax.child_axes[0].get_xlabel() == "energy_kwh (kWh, top axis: measured)"
    synthetic = runs.drop(columns=list(ESTIMATED)).assign(synthetic=True)
    ax = plot.pareto(synthetic, performance="test_acc", resource="energy_kwh")
    assert "synthetic" in ax.get_xlabel() and ax.get_title().endswith("(synthetic data)")
    ax = plot.pareto(synthetic, performance="test_acc", resource="energy_kwh",
                     source="illustrative")
    assert ax.child_axes[0].get_xlabel() == "energy_kwh (kWh, top axis: illustrative)"
    ax = plot.pareto(runs.drop(columns=list(ESTIMATED)), performance="test_acc",
                     resource="memory_gb")
    assert "source not recorded" in ax.get_xlabel()
    for table in (runs, synthetic):
        for ax in (plot.pareto(table, performance="test_acc", resource="energy_kwh"),
                   plot.epoch_pareto(table.assign(epoch=1))):
            texts = [ax.get_xlabel(), ax.get_title(), *(a.get_xlabel() for a in ax.child_axes)]
            assert not any("measured" in t.replace("not measured", "") for t in texts)
    scored = add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"})
    assert plot.versus_params(scored, score="pepr_e").get_ylabel() == (
        "pepr_e (energy_kwh: estimated)")


# --- chance references on PePR plots ------------------------------------------------
def _guess_artists(ax):
    return [a for a in [*ax.lines, *ax.patches] if a.get_gid() == "guess-pepr"]


def test_versus_params_pepr_draws_the_constant_guess_band_and_per_model_ticks():
    runs = lesson05_runs()
    scored = add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"})
    ax = plot.versus_params(scored, score="pepr_e", baseline=0.731)
    (band,) = _guess_artists(ax)
    box = band.get_window_extent()
    lo, hi = ax.transData.inverted().transform([[box.x0, box.y0], [box.x1, box.y1]])[:, 1]
    np.testing.assert_allclose([lo, hi], [0.731 / 2, 0.731], atol=1e-9)
    assert band.get_label().startswith("constant guess's PePR = 0.731 / (1 + R)")
    assert not [line for line in ax.lines if line.get_gid() == "baseline"]  # not a flat line
    (ticks,) = [c for c in ax.collections if c.get_label() == "constant guess at each model's R"]
    r = scored.groupby("model", sort=False)["energy_kwh_norm"].mean().to_numpy()
    np.testing.assert_allclose(ticks.get_offsets()[:, 1], 0.731 / (1 + r))
    acc = plot.versus_params(scored, score="test_acc", baseline=0.731)
    assert not _guess_artists(acc) and len(_baseline_lines(acc)) == 1


def _baseline_lines(ax):
    return [line for line in ax.lines if line.get_gid() == "baseline"]


def test_versus_params_medians_are_over_models_as_compare_sizes():
    scored = add_pepr(lesson05_runs(), performance="test_acc", resources={"e": "energy_kwh"})
    ax = plot.versus_params(scored, score="pepr_e")
    res = compare_sizes(scored, score="pepr_e")
    medians = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("median "))
    assert medians == sorted([f"median small: {res.median_small:.3f}",
                              f"median large: {res.median_large:.3f}"])
    (dots,) = [c for c in ax.collections if c.get_label() == "models (mean over runs)"]
    assert len(dots.get_offsets()) == 9


def test_curve_and_groups_draw_the_guess_pepr():
    acc, energy = [0.70, 0.78, 0.80, 0.81], [1.0, 2.0, 3.0, 4.0]
    ax = plot.curve(acc, energy, baseline={"majority class": 0.731, "target": 0.8})
    (guess,) = _guess_artists(ax)
    np.testing.assert_allclose(guess.get_ydata(), 0.731 / (1 + guess.get_xdata()))
    assert len(_baseline_lines(ax)) == 2  # P's baselines stay lines; the target has no PePR
    ax = plot.curve(acc, energy, baseline=0.731, reference=8.0)
    (guess,) = _guess_artists(ax)
    assert guess.get_xdata()[0] == 0.0 and guess.get_ydata()[0] == pytest.approx(0.731)
    ax = plot.groups({"small": [0.70, 0.72, 0.69], "large": [0.55, 0.5, 0.52]}, baseline=0.731,
                     pepr=True, ylabel="PePR-E")
    assert len(_guess_artists(ax)) == 1 and not _baseline_lines(ax)
