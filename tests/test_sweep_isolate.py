"""peprkit.sweep with each run in a fresh worker process: order-free memory, resume, shards."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from peprkit import sweep as S  # noqa: E402
from peprkit.data import load_npz, make_synthetic  # noqa: E402
from peprkit.meter import lookup_country  # noqa: E402

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
