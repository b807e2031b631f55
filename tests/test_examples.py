"""peprkit.examples: the built-in illustrative table fits the sweep schema and the metric."""

from __future__ import annotations

import numpy as np

from peprkit.examples import CO2_G_PER_KWH, TEST_IMAGES, example_results
from peprkit.metric import add_pepr, compare_sizes, pareto_front

SCHEMA = ["model", "dataset", "num_params", "test_acc", "energy_kwh", "co2_g", "memory_gb",
          "train_time_s"]


def test_example_table_fits_the_sweep_schema():
    df = example_results()
    assert list(df.columns) == [*SCHEMA, "synthetic"]
    assert len(df) == 8 and df["model"].is_unique
    assert df["synthetic"].all()  # illustrative numbers, never measured
    assert df["test_acc"].between(0, 1).all()
    np.testing.assert_allclose(df["test_acc"] * TEST_IMAGES, np.round(df["test_acc"] * TEST_IMAGES))
    np.testing.assert_allclose(df["co2_g"], df["energy_kwh"] * CO2_G_PER_KWH)
    assert (df[["num_params", "energy_kwh", "memory_gb", "train_time_s"]] > 0).all().all()


def test_example_table_is_a_fresh_copy_and_scores_cleanly():
    first = example_results()
    first.loc[0, "test_acc"] = 0.0
    assert example_results().loc[0, "test_acc"] > 0
    out = add_pepr(example_results(), performance="test_acc",
                   resources={"e": "energy_kwh", "c": "co2_g", "m": "memory_gb",
                              "t": "train_time_s"}, by="dataset")
    assert out[["pepr_e", "pepr_c", "pepr_m", "pepr_t"]].notna().all().all()
    front = pareto_front(out["test_acc"], out["energy_kwh"])
    assert 2 <= front.sum() < len(out)  # a real trade-off to look at
    res = compare_sizes(out, score="pepr_e")
    assert (res.n_small, res.n_large) == (4, 4)
