"""peprkit.train's thread policy, run record and reproducibility (mechanisms, no timing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import train as T  # noqa: E402
from peprkit.data import load_npz, make_synthetic  # noqa: E402
from peprkit.models import create_model  # noqa: E402
from peprkit.train import _loop as L  # noqa: E402
from peprkit.train import _subprocess, _threads  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::peprkit.train.ChanceLevelWarning")

TINY = "mobilenetv3_small_050"
RESULT_COLUMNS = ["epoch", "train_loss", "train_acc", "val_acc", "test_acc", "test_auc",
                  "test_balanced_acc"]


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    path = make_synthetic(tmp_path_factory.mktemp("syn") / "syn.npz", n_classes=2, n_train=40,
                          n_val=12, n_test=12, size=28)
    return load_npz(path)


def test_threads_follow_the_machine_not_the_load(monkeypatch):
    psutil = pytest.importorskip("psutil")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.setattr(psutil, "cpu_percent", lambda *a, **k: 100.0)  # a "busy" machine
    assert 1 <= _threads.machine_threads() <= cores
    assert L.set_threads(None) == _threads.machine_threads() == torch.get_num_threads()
    assert L.set_threads(1) == 1 == torch.get_num_threads()
    L.set_threads(None)


def test_isolated_jobs_start_with_passive_wait_and_fixed_threads(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    env = _subprocess.job_environment({"finetune": {"model": TINY, "threads": 3}})
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    env = _subprocess.job_environment({"finetune": {"model": TINY}})
    assert env["OMP_NUM_THREADS"] == str(_threads.machine_threads())
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice is kept
    assert _subprocess.job_environment({"finetune": {}})["OMP_WAIT_POLICY"] == "ACTIVE"
    with pytest.raises(ValueError, match=r"threads=0 must be None"):
        _subprocess.job_environment({"finetune": {"threads": 0}})


def test_importing_train_before_torch_asks_for_passive_wait():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = ("import os, sys, peprkit.train\n"
            "assert 'torch' not in sys.modules\n"
            "print(os.environ.get('OMP_WAIT_POLICY'))\n"
            "import torch\n"
            "print(peprkit.train._threads.wait_policy())\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["PASSIVE", "passive"]


@pytest.mark.parametrize("first, policy", [
    ("import peprkit, torch", "passive"),  # a lesson: peprkit.data loads torch before train
    ("import torch, peprkit", "default:torch-imported-first"),
])
def test_import_peprkit_asks_for_passive_wait_before_anything_loads_torch(first, policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = f"{first}\nimport peprkit.train\nprint(peprkit.train._threads.wait_policy())\n"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [policy]


def test_the_record_names_what_can_change_the_result(syn):
    run = T.finetune(TINY, syn, epochs=1, pretrained=False, meter=False, quiet=True, threads=1)
    c = run.conditions
    assert c["threads"] == 1 == run.summary["threads"].iloc[0]
    assert c["torch_version"] == torch.__version__ == run.summary["torch_version"].iloc[0]
    assert c["omp_wait_policy"].split(":")[0] in ("passive", "active", "default")
    for flag in ("deterministic_algorithms", "cudnn_deterministic", "cudnn_benchmark"):
        assert isinstance(c[flag], bool)
    assert c["recipe"] == "scratch"
    assert (run.summary["optimizer"].iloc[0], run.summary["lr"].iloc[0]) == (
        T.RECIPES["scratch"]["optimizer"], T.RECIPES["scratch"]["lr"])


def test_the_recipe_follows_the_weights():
    assert T.recipe_for("resnet18", pretrained=False)[0] == "scratch"
    assert T.recipe_for("resnet18", pretrained=True)[0] == "finetune"
    random_init = create_model(TINY, pretrained=False)
    assert T.recipe_for(random_init, pretrained=True)[0] == "scratch"
    assert T.recipe_for(torch.nn.Linear(2, 2), pretrained=True)[0] == "finetune"  # unknown
    name, settings = T.recipe_for("resnet18", False, recipe="finetune", lr=1e-3)
    assert (name, settings["lr"], settings["optimizer"]) == ("finetune", 1e-3, "adam")
    assert T.RECIPES["finetune"]["lr"] == T.PROTOCOL["lr"] == 5e-4  # the paper's, unchanged
    with pytest.raises(ValueError, match=r"recipe='fast' must be"):
        T.recipe_for("resnet18", False, recipe="fast")


def test_augmentation_repeats_with_the_generator():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    a = L.augment(x, torch.Generator().manual_seed(1))
    b = L.augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    weights = L.class_weights(torch.tensor([0, 0, 0, 1]), 2)
    assert weights[1] > weights[0] and float(weights.mean()) == pytest.approx(1.0)


def test_the_same_seed_gives_the_same_history_in_fresh_processes(syn, tmp_path):
    histories = []
    for name in ("a", "b"):
        job = {"finetune": dict(model=TINY, data=syn, epochs=2, pretrained=False,
                                batch_size=16, seed=3, quiet=True, run_dir=tmp_path / name),
               "meter": False}
        assert _subprocess.run_isolated(job)["status"] == "completed"
        histories.append(pd.read_csv(tmp_path / name / "history.csv")[RESULT_COLUMNS])
    pd.testing.assert_frame_equal(histories[0], histories[1])
