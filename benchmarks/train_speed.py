"""Training speed of peprkit's trainer, side by side on the same data in one run.

1. Trainer (meter on) against a bare PyTorch loop: training images per second of
   resnet18 (target: trainer >= 0.95x bare).
2. The in-memory batch pipeline against medmnist's Dataset + DataLoader (ToTensor +
   Normalize per image): model-ready images per second, no model (target >= 3x at 28 px).
3. Seconds per epoch of resnet18 on 7,007 images at 28 px (DermaMNIST's training split),
   training only and training + evaluation (reference: a bare loop took about 33 s here).

Uses DermaMNIST when a local file is found, else a synthetic file with the same shapes
(7,007 / 1,003 / 2,005 RGB images, 7 classes). Both training paths use the same number of
torch threads (chosen once, see ``peprkit.train._loop.set_threads``).

    python benchmarks/train_speed.py                # full size (a few minutes on 2 cores)
    python benchmarks/train_speed.py --n-train 1000 # quicker
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path


def _data(n_train: int, folder: Path):
    """(data with ``n_train`` training images, a full-size file for medmnist's Dataset).

    The file always has DermaMNIST's split sizes (medmnist's Dataset asserts them); fewer
    training images are a stratified subset of it.
    """
    from peprkit.data import find_medmnist, load_npz, make_synthetic

    if not 2 <= n_train <= 7007:
        raise ValueError(f"--n-train={n_train}: use 2..7007 (DermaMNIST's training split).")
    path, _ = find_medmnist("dermamnist")
    if path is None:
        path = make_synthetic(folder / "dermamnist.npz", n_classes=7, n_channels=3, size=28,
                              n_train=7007, n_val=1003, n_test=2005, flag="dermamnist")
    data = load_npz(path, flag="dermamnist")
    return (data if n_train == 7007 else data.subset(n_train / 7007, seed=0)), path


def bare_epoch(data, threads: int) -> float:
    """One epoch of a plain loop on pre-normalised float tensors; returns images/s."""
    import timm
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=data.num_classes, in_chans=3)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    x_all = (data.train.images.float() / 255 - 0.45) / 0.225
    y_all = data.train.labels
    model.train()
    t0 = time.perf_counter()
    order = torch.randperm(len(y_all))
    for start in range(0, len(y_all), 32):
        idx = order[start:start + 32]
        loss = torch.nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return len(y_all) / (time.perf_counter() - t0)


def trainer_epoch(data, threads: int, recipe: str = "finetune"):
    """One metered finetune epoch; returns (train images/s, epoch s incl. eval, history).

    ``recipe="finetune"`` (Adam, constant lr, plain loss, 28 px: the bare loop's work); the
    from-scratch recipe trains at >= 64 px with a per-step lr (reported on its own line).
    """
    from peprkit.train import finetune

    run = finetune("resnet18", data, epochs=1, pretrained=False, quiet=True, threads=threads,
                   recipe=recipe)
    row = run.history.iloc[0]
    return float(row["train_images_per_s"]), float(row["time_s"]), run.history


def pipeline_in_memory(data) -> float:
    """Model-ready batches from the uint8 tensors (peprkit's path); returns images/s."""
    import timm
    import torch

    from peprkit.train._loop import Batches as _Batches

    model = timm.create_model("resnet18", num_classes=data.num_classes, in_chans=3)
    batches = _Batches(model, data, data.size, torch.device("cpu"), channels_last=False)
    t0 = time.perf_counter()
    order = torch.randperm(len(data.train))
    for start in range(0, len(data.train), 32):
        idx = order[start:start + 32]
        x, y = batches(data.train.images[idx]), data.train.labels[idx]
    assert x.dtype == torch.float32 and y.numel() > 0
    return len(data.train) / (time.perf_counter() - t0)


def pipeline_medmnist(path: Path, workers: int) -> float:
    """medmnist's Dataset (PIL per image) + DataLoader; returns images/s."""
    import medmnist
    import torch
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    ds = medmnist.DermaMNIST(split="train", root=str(path.parent), transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers)
    t0 = time.perf_counter()
    n = sum(len(labels) for _, labels in loader)
    assert n == len(ds)
    return len(ds) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=7007, help="training images")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default auto)")
    parser.add_argument("--ratio-n", type=int, default=2000, help="images per ratio round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ratio rounds")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from peprkit.train._loop import set_threads as _set_threads

    threads = _set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data, path = _data(args.n_train, Path(tmp))
        print(f"data: {data!r}; torch threads: {threads}; load average "
              f"{os.getloadavg()[0]:.2f} (1 min)")
        mem = max(pipeline_in_memory(data) for _ in range(3))
        med = pipeline_medmnist(path, workers=0)
        print(f"\n[pipeline] in-memory {mem:,.0f} img/s vs medmnist Dataset+DataLoader "
              f"{med:,.0f} img/s: {mem / med:.1f}x (target >= 3x)")
        small = data.subset(min(1.0, args.ratio_n / len(data.train)), seed=0)
        bare_runs, trainer_runs = [], []
        for _ in range(args.rounds):  # interleaved; best of each (other load only slows down)
            bare_runs.append(bare_epoch(small, threads))
            trainer_runs.append(trainer_epoch(small, threads)[0])
        bare, ips = max(bare_runs), max(trainer_runs)
        scratch = trainer_epoch(small, threads, recipe="scratch")[0]
        print(f"[meter]    trainer (meter on) {ips:,.0f} img/s vs bare loop {bare:,.0f} img/s "
              f"on {len(small.train):,} images, best of {args.rounds} interleaved rounds "
              f"(bare {_fmt(bare_runs)}; trainer {_fmt(trainer_runs)}): {ips / bare:.2f}x "
              "(target >= 0.95x)")
        print(f"           trainer, from-scratch recipe (inputs >= 64 px, lr schedule, class "
              f"weights; more work per image): {scratch:,.0f} img/s, {scratch / bare:.2f}x "
              "the bare loop at 28 px")
        full_ips, epoch_s, history = trainer_epoch(data, threads)
        full_bare = bare_epoch(data, threads)
    row = history.iloc[0]
    n = len(data.train)
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    print(f"[epoch]    resnet18, {n:,} images at 28 px: trainer {n / full_ips:.1f} s training, "
          f"{epoch_s:.1f} s with val+test evaluation; bare loop {n / full_bare:.1f} s "
          "(reference about 33 s)")
    print(f"           meter: {row['energy_kwh']:.3g} kWh [{row['cpu_source']}], "
          f"peak memory {row['memory_gb']:.2f} GB [{row['memory_source']}]")
    return 0


def _fmt(values) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
