"""peprkit.paper: loading the authors' results offline, recomputing PePR, comparing sizes."""

from __future__ import annotations

import io
import urllib.error

import numpy as np
import pandas as pd
import pytest

from peprkit import _paths, paper


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
