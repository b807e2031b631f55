"""`peprkit info | demo | sweep` and `peprkit.demo.run_demo`: output, files written, errors."""

from __future__ import annotations

import re

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import cli  # noqa: E402
from peprkit import data as D  # noqa: E402
from peprkit.demo import run_demo  # noqa: E402


@pytest.fixture
def offline_data(tmp_path_factory, monkeypatch):
    """No MedMNIST file anywhere (the demo must fall back to synthetic data)."""
    empty = tmp_path_factory.mktemp("medmnist_root")
    monkeypatch.setattr(D, "medmnist_default_root", lambda: empty)
    monkeypatch.delenv("PEPRKIT_DATA_DIR", raising=False)
    monkeypatch.setattr("peprkit._paths.repo_data_dir", lambda: empty)


@pytest.fixture(scope="module")
def syn_path(tmp_path_factory):
    return D.make_synthetic(tmp_path_factory.mktemp("syn") / "syn.npz", n_train=32, n_val=8,
                            n_test=8)


def test_info_reports_versions_meter_and_files(capsys, monkeypatch, syn_path, tmp_path):
    (tmp_path / "breastmnist.npz").write_bytes(syn_path.read_bytes())
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(tmp_path))
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for needed in ("torch", "timm", "medmnist", "Device:", "meter", "cpu",
                   "Datasets offline (", str(tmp_path / "breastmnist.npz"),
                   "Pretrained weights offline for SMALL_ZOO: 0/", "not reachable"):
        assert needed in out


def test_sweep_command_writes_results(capsys, syn_path, tmp_path):
    out = tmp_path / "r.csv"
    code = cli.main(["sweep", "--models", "resnet18", "--dataset", str(syn_path), "--epochs", "1",
                     "--pretrained", "no", "--out", str(out), "--quiet", "--batch-size", "16"])
    assert code == 0 and "1 runs in" in capsys.readouterr().out
    row = pd.read_csv(out).iloc[0]
    assert row["model"] == "resnet18" and not row["pretrained"] and row["synthetic"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--models", "resnet81"], "--models resnet81 is not a timm model. Did you mean: resnet18"),
        (["--dataset", "breastmnst"], "Did you mean: breastmnist"),
        (["--size", "100"], r"argument --size: invalid choice: '?100'? \(choose from 28, 64"),
        (["--shard", "1-4"], "argument --shard: '1-4' must be i/n with 0 <= i < n"),
        (["--shard", "4/4"], "argument --shard: '4/4' must be i/n"),
        (["--epochs", "0"], "argument --epochs: '0' must be a whole number >= 1"),
        (["--fractions", "0.5,x"], "argument --fractions: 'x' is not a valid float"),
    ],
)
def test_sweep_bad_arguments_exit_2_with_one_line(capsys, offline_data, tmp_path, args, match):
    base = {"--models": "resnet18", "--dataset": "breastmnist", "--epochs": "1",
            "--out": str(tmp_path / "r.csv")}
    for key, value in zip(args[::2], args[1::2], strict=True):
        base[key] = value
    argv = ["sweep", "--no-download"] + [x for kv in base.items() for x in kv]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("peprkit sweep: error:")
    assert re.search(match, err)


def test_sweep_missing_dataset_explains_and_fails(capsys, offline_data, tmp_path):
    code = cli.main(["sweep", "--models", "resnet18", "--dataset", "dermamnist", "--no-download",
                     "--out", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "dermamnist.npz" in err and "bundle" in err


def test_demo_falls_back_to_loud_synthetic_and_scratch(capsys, offline_data, tmp_path):
    """The demo's workflow, called as a notebook would (``peprkit demo`` only wraps it)."""
    out = tmp_path / "demo"
    demo = run_demo(["mobilenetv3_small_050", "resnet18"], epochs=1, out=out, quiet=True)
    text = capsys.readouterr().out
    assert "SYNTHETIC DATA" in text and "NOT medical results" in text
    assert "FROM SCRATCH (pretrained=False)" in text
    assert "pepr_e" in text and "pepr_t" in text and "(SYNTHETIC DATA)" in text
    assert demo.plot == out / "pareto.png" and demo.plot.stat().st_size > 1000
    assert demo.results == out / "results.csv" and demo.synthetic
    table = pd.read_csv(out / "results.csv")
    assert sorted(table["model"]) == ["mobilenetv3_small_050", "resnet18"]
    assert table["synthetic"].all() and not table["pretrained"].any()
    assert sorted(demo.table["model"]) == sorted(table["model"])
    assert demo.table["pepr_e"].is_monotonic_decreasing  # best first, as printed


def test_demo_command_passes_its_options_to_run_demo(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("peprkit.demo.run_demo", lambda *a, **k: calls.append((a, k)))
    out = str(tmp_path / "demo")
    assert cli.main(["demo", "--models", "lcnet_050,resnet18", "--epochs", "2", "--quick",
                     "--out", out, "--quiet"]) == 0
    assert calls == [((["lcnet_050", "resnet18"],), dict(dataset="breastmnist", epochs=2,
                                                         quick=True, out=out, quiet=True))]


def test_demo_unknown_model_exits_2(capsys):
    assert cli.main(["demo", "--models", "mobilenet_v9"]) == 2
    assert "is not a timm model" in capsys.readouterr().err
