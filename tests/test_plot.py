"""peprkit.plot: each plot renders with Agg to a PNG and carries the expected artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

from peprkit import plot  # noqa: E402
from peprkit.examples import example_results  # noqa: E402
from peprkit.metric import add_pepr, pareto_front  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("plot functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


def _save(ax, tmp_path, name):
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_profile(tmp_path):
    ax = plot.profile()
    _save(ax, tmp_path, "profile")
    assert ax.collections, "filled contours expected"
    assert len(ax.figure.axes) == 2  # the plot and its colour bar
    assert ax.figure.axes[1].get_ylabel() == "PePR = P / (1 + R)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Normalised resource, R", "Performance, P")
    fig, given = plt.subplots()
    assert plot.profile(ax=given) is given


def test_pareto(tmp_path):
    df = example_results()
    ax = plot.pareto(df, performance="test_acc", resource="energy_kwh", label="model")
    _save(ax, tmp_path, "pareto")
    front = pareto_front(df["test_acc"], df["energy_kwh"]).to_numpy()
    (line,) = ax.lines
    assert len(line.get_xdata()) == front.sum() >= 2
    assert np.all(np.diff(line.get_xdata()) >= 0)  # joined in order of R
    np.testing.assert_allclose(sorted(line.get_ydata()), sorted(df.loc[front, "test_acc"]))
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots) == 1 and len(dots[0].get_offsets()) == (~front).sum()
    assert sorted(_texts(ax)) == sorted(df["model"])  # <= 20 points: every point labelled
    assert ax.get_title() == "Pareto front: test_acc vs energy_kwh (synthetic data)"
    assert "min-max normalised" in ax.get_xlabel()
    assert len(ax.figure.axes) == 2  # PePR colour bar behind the points


def test_pareto_labels_only_the_front_for_many_points_and_unmarked_real_data():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"acc": rng.uniform(0.5, 0.9, 40), "kwh": rng.uniform(0, 5, 40),
                       "name": [f"m{i}" for i in range(40)], "synthetic": False})
    ax = plot.pareto(df, performance="acc", resource="kwh", label="name")
    front = pareto_front(df["acc"], df["kwh"] / 5)
    assert sorted(_texts(ax)) == sorted(df.loc[front, "name"])
    assert ax.get_title() == "Pareto front: acc vs kwh"
    ax = plot.pareto(add_pepr(df, performance="acc", resources={"e": "kwh"}),
                     performance="acc", resource="kwh_norm", normalize_resource=False)
    assert "as given" in ax.get_xlabel()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"performance": "acc", "resource": "kwh", "label": "nope"},
         r"`label` names column 'nope', which is not in the table"),
        ({"performance": "pct", "resource": "kwh"},
         r"`df\['pct'\]` must lie in \[0, 1\], got 80.0 at position 0"),
        ({"performance": "acc", "resource": "neg"},
         r"`df\['neg'\]` must be >= 0, got -1.0 at position 0"),
    ],
)
def test_pareto_rejects_bad_input(kwargs, match):
    df = pd.DataFrame({"acc": [0.8, 0.9], "pct": [80.0, 90.0], "kwh": [1.0, 2.0],
                       "neg": [-1.0, 1.0]})
    with pytest.raises(ValueError, match=match):
        plot.pareto(df, **kwargs)


def test_versus_params(tmp_path):
    df = add_pepr(example_results(), performance="test_acc", resources={"e": "energy_kwh"})
    ax = plot.versus_params(df, score="pepr_e")
    _save(ax, tmp_path, "versus_params")
    (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(dots.get_offsets()[:, 0], np.log10(df["num_params"]))
    median = np.log10(df["num_params"].median())
    (span,) = ax.patches  # the shaded at-or-under-median region
    x0, x1 = span.get_x(), span.get_x() + span.get_width()
    assert x0 < np.log10(df["num_params"].min()) and x1 == pytest.approx(median)
    assert any("at or under median" in t for t in ax.get_legend_handles_labels()[1])
    assert sum(t.startswith("median ") for t in _texts(ax)) == 2
    assert ax.get_title() == "pepr_e vs model size (synthetic data)"
    assert ax.get_xlabel() == "Number of parameters (log$_{10}$)"


@pytest.mark.parametrize(
    ("df", "match"),
    [
        (pd.DataFrame({"s": [0.5, 0.6], "num_params": [10, 0]}),
         r"`df\['num_params'\]` must be > 0 \(its log10 is plotted\), got 0.0 at position 1; drop"),
        (pd.DataFrame({"s": [0.5, 0.6], "num_params": [-10, 10]}),
         r"`df\['num_params'\]` must be >= 0, got -10.0 at position 0; parameter counts"),
        (pd.DataFrame({"s": [np.nan, 0.6], "num_params": [10, 10]}),
         r"`df\['s'\]` must be finite, got nan at position 0; drop or fill"),
        (pd.DataFrame({"s": [], "num_params": []}), r"`df` has no rows; pass at least one model"),
        (pd.DataFrame({"s": [0.5]}), r"`params` names column 'num_params', which is not"),
    ],
)
def test_versus_params_rejects_bad_input(df, match):
    with pytest.raises(ValueError, match=match):
        plot.versus_params(df, score="s")


def test_groups_two_and_three(tmp_path):
    a, b, c = [0.84, 0.86, 0.88, 0.9], [0.70, 0.72, 0.75, 0.71], [0.8, 0.82, 0.79, 0.85]
    ax = plot.groups({"pretrained": a, "scratch": b}, ylabel="test accuracy")
    _save(ax, tmp_path, "groups")
    expected = mannwhitneyu(a, b, alternative="two-sided").pvalue
    # 4 + 4 values: no outcome gives p below 2 / C(8, 4) = 0.029, and the bracket says so
    assert _texts(ax) == [f"p={expected:.3f} (n=4+4: p >= 0.029 at best)"]
    assert sum(isinstance(c_, PolyCollection) for c_ in ax.collections) == 2  # violin bodies
    assert len(ax.lines) == 1  # the bracket
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pretrained\n(n=4)", "scratch\n(n=4)"]
    assert ax.get_ylabel() == "test accuracy"

    rng = np.random.default_rng(0)
    ax = plot.groups({"100%": rng.normal(0.9, 0.01, 30), "10%": rng.normal(0.7, 0.01, 30),
                      "1%": c})
    assert len(ax.texts) == 2 and ax.texts[0].get_text() == "p<0.001"
    assert len(ax.lines) == 2  # one bracket per comparison with the first group
    assert "vs '100%'" in ax.get_title()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"only": [0.5, 0.6]}, r"`data` must be a dict of at least two groups, got dict with 1"),
        ([0.5, 0.6], r"`data` must be a dict of at least two groups, got list with 0 group"),
        ({"a": [0.5], "b": []}, r"group 'b' in `data` must hold finite numbers, got 0 values"),
        ({"a": [0.5, np.nan], "b": [0.4]}, r"group 'a' in `data` must hold finite numbers"),
    ],
)
def test_groups_rejects_bad_input(data, match):
    with pytest.raises(ValueError, match=match):
        plot.groups(data)


def test_curve(tmp_path):
    acc = [0.62, 0.74, 0.80, 0.83, 0.845, 0.85, 0.855, 0.857, 0.858, 0.86]
    energy = np.cumsum(np.full(10, 0.0006))  # equal energy per epoch: R = 0, 1/9, ..., 1
    ax = plot.curve(acc, energy)
    _save(ax, tmp_path, "curve")
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:2] == ["performance, P", "PePR = P / (1 + R)"]
    assert labels[2] == f"P_ePRc* = {0.74 / (1 + 1 / 9):.3f} (step 2)"
    perf, score, marker = ax.lines[0], ax.lines[1], ax.lines[-1]
    np.testing.assert_allclose(perf.get_ydata(), acc)
    np.testing.assert_allclose(score.get_ydata(), [a / (1 + i / 9) for i, a in enumerate(acc)])
    np.testing.assert_allclose(marker.get_xydata(), [[1 / 9, 0.74 / (1 + 1 / 9)]])
    assert _texts(ax) == [str(i) for i in range(1, 11)]  # step labels
    assert ax.get_xlabel() == "Normalised resource, R"
    ax = plot.curve(acc, energy, steps=np.arange(0, 10), resource_range=(0.0, 0.1))
    peak = int(np.argmax(np.array(acc) / (1 + energy / 0.1)))  # a wider range moves the peak
    assert peak > 1 and ax.get_legend_handles_labels()[1][2].endswith(f"(step {peak})")


def test_curve_rejects_bad_input():
    with pytest.raises(ValueError, match=r"`performance` must lie in \[0, 1\], got 85.0"):
        plot.curve([85.0, 90.0], [1.0, 2.0])


def test_history_bars_images(tmp_path):
    h = pd.DataFrame({"epoch": [1, 2, 3], "test_acc": [0.5, 0.7, 0.8],
                      "energy_kwh": [0.001, 0.002, 0.003]})
    ax = plot.history(h, "energy_kwh", ylabel="kWh")
    assert ax.get_ylabel() == "kWh" and len(ax.get_lines()) == 1
    with pytest.raises(ValueError, match="'val_acc', which is not in the table"):
        plot.history(h, ["val_acc"])
    ax = plot.bars(pd.Series({"Poland": 615.0, "Norway": 31.0, "France": 44.0}),
                   xlabel="g CO2eq per kWh")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Norway", "France", "Poland"]
    assert len(ax.patches) == 3
    with pytest.raises(ValueError, match="`values` must be finite"):
        plot.bars({"a": float("nan")})
    with pytest.raises(ValueError, match="`values` is empty"):
        plot.bars({})
    axes = plot.images(np.zeros((5, 3, 8, 8), dtype="uint8"), np.array([[0], [1], [0], [1], [0]]),
                       class_names=["benign", "malignant"], n=5, ncols=4, title="grid")
    assert axes.shape == (2, 4)
    assert [ax.get_title() for ax in axes.flat][:5] == ["benign", "malignant", "benign",
                                                         "malignant", "benign"]
    assert sum(bool(ax.images) for ax in axes.flat) == 5
    axes.flat[0].figure.savefig(tmp_path / "grid.png")
    with pytest.raises(ValueError, match="`n` must be a positive integer"):
        plot.images(np.zeros((2, 8, 8)), [0, 1], n=0)
    with pytest.raises(ValueError, match=r"got shape \(8, 8\)"):
        plot.images(np.zeros((8, 8)), [0])


# --- baselines, real units, label placement, synthetic titles -----------------------
def _baseline_lines(ax):
    return [line for line in ax.lines if line.get_gid() == "baseline"]


def test_pareto_draws_a_labelled_baseline_inside_the_axes(tmp_path):
    df = example_results()
    ax = plot.pareto(df, performance="test_acc", resource="energy_kwh", label="model",
                     baseline=0.70)
    _save(ax, tmp_path, "pareto_baseline")
    (line,) = _baseline_lines(ax)
    np.testing.assert_allclose(line.get_ydata(), [0.70, 0.70])
    assert line.get_label() == "majority-class baseline (0.700)"
    assert "majority-class baseline (0.700)" in ax.get_legend_handles_labels()[1]
    assert line.get_linestyle() == "--"
    low, high = ax.get_ylim()
    assert low < 0.70 < high  # below every run, yet visible
    assert sorted(_texts(ax)) == sorted(df["model"])


def test_baseline_mapping_and_equal_values_from_a_column():
    h = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.70, 0.78, 0.84],
                      "majority_acc": [0.731, 0.731, 0.731]})
    ax = plot.history(h, "val_acc", baseline={"majority class": h["majority_acc"],
                                              "target": 0.8})
    lines = _baseline_lines(ax)
    assert [line.get_label() for line in lines] == ["majority class (0.731)", "target (0.800)"]
    assert lines[0].get_linestyle() != lines[1].get_linestyle()  # told apart without colour
    assert ax.get_legend() is not None  # a single column gets a legend once a baseline is drawn


@pytest.mark.parametrize(
    ("baseline", "match"),
    [
        ({}, r"`baseline` is an empty mapping"),
        (float("nan"), r"`baseline` must be one finite number per label, got nan"),
        (pd.Series([0.7, 0.8]), r"one finite number per label.*one number per dataset"),
        ({"majority": "high"}, r"got 'high' for 'majority'"),
    ],
)
def test_bad_baselines_are_refused(baseline, match):
    h = pd.DataFrame({"epoch": [1, 2], "val_acc": [0.7, 0.8]})
    with pytest.raises(ValueError, match=match):
        plot.history(h, "val_acc", baseline=baseline)
    with pytest.raises(ValueError, match=match):
        plot.curve([0.7, 0.8], [1.0, 2.0], baseline=baseline)


def test_curve_baseline_reference_real_units_and_synthetic_title(tmp_path):
    h = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_acc": [0.5, 0.8, 0.84, 0.85],
                      "energy_kwh": [1.0, 2.0, 3.0, 4.0]})
    ax = plot.curve(h["val_acc"], h["energy_kwh"], steps=h["epoch"], reference=40.0,
                    baseline=0.731, synthetic=True)
    _save(ax, tmp_path, "curve_reference")
    perf, score = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(perf.get_xdata(), [0.025, 0.05, 0.075, 0.1])  # R = E / 40
    np.testing.assert_allclose(score.get_ydata(), h["val_acc"] / (1 + h["energy_kwh"] / 40))
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "val_acc, P"
    assert labels[-1] == f"P_ePRc* = {0.84 / 1.075:.3f} (step 3)"  # not epoch 1
    assert "majority-class baseline (0.731)" in labels
    assert ax.get_title() == "PePR along a training run (synthetic data)"
    assert ax.get_xlabel() == "energy_kwh / reference of 40 kWh, R"
    (top,) = ax.child_axes  # the real unit on a secondary axis
    assert top.get_xlabel() == "energy_kwh (kWh, top axis: synthetic)"  # never "as measured"
    np.testing.assert_allclose(top.get_xlim(), np.array(ax.get_xlim()) * 40.0)
    measured = h.assign(cpu_source="measured:rapl", gpu_source="unavailable:no-gpu",
                        ram_source="estimated:ram-per-gb")
    ax = plot.curve(h["val_acc"], h["energy_kwh"], source=measured)
    assert ax.child_axes[0].get_xlabel() == "energy_kwh (kWh, top axis: partly estimated)"
    ax = plot.curve(h["val_acc"], h["energy_kwh"], source="measured")
    assert ax.child_axes[0].get_xlabel() == "energy_kwh (kWh, top axis: measured)"
    assert plot.curve(h["val_acc"], h["energy_kwh"]).child_axes[0].get_xlabel() == (
        "energy_kwh (kWh, top axis: source not recorded)")
    minmax = plot.curve(h["val_acc"], h["energy_kwh"], steps=h["epoch"])
    assert minmax.get_legend_handles_labels()[1][-1].endswith("(step 2)")
    with pytest.raises(ValueError, match="not both"):
        plot.curve(h["val_acc"], h["energy_kwh"], reference=4.0, resource_range=(0.0, 4.0))


def test_pareto_real_unit_axis_reference_and_synthetic_dataset_name(tmp_path):
    df = example_results().drop(columns="synthetic")
    ax = plot.pareto(df, performance="test_acc", resource="energy_kwh")
    ax.figure.canvas.draw()  # a secondary axis follows its parent's limits when drawn
    assert ax.get_title() == "Pareto front: test_acc vs energy_kwh"
    (top,) = ax.child_axes
    assert top.get_xlabel() == "energy_kwh (kWh, top axis: source not recorded)"
    lo, span = df["energy_kwh"].min(), df["energy_kwh"].max() - df["energy_kwh"].min()
    np.testing.assert_allclose(top.get_xlim(), lo + np.array(ax.get_xlim()) * span)
    mem = plot.pareto(df, performance="test_acc", resource="memory_gb")
    assert mem.child_axes[0].get_xlabel().startswith("memory_gb (GB")
    ax = plot.pareto(df.assign(dataset="breastmnist-synthetic"), performance="test_acc",
                     resource="energy_kwh", reference=0.004, label="model")
    _save(ax, tmp_path, "pareto_reference")
    assert ax.get_title().endswith("(synthetic data)")
    assert ax.get_xlabel() == "energy_kwh (per budget of 0.004 kWh; synthetic), R"
    front = [line for line in ax.lines if line.get_label() == "Pareto front"][0]
    assert max(front.get_xdata()) <= df["energy_kwh"].max() / 0.004
    np.testing.assert_allclose(ax.child_axes[0].get_xlim(), np.array(ax.get_xlim()) * 0.004)
    flat = plot.pareto(df.assign(kwh_norm=0.5), performance="test_acc", resource="kwh_norm",
                       normalize_resource=False)
    assert not flat.child_axes  # no real unit to show for a column given already normalised


def test_pareto_labels_of_coinciding_points_do_not_overlap(tmp_path):
    df = pd.DataFrame({"model": ["lcnet_050", "mobilenetv3_small_050", "regnetx_002", "far"],
                       "acc": [0.731, 0.731, 0.731, 0.9], "kwh": [0.001, 0.001, 0.0011, 0.01]})
    ax = plot.pareto(df, performance="acc", resource="kwh", label="model")
    _save(ax, tmp_path, "pareto_crowded")
    ax.figure.canvas.draw()  # at the figure's own dpi
    renderer = ax.figure.canvas.get_renderer()
    texts = {t.get_text(): t for t in ax.texts}
    # the text itself (an Annotation's own extent also covers its leader line)
    boxes = [Text.get_window_extent(texts[name], renderer) for name in df["model"]]
    for i in range(4):
        assert ax.bbox.contains(boxes[i].x0, boxes[i].y0)
        assert ax.bbox.contains(boxes[i].x1, boxes[i].y1)
        for j in range(i + 1, 4):
            assert not boxes[i].overlaps(boxes[j]), (df["model"][i], df["model"][j])
    assert len({texts[name].xyann for name in df["model"][:3]}) == 3  # each its own place
    assert not texts["far"].arrow_patch.get_visible()  # beside its point: no leader
    again = plot.pareto(df, performance="acc", resource="kwh", label="model")
    again.figure.canvas.draw()
    np.testing.assert_allclose([t.xyann for t in again.texts], [t.xyann for t in ax.texts],
                               atol=1e-6)  # deterministic


def test_versus_params_split_at_a_given_threshold_with_baseline(tmp_path):
    df = example_results()
    ax = plot.versus_params(df, score="test_acc", threshold=5e6, baseline=0.731,
                            threshold_note="a split given")
    _save(ax, tmp_path, "versus_threshold")
    (span,) = ax.patches
    assert span.get_x() + span.get_width() == pytest.approx(np.log10(5e6))
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "small: at or under 5.0M parameters (a split given)"
    assert "majority-class baseline (0.731)" in labels
    small = df["num_params"] <= 5e6
    medians = sorted(t for t in _texts(ax) if t.startswith("median "))
    assert medians == [f"median large: {df.loc[~small, 'test_acc'].median():.3f}",
                       f"median small: {df.loc[small, 'test_acc'].median():.3f}"]
    paper = plot.versus_params(df, score="test_acc", threshold=24.6e6)  # above every model
    assert paper.get_xlim()[1] > np.log10(24.6e6)  # the split is inside the Axes
    assert sum(t.startswith("median ") for t in _texts(paper)) == 1  # no large group
    with pytest.raises(ValueError, match=r"threshold='mean' must be 'median' or a positive"):
        plot.versus_params(df, score="test_acc", threshold="mean")


def test_groups_baseline_and_synthetic_title():
    ax = plot.groups({"pretrained": [0.84, 0.86, 0.88], "scratch": [0.70, 0.72, 0.75]},
                     baseline=0.731, synthetic=True, ylabel="test accuracy")
    (line,) = _baseline_lines(ax)
    np.testing.assert_allclose(line.get_ydata(), [0.731, 0.731])
    assert ax.get_title().endswith("(synthetic data)")
    assert ax.get_ylim()[0] < 0.70


def test_profile_options_are_keyword_only():
    fig, given = plt.subplots()
    with pytest.raises(TypeError):
        plot.profile(given)  # type: ignore[misc]
    assert plot.profile(ax=given, levels=5) is given
