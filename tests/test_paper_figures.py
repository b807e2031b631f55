"""The paper's Figures 2c and 4a render from its table; the packaged paper zoo is right."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from peprkit import models, paper, plot  # noqa: E402
from peprkit.metric import normalize, pareto_front  # noqa: E402


@pytest.fixture(scope="module")
def raw():
    return paper.make_example_results(n_models=12)


def test_figure_2c_renders_energy_against_size(raw):
    per_model = paper.paper_pepr(raw).groupby("model").mean(numeric_only=True)
    ax = plot.energy_vs_params(per_model, threshold=paper.PAPER_MEDIAN_PARAMS)
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:2] == ["split at 24.6M parameters", "small models"]
    assert labels[2:] == ["efficient = 0", "efficient = 1"]
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())])
    assert ys.max() == pytest.approx(1.0) and len(ys) == 12  # relative to the largest
    assert ax.get_title().endswith("(synthetic data)")
    ax.figure.canvas.draw()
    kwh = plot.energy_vs_params(per_model.drop(columns="efficient"), relative=False)
    assert kwh.get_ylabel() == "energy_kwh (kWh)"
    with pytest.raises(ValueError, match="threshold='mean'"):
        plot.energy_vs_params(per_model, threshold="mean")
    with pytest.raises(ValueError, match="energy"):
        plot.energy_vs_params(per_model, energy="energy")


def test_figure_4a_marks_the_pareto_model_epochs(raw):
    points = paper.epoch_points(raw, experiment="derma_pt")
    ax = plot.epoch_pareto(points)
    front = points[pareto_front(points["test_acc"], normalize(points["energy_kwh"]))]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        f"{m}@{e}" for m, e in zip(front["model"], front["epoch"], strict=True))
    assert "per-epoch energy estimated" in ax.get_title()
    assert len(ax.lines) == 12 + 1  # one line per model, and the front
    ax.figure.canvas.draw()
    measured = points.drop(columns="energy_source")
    assert "estimated" not in plot.epoch_pareto(measured, label_front=False).get_title()
    bad = points.assign(test_acc=points["test_acc"] * 100)
    with pytest.raises(ValueError, match="test_acc"):
        plot.epoch_pareto(bad)


def test_paper_zoo_table_has_131_models_and_a_cpu_flag():
    zoo = models.paper_zoo()
    assert len(zoo) == len(models.PAPER_ZOO) == 131 and zoo["model"].is_unique
    assert list(zoo.columns) == list(models.PAPER_ZOO_COLUMNS)
    assert zoo["paper_num_params"].between(1e6, 1.4e8).all()
    measured = zoo.dropna(subset=["num_params"])
    # ours count the 1000-class ImageNet head; the authors' their fine-tuning head
    ratio = measured["num_params"] / measured["paper_num_params"]
    assert ratio.between(0.9, 1.25).all()
    assert (zoo["cpu_ok"] == (zoo["train_gflop_per_image"] <= models.CPU_OK_GFLOP_PER_IMAGE)).all()
    cpu = models.paper_zoo(cpu_ok=True)
    assert 0 < len(cpu) < 131 and cpu["cpu_ok"].all()
    xception = zoo.set_index("model").loc["gluon_xception65"]
    assert xception["timm_weights"] == "" and not xception["cpu_ok"]  # gone from timm


@pytest.mark.filterwarnings("ignore:Mapping deprecated model name")
@pytest.mark.parametrize("name", ["dla46_c", "gluon_resnet34_v1b"])
def test_paper_zoo_sample_matches_timm(name):
    pytest.importorskip("timm")
    row = models.paper_zoo().set_index("model").loc[name]
    if pd.isna(row["num_params"]):
        pytest.skip(f"{name} is not measured in this copy of the table")
    facts = models.describe_model(name)
    assert facts["num_params"] == row["num_params"]
    assert facts["min_input_size"] == row["min_input_size"]
    assert facts["timm_weights"] == row["timm_weights"]
    assert facts["train_gflop_per_image"] == pytest.approx(row["train_gflop_per_image"], rel=1e-3)
