"""peprkit.paper: loading the authors' results offline, recomputing PePR, comparing sizes."""

from __future__ import annotations

import io
import urllib.error

import numpy as np
import pandas as pd
import pytest

from peprkit import _paths, paper
from peprkit.paper._examples import EXAMPLE_MODELS


@pytest.fixture
def no_repo_data(tmp_path, monkeypatch):
    """Point the repository's data/ folder at an empty temporary one."""
    folder = tmp_path / "repo" / "data"
    folder.mkdir(parents=True)
    (folder.parent / "pyproject.toml").write_text("")
    monkeypatch.setattr(_paths, "repo_data_dir", lambda: folder)
    monkeypatch.delenv("PEPRKIT_DATA_DIR", raising=False)
    return folder


@pytest.fixture
def example_csv(tmp_path):
    path = tmp_path / "copy" / "all_results.csv"
    path.parent.mkdir()
    paper.make_example_results(n_models=6).drop(columns="synthetic").to_csv(path, index=False)
    return path


def test_example_has_paper_columns_and_is_labelled_synthetic():
    df = paper.make_example_results(n_models=5, experiments=("derma_pt", "pneumonia"))
    assert list(df.columns[: len(paper.RAW_COLUMNS)]) == list(paper.RAW_COLUMNS)
    assert len(df) == 10 and df["synthetic"].all()
    assert df["test_09"].between(0, 1).all() and (df["energy"] > 0).all()
    pd.testing.assert_frame_equal(df, paper.make_example_results(n_models=5,
                                  experiments=("derma_pt", "pneumonia")))
    assert not df.equals(paper.make_example_results(n_models=5, seed=1,
                                                    experiments=("derma_pt", "pneumonia")))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_models": 1}, r"n_models=1 is out of range; use 2\.\.24"),
    ({"experiments": ("derma_ptt",)}, r"'derma_ptt'.*Did you mean: derma_pt"),
])
def test_example_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paper.make_example_results(**kwargs)


def test_load_from_explicit_file_and_folder(example_csv, no_repo_data):
    by_file = paper.load_results(example_csv, download=False)
    by_folder = paper.load_results(example_csv.parent, download=False)
    assert len(by_file) == 24 and not by_file["synthetic"].any()
    assert by_file.attrs["source"] == str(example_csv)
    pd.testing.assert_frame_equal(by_file, by_folder)


def test_load_from_data_dir(example_csv, no_repo_data, monkeypatch):
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(example_csv.parent))
    assert paper.load_results(download=False).attrs["source"] == str(example_csv)


def test_missing_path_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"path='.*nowhere.csv' does not exist\. Pass"):
        paper.load_results(tmp_path / "nowhere.csv")


