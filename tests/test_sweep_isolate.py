"""peprkit.sweep with each run in a worker process of its own: order-free memory, resume,
shards; forked runs: threads, same history as a fresh interpreter, Ctrl-C, no orphans."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import sweep as S  # noqa: E402
from peprkit.data import load_npz, make_synthetic  # noqa: E402
from peprkit.meter import lookup_country  # noqa: E402
from peprkit.train import _forkserver, _threads  # noqa: E402
from peprkit.train._subprocess import run_isolated  # noqa: E402

MODELS = ["lcnet_050", "resnet18"]


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    path = make_synthetic(tmp_path_factory.mktemp("syn") / "syn.npz", n_classes=2, n_train=48,
                          n_val=8, n_test=8)
    return load_npz(path)


def test_memory_does_not_depend_on_the_order_of_the_sweep(syn, tmp_path):
    tables = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # country given: no world-average warning
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*always answering the most common class")
        for order in (MODELS, MODELS[::-1]):
            tables[tuple(order)] = S.run_sweep(
                order, syn, epochs=1, out=tmp_path / f"{order[0]}.csv", pretrained=(False,),
                quiet=True, batch_size=16, threads=1, country="DK").set_index("model")
    first, second = tables.values()
    # The order effect shows on the small model: in one process lcnet_050 read 0.038 GB first
    # and 0.020 GB after resnet18, while its isolated runs agree within 4%. Identical isolated
    # runs of resnet18 spread over 0.229-0.273 GB (the allocator's layout differs between
    # processes; benchmarks/isolate_cost.py prints both), so it gets a noise-sized tolerance.
    tolerance = {"lcnet_050": 0.10, "resnet18": 0.25}
    for model in MODELS:
        a, b = first.loc[model, "memory_gb"], second.loc[model, "memory_gb"]
        assert a > 0 and b > 0
        assert abs(a - b) / max(a, b) < tolerance[model], (model, a, b)
        assert first.loc[model, "memory_source"].startswith("process-rss-increase:measured")
    dk = lookup_country("DK").intensity_g_per_kwh
    ratio = first["co2_g"] / first["energy_kwh"]
    assert ratio.to_numpy() == pytest.approx([dk, dk])  # each run metered on the DK grid
    assert (first["train_cpu_s"] > 0).all() and first["majority_acc"].notna().all()


def test_isolated_shards_resume_and_results(syn, tmp_path, capfd):
    outs = [tmp_path / f"shard{i}.csv" for i in range(2)]
    for i, out in enumerate(outs):
        S.run_sweep(["lcnet_050"], syn, epochs=1, out=out, pretrained=(False,), seeds=(0, 1),
                    shard=(i, 2), batch_size=16, meter=False, isolate=True)
    assert "lcnet_050 epoch 1/1" in capfd.readouterr().out  # the worker's progress is shown
    both = pd.concat([S.read_results(o) for o in outs], ignore_index=True)
    assert sorted(both["seed"]) == [0, 1] and (both["status"] == "completed").all()
    runs = sorted(p.name for p in tmp_path.glob("shard*_runs/*"))
    assert runs == [f"lcnet_050_synthetic28_scratch_f1_s{s}_e1_lr0.005_b16_adamw" for s in (0, 1)]
    assert not list(tmp_path.glob("shard*_runs/*/checkpoint.pt"))
    stamp = (tmp_path / "shard0.csv").stat().st_mtime_ns
    again = S.run_sweep(["lcnet_050"], syn, epochs=1, out=outs[0], pretrained=(False,),
                        seeds=(0, 1), shard=(0, 2), batch_size=16, meter=False, isolate=True,
                        quiet=True)
    assert len(again) == 1 and (tmp_path / "shard0.csv").stat().st_mtime_ns == stamp


def test_worker_errors_are_raised_here(syn, tmp_path):
    with pytest.raises(ValueError, match=r"epochs=0 must be a whole number >= 1"):
        S.run_sweep(["lcnet_050"], syn, epochs=0, out=tmp_path / "r.csv", pretrained=(False,),
                    quiet=True, meter=False, isolate=True)


# --- runs forked from the server (peprkit.train._forkserver) ------------------------------

needs_fork = pytest.mark.skipif(not _forkserver.available(),
                                reason="runs are forked on Linux only")


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@needs_fork
def test_a_forked_run_has_the_thread_policy_of_a_fresh_one(syn, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    _forkserver.shutdown()  # the server starts with this environment
    for threads in (1, None):
        job = {"finetune": dict(model="lcnet_050", data=syn, epochs=1, pretrained=False,
                                batch_size=16, quiet=True, threads=threads), "meter": False}
        result = run_isolated(job, start="fork")
        assert result["torch_threads"] == _threads.resolve_threads(threads)
        assert result["pid"] != os.getpid() and not _running(result["pid"])
    policy = run_isolated({"call": "peprkit.train._threads:wait_policy"}, start="fork")
    assert policy["value"] == "passive"
    env = run_isolated({"call": "os:getenv", "args": ["OMP_NUM_THREADS"]}, start="fork")
    assert env["value"] == str(_threads.machine_threads())
    monkeypatch.setenv("PEPRKIT_TEST_VALUE", "seen")  # the run's environment is today's
    assert run_isolated({"call": "os:getenv", "args": ["PEPRKIT_TEST_VALUE"]},
                        start="fork")["value"] == "seen"


@needs_fork
def test_forked_and_fresh_runs_give_the_same_history(syn, tmp_path):
    histories = []
    for start in ("fork", "fresh"):
        job = {"finetune": dict(model="lcnet_050", data=syn, epochs=2, pretrained=False,
                                batch_size=16, seed=3, quiet=True, run_dir=tmp_path / start),
               "meter": False}
        assert run_isolated(job, start=start)["status"] == "completed"
        histories.append(pd.read_csv(tmp_path / start / "history.csv")[
            ["epoch", "train_loss", "train_acc", "val_acc", "test_acc"]])
    pd.testing.assert_frame_equal(histories[0], histories[1])


@needs_fork
def test_ctrl_c_stops_a_forked_run_and_leaves_no_process(capfd):
    run_isolated({"call": "os:getpid"}, start="fork")  # the server is up
    threading.Timer(1.0, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        run_isolated({"call": "time:sleep", "args": [120]}, start="fork", grace_s=20)
    assert not _running(_forkserver.last_pid)
    printed = run_isolated({"call": "builtins:print", "args": ["after ✓"]}, start="fork")
    assert printed["status"] == "completed" and "after ✓" in capfd.readouterr().out


_DRIVER = """
import sys, warnings
warnings.simplefilter("ignore")
from peprkit import sweep as S
from peprkit.data import load_npz
from peprkit.train import _forkserver
try:
    S.run_sweep(["lcnet_050"], load_npz(sys.argv[1]), epochs=3, out=sys.argv[2],
                pretrained=(False,), seeds=(0, 1), batch_size=16, meter=False, isolate=True,
                quiet=True)
    print("DONE", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
print("PIDS", _forkserver._server.proc.pid, _forkserver.last_pid, flush=True)
"""


@needs_fork
def test_ctrl_c_in_a_sweep_keeps_its_rows_leaves_no_process_and_resumes(syn, tmp_path):
    data, out = tmp_path / "syn.npz", tmp_path / "r.csv"
    make_synthetic(data, n_classes=2, n_train=48, n_val=8, n_test=8)
    (tmp_path / "driver.py").write_text(_DRIVER)
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(data), str(out)],
                              stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(S.read_results(out)) < 1 and driver.poll() is None:
        assert time.monotonic() < deadline, "the first run did not finish"
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)  # during the second run
    lines = driver.communicate(timeout=120)[0].split("\n")
    assert "INTERRUPTED" in lines and driver.returncode == 0
    pids = [int(p) for p in next(x for x in lines if x.startswith("PIDS")).split()[1:]]
    deadline = time.monotonic() + 30
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(p) for p in pids)  # neither the run nor the server outlives it
    assert S.read_results(out)["seed"].tolist() == [0]  # the finished run's row stays
    table = S.run_sweep(["lcnet_050"], load_npz(data), epochs=3, out=out, pretrained=(False,),
                        seeds=(0, 1), batch_size=16, meter=False, isolate=True, quiet=True)
    assert table["seed"].tolist() == [0, 1] and (table["epochs_run"] == 3).all()
    history = pd.read_csv(next(tmp_path.glob("r_runs/*_s1_*/history.csv")))
    assert history["epoch"].tolist() == [1, 2, 3]