def test_wrong_columns_name_the_missing_ones(tmp_path):
    bad = tmp_path / "all_results.csv"
    pd.DataFrame({"model": ["a"], "energy": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"lacks the columns \['num_param', 'memR'"):
        paper.load_results(bad)


def test_offline_message_says_where_it_looked_and_how_to_fix(no_repo_data, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(paper.urllib.request, "urlopen", offline)
    with pytest.raises(paper.ResultsUnavailable) as err:
        paper.load_results()
    text = str(err.value)
    assert "download failed" in text and "no route to host" in text
    assert str(no_repo_data) in text and "path=" in text and "--paper-results" in text
    with pytest.raises(paper.ResultsUnavailable, match="download=False was given"):
        paper.load_results(download=False)


def test_download_is_cached_then_found_offline(no_repo_data, monkeypatch):
    body = paper.make_example_results(n_models=3).to_csv(index=False).encode()
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return io.BytesIO(body)

    monkeypatch.setattr(paper.urllib.request, "urlopen", fake_urlopen)
    first = paper.load_results()
    assert calls == [paper.PAPER_URL]
    assert (no_repo_data / "all_results.csv").read_bytes() == body
    second = paper.load_results()
    assert calls == [paper.PAPER_URL]  # no second download
    assert second.attrs["source"] == str(no_repo_data / "all_results.csv")
    assert len(first) == len(second) == 12


def test_download_goes_to_the_cache_outside_a_checkout(no_repo_data, monkeypatch):
    (no_repo_data.parent / "pyproject.toml").unlink()
    body = paper.make_example_results(n_models=2).to_csv(index=False).encode()
    monkeypatch.setattr(paper.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(body))
    paper.load_results()
    assert (_paths.cache_dir() / "results" / "all_results.csv").read_bytes() == body
    assert paper.load_results(download=False).attrs["source"].startswith(str(_paths.cache_dir()))


def test_download_of_a_wrong_page_is_not_cached(no_repo_data, monkeypatch):
    monkeypatch.setattr(paper.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(b"<html>captive portal</html>\n"))
    with pytest.raises(ValueError, match="lacks the columns"):
        paper.load_results()
    assert not (no_repo_data / "all_results.csv").exists()


def test_load_or_example_falls_back_loudly(no_repo_data, capsys):
    df = paper.load_or_example(download=False)
    out = capsys.readouterr().out
    assert "SYNTHETIC STAND-IN" in out and "NOT the paper's" in out and "path=" in out
    assert df["synthetic"].all()


def test_load_or_example_prefers_the_real_file(example_csv, capsys):
    df = paper.load_or_example(example_csv)
    assert "SYNTHETIC" not in capsys.readouterr().out and not df["synthetic"].any()


def test_paper_pepr_matches_the_authors_formula():
    raw = paper.make_example_results(n_models=8, experiments=("derma_pt", "lidc"))
    scored = paper.paper_pepr(raw)
    for (_, group), (_, raw_group) in zip(scored.groupby("dataset"), raw.groupby("dataset"),
                                          strict=True):
        for key, column in (("e", "energy"), ("c", "co2"), ("m", "memR"), ("t", "train_time")):
            x = raw_group[column].to_numpy()
            expected = raw_group["test_09"].to_numpy() / (1 + (x - x.min()) / (x.max() - x.min()))
            np.testing.assert_allclose(group[f"pepr_{key}"].to_numpy(), expected, rtol=1e-12)
    assert {"num_params", "test_acc", "energy_kwh", "memory_gb", "test_00"} <= set(scored)


def test_compare_by_experiment_one_row_each():
    scored = paper.paper_pepr(paper.make_example_results(n_models=12))
    table = paper.compare_by_experiment(scored, score="pepr_e")
    assert list(table.index) == ["derma_pt", "derma", "derma_small", "pneumonia"]
    assert (table["threshold"] == paper.PAPER_MEDIAN_PARAMS).all()
    assert (table["n_small"] + table["n_large"] == 12).all()
    assert table["p_value"].between(0, 1).all()
    median = paper.compare_by_experiment(scored, score="test_acc", threshold="median")
    assert (median["n_small"] == 6).all()


def test_compare_by_experiment_unknown_score():
    scored = paper.paper_pepr(paper.make_example_results(n_models=4))
    with pytest.raises(ValueError, match=r"score='pepr_x'.*Did you mean: .*pepr_e"):
        paper.compare_by_experiment(scored, score="pepr_x")


def test_join_with_sweep_pairs_shared_models():
    scored = paper.paper_pepr(paper.make_example_results(n_models=6))
    sweep = pd.DataFrame({
        "model": ["resnet18", "resnet18", "mobilenetv3_small_100", "not_in_paper"],
        "dataset": "breastmnist", "seed": [0, 1, 0, 0],
        "test_acc": [0.8, 0.9, 0.7, 0.6], "energy_kwh": [1e-4, 3e-4, 5e-5, 1e-5],
    })
    joined = paper.join_with_sweep(sweep, scored, experiment="derma")
    assert list(joined["model"]) == ["mobilenetv3_small_100", "resnet18"]
    assert joined.loc[1, "test_acc_yours"] == pytest.approx(0.85)
    paper_row = scored[(scored.dataset == "derma") & (scored.model == "resnet18")].iloc[0]
    assert joined.loc[1, "test_acc_paper"] == paper_row["test_acc"]
    assert "energy_kwh_paper" in joined and "pepr_e_paper" not in joined


def test_join_with_sweep_bad_arguments():
    scored = paper.paper_pepr(paper.make_example_results(n_models=3))
    with pytest.raises(ValueError, match=r"experiment='derma_p' is not in.*Did you mean"):
        paper.join_with_sweep(pd.DataFrame({"model": ["a"]}), scored, experiment="derma_p")
    with pytest.raises(ValueError, match="sweep has no 'model' column"):
        paper.join_with_sweep(pd.DataFrame({"name": ["a"]}), scored)


# --- ImageNet results and Figure 4b -------------------------------------------------------

def _authors_rule(results, imagenet):
    """The authors' matching, written out: first row whose name contains the model's name."""
    rows = results[results["dataset"] == "derma_pt"].reset_index(drop=True)
    mem = rows["memR"].to_numpy(dtype=float)
    m_n = (mem - mem.min()) / (mem.max() - mem.min())
    top1 = np.zeros(len(rows))
    for i, name in enumerate(rows["model"]):
        hits = np.where(imagenet["model"].str.contains(name))[0]
        if len(hits):
            top1[i] = imagenet["top1"].iloc[hits[0]]
    return rows["model"].tolist(), m_n, top1, (top1 / 100) / (1 + m_n)


@pytest.fixture
def tags():
    return {name: f"{name}.x_in1k" for name, _, _ in EXAMPLE_MODELS}


def test_imagenet_authors_rule_reproduces_an_authors_style_table_exactly(tags):
    raw = paper.make_example_results(n_models=20, experiments=("derma", "derma_pt"), seed=3)
    imagenet = paper.make_example_imagenet(raw, weights=tags, seed=3)
    got = paper.imagenet_pepr(raw, imagenet, match="authors", weights=tags)
    models, m_n, top1, expected = _authors_rule(raw, imagenet)
    assert got["model"].tolist() == models
    np.testing.assert_array_equal(got["M_n"].to_numpy(), m_n)
    np.testing.assert_array_equal(got["top1"].to_numpy(), top1)
    np.testing.assert_array_equal(got["pepr_m"].to_numpy(), expected)
    last = got.iloc[-1]  # the example leaves its last model out of the ImageNet table
    assert not last["matched"] and last["top1"] == 0 and last["pepr_m"] == 0


def test_imagenet_default_rule_and_the_audit_flag_a_prefix_collision():
    raw = pd.DataFrame({
        "model": ["vgg11", "resnet18", "gone"], "num_param": [133e6, 11.7e6, 5e6],
        "memR": [4.0, 2.0, 1.0], "energy": 1.0, "co2": 1.0, "train_time": 1.0,
        **{f"test_{i:02d}": 0.5 for i in range(10)}, "type": "CNN", "efficient": 0,
        "dataset": "derma_pt",
    })
    imagenet = pd.DataFrame({
        "model": ["vgg11_bn.tv_in1k", "resnet18.a1_in1k", "vgg11.tv_in1k"],
        "img_size": 224, "top1": [70.4, 71.5, 69.0], "top5": [89.8, 90.0, 88.6],
    })
    weights = {"vgg11": "vgg11.tv_in1k", "resnet18": "resnet18.a1_in1k", "gone": "gone.a_in1k"}
    default = paper.imagenet_pepr(raw, imagenet, weights=weights).set_index("model")
    authors = paper.imagenet_pepr(raw, imagenet, match="authors", weights=weights)
    authors = authors.set_index("model")
    assert authors.loc["vgg11", "imagenet_model"] == "vgg11_bn.tv_in1k"  # another architecture
    assert default.loc["vgg11", "imagenet_model"] == "vgg11.tv_in1k"
    assert default.loc["vgg11", "top1"] == 69.0 and authors.loc["vgg11", "top1"] == 70.4
    assert default["rules_agree"].tolist() == [False, True, False]
    assert authors["rules_agree"].tolist() == default["rules_agree"].tolist()
    assert np.isnan(default.loc["gone", "pepr_m"]) and authors.loc["gone", "pepr_m"] == 0
    assert default.loc["resnet18", "pepr_m"] == pytest.approx(0.715 / (1 + 1 / 3))
    assert default.loc["vgg11", "M_n"] == 1.0 and default.loc["gone", "M_n"] == 0.0


def test_imagenet_default_rule_knows_the_paper_zoo_without_overrides():
    raw = paper.make_example_results(n_models=3, experiments=("derma_pt",))
    raw.loc[:, "model"] = ["gluon_resnet34_v1b", "dla46_c", "vgg11"]
    imagenet = pd.DataFrame({"model": ["resnet34.gluon_in1k", "dla46_c.in1k", "vgg11_bn.tv_in1k",
                                       "vgg11.tv_in1k"], "img_size": 224,
                             "top1": [74.6, 64.9, 70.4, 69.0], "top5": 90.0})
    table = paper.imagenet_pepr(raw, imagenet)
    assert table["imagenet_model"].tolist() == ["resnet34.gluon_in1k", "dla46_c.in1k",
                                                "vgg11.tv_in1k"]
    assert table["rules_agree"].tolist() == [False, True, False]


def test_imagenet_pepr_bad_arguments(tags):
    raw = paper.make_example_results(n_models=3)
    imagenet = paper.make_example_imagenet(raw, weights=tags)
    with pytest.raises(ValueError, match=r"match='author' is not a matching rule.*authors"):
        paper.imagenet_pepr(raw, imagenet, match="author")
    with pytest.raises(ValueError, match=r"experiment='lidc' is not in the results"):
        paper.imagenet_pepr(raw, imagenet, experiment="lidc")
    with pytest.raises(ValueError, match=r"imagenet lacks the columns \['top1'"):
        paper.imagenet_pepr(raw, imagenet.drop(columns="top1"))


def test_load_imagenet_through_the_shared_lookup(tmp_path, no_repo_data, monkeypatch, tags):
    folder = tmp_path / "bundle-ish"
    folder.mkdir()
    table = paper.make_example_imagenet(weights=tags).drop(columns="synthetic")
    table.to_csv(folder / "results-imagenet.csv", index=False)
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(folder))
    got = paper.load_imagenet(download=False)
    assert got.attrs["source"] == str(folder / "results-imagenet.csv")
    assert not got["synthetic"].any()
    monkeypatch.delenv("PEPRKIT_DATA_DIR")
    with pytest.raises(paper.ResultsUnavailable, match=r"results-imagenet\.csv.*download=False"):
        paper.load_imagenet(download=False)


def test_load_imagenet_downloads_once(no_repo_data, monkeypatch, tags):
    body = paper.make_example_imagenet(weights=tags).to_csv(index=False).encode()
    calls = []
    monkeypatch.setattr(paper.urllib.request, "urlopen",
                        lambda url, timeout: calls.append(url) or io.BytesIO(body))
    paper.load_imagenet()
    paper.load_imagenet()
    assert calls == [paper.IMAGENET_URL]
    assert (no_repo_data / "results-imagenet.csv").read_bytes() == body


def test_imagenet_stand_in_is_loud(no_repo_data, capsys):
    table = paper.load_imagenet_or_example(download=False)
    out = capsys.readouterr().out
    assert "SYNTHETIC STAND-IN" in out and "results-imagenet.csv" in out
    assert table["synthetic"].all()
    scored = paper.imagenet_pepr(paper.make_example_results(), table)
    assert scored["synthetic"].all() and (~scored["rules_agree"]).sum() >= 3


# --- Figure 4a: one point per model and epoch -------------------------------------------

def test_epoch_points_estimate_energy_per_epoch_and_say_so():
    raw = paper.make_example_results(n_models=4)
    points = paper.epoch_points(raw, experiment="derma")
    assert len(points) == 40 and set(points["epoch"]) == set(range(1, 11))
    rows = raw[raw["dataset"] == "derma"].set_index("model")
    last = points[points["epoch"] == 10].set_index("model")
    np.testing.assert_array_equal(last.loc[rows.index, "energy_kwh"], rows["energy"])
    np.testing.assert_array_equal(last.loc[rows.index, "test_acc"], rows["test_09"])
    first = points[points["epoch"] == 1].set_index("model")
    np.testing.assert_allclose(first.loc[rows.index, "energy_kwh"], rows["energy"] / 10)
    assert first["energy_source"].str.startswith("estimated").all()
    assert last["energy_source"].str.startswith("measured").all()
    with pytest.raises(ValueError, match="experiment='lidc'"):
        paper.epoch_points(raw, experiment="lidc")


# --- the paper's PUE ---------------------------------------------------------------------
def test_paper_pue_is_carbontrackers_and_without_pue_divides_it_out():
    """carbontracker 1.1.7-1.2.5 multiplied every reported energy by a PUE of 1.55 (and the
    CO2 is that energy times the grid's intensity): dividing it out changes the absolute
    kWh and grams by exactly that factor and leaves PePR-E and PePR-C as they were."""
    assert paper.PAPER_PUE == 1.55
    raw = paper.make_example_results(n_models=8, experiments=("derma_pt", "lidc"))
    it = paper.without_pue(raw)
    for column in ("energy", "co2"):
        np.testing.assert_allclose(raw[column].to_numpy() / it[column].to_numpy(),
                                   paper.PAPER_PUE, rtol=1e-12)
    rest = [c for c in raw.columns if c not in ("energy", "co2")]
    pd.testing.assert_frame_equal(it[rest], raw[rest])
    assert it.attrs["pue"] == 1.0 and "pue" not in raw.attrs  # the input is not changed
    with_pue, without = paper.paper_pepr(raw), paper.paper_pepr(it)
    for column in ("energy_kwh_norm", "pepr_e", "co2_g_norm", "pepr_c", "pepr_m", "pepr_t"):
        np.testing.assert_allclose(without[column], with_pue[column], rtol=1e-12, atol=0)
    # also on the scored table: the absolute columns change, the scores computed stay valid
    scored = paper.without_pue(with_pue)
    np.testing.assert_allclose(with_pue["energy_kwh"] / scored["energy_kwh"], paper.PAPER_PUE)
    np.testing.assert_allclose(with_pue["co2_g"] / scored["co2_g"], paper.PAPER_PUE)
    np.testing.assert_allclose(scored["pepr_e"], without["pepr_e"], rtol=1e-12)
    # another factor, e.g. a reader's own assumption
    np.testing.assert_allclose(paper.without_pue(raw, pue=2.0)["energy"], raw["energy"] / 2)


@pytest.mark.parametrize(("make", "kwargs", "match"), [
    (lambda raw: paper.without_pue(raw), {}, r"divided out already"),
    (lambda raw: raw, {"pue": 0}, r"pue=0 must be a number > 0 \(the paper's is 1\.55\)"),
    (lambda raw: raw[["model", "dataset"]], {}, r"no 'energy' or 'energy_kwh' column"),
])
def test_without_pue_refuses_twice_a_bad_factor_and_tables_without_energy(make, kwargs, match):
    raw = paper.make_example_results(n_models=3, experiments=("derma_pt",))
    with pytest.raises(ValueError, match=match):
        paper.without_pue(make(raw), **kwargs)
