"""Fine-tune a timm model on in-memory MedMNIST data, metered one lap per epoch.

The paper's protocol is the default: Adam, lr 5e-4, batch 32, 10 epochs, cross-entropy
(BCE per label for multi-label tasks). Images stay uint8 in memory; each batch is moved
to the device, converted, resized to the model's input size and normalised on the fly
(no DataLoader, no per-image PIL), which keeps a 2-core CPU busy with the model itself.

Each epoch (training plus evaluation of val and test) is one :class:`EnergyMeter` lap;
``history`` is cumulative and says so in ``metered`` (``"train+eval"``). With
``run_dir`` a checkpoint is written atomically after every epoch and a later call
resumes after the last finished epoch, adding new laps on top of the stored totals.
"""

from __future__ import annotations

import io
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peprkit._util import atomic_write, did_you_mean, optional_import

#: What each epoch's meter lap covers.
METERED = "train+eval"
OPTIMIZERS = ("adam", "adamw", "sgd")
#: Run.summary columns, in order (the sweep schema, then extras).
SUMMARY_COLUMNS = (
    "model", "dataset", "size", "input_size", "pretrained", "fraction", "seed", "epochs",
    "num_params", "test_acc", "test_auc", "val_acc", "energy_kwh", "co2_g", "memory_gb",
    "memory_source", "train_time_s", "device", "synthetic", "gpu_source", "cpu_source",
    "ram_source", "epochs_run", "status", "metered", "pepr_best_epoch", "weights", "task",
    "threads",
)
_CUMULATIVE = ("time_s", "energy_kwh", "gpu_kwh", "cpu_kwh", "ram_kwh", "co2_g")
#: File name of the per-epoch checkpoint inside ``run_dir``.
CHECKPOINT = "checkpoint.pt"


@dataclass
class Run:
    """The outcome of :func:`finetune`.

    Attributes:
        history: one row per finished epoch (cumulative time, energy, CO2; peak memory).
        summary: one row in the sweep schema (final epoch's accuracies, run totals).
        model: the trained ``torch.nn.Module``.
        status: ``"completed"``, ``"early-stopped"`` or ``"interrupted"``.
        pepr_best_epoch: with ``early_stop="pepr"``, the epoch of ``P_ePRc*``.
        run_dir: the checkpoint folder, if any.
    """

    history: pd.DataFrame
    summary: pd.DataFrame
    model: Any
    status: str
    pepr_best_epoch: int | None = None
    run_dir: Path | None = None

    def __repr__(self) -> str:
        last = self.history.iloc[-1] if len(self.history) else None
        tail = (f", test_acc={last['test_acc']:.3f}, energy_kwh={last['energy_kwh']:.3g}"
                if last is not None else "")
        return f"Run(status={self.status!r}, epochs={len(self.history)}{tail})"


def auc(y_true, score) -> float:
    """ROC AUC by ranks (Mann-Whitney): ``(sum of positive ranks - n1(n1+1)/2) / (n1 n0)``.

    Ties get average ranks; NaN when one class is absent.

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from scipy.stats import rankdata

    y = np.asarray(y_true).astype(bool).ravel()
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=float).ravel())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _scores(logits, task: str):
    """Accuracy inputs: predicted labels and scores for AUC (numpy)."""
    torch = optional_import("torch", extra="train")
    if task.startswith("multi-label"):
        prob = torch.sigmoid(logits)
        return (prob > 0.5).float(), prob
    prob = torch.softmax(logits, dim=1)
    return prob.argmax(dim=1), prob


def _metrics(pred, prob, labels, task: str) -> tuple[float, float]:
    """(accuracy, AUC): AUC of the positive class for binary tasks, mean per-label AUC for
    multi-label ones (accuracy there is the mean per-label accuracy), NaN otherwise."""
    pred, prob, labels = pred.numpy(), prob.float().numpy(), labels.numpy()
    acc = float((pred == labels).mean())
    if task == "binary-class":
        return acc, auc(labels, prob[:, 1])
    if task.startswith("multi-label"):
        return acc, float(np.nanmean([auc(labels[:, j], prob[:, j])
                                      for j in range(labels.shape[1])]))
    return acc, float("nan")


class _Batches:
    """uint8 images -> normalised float batches at the model's input size, on the device."""

    def __init__(self, model, data, input_size: int, device, channels_last: bool):
        torch = optional_import("torch", extra="train")
        cfg = getattr(model, "pretrained_cfg", None) or {}
        mean = np.asarray(cfg.get("mean", (0.5,) * 3), dtype=np.float32)
        std = np.asarray(cfg.get("std", (0.5,) * 3), dtype=np.float32)
        if data.n_channels != mean.size:  # grey images: timm sums the first conv's weights
            mean, std = np.full(data.n_channels, mean.mean()), np.full(data.n_channels, std.mean())
        shape = (1, data.n_channels, 1, 1)
        # (x / 255 - mean) / std == x * scale - shift
        self.scale = torch.tensor(1.0 / (255.0 * std), dtype=torch.float32).view(shape).to(device)
        self.shift = torch.tensor(mean / std, dtype=torch.float32).view(shape).to(device)
        self.size, self.input_size, self.device = data.size, input_size, device
        self.channels_last = channels_last

    def __call__(self, images):
        torch = optional_import("torch", extra="train")
        x = images.to(self.device, non_blocking=True).float()
        if self.input_size != self.size:
            x = torch.nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        x = x.mul_(self.scale).sub_(self.shift)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _images_on_gpu(data, dev, limit_bytes: float = 2e9):
    """``data`` with its uint8 images moved to the GPU once when they fit in ``limit_bytes``."""
    from dataclasses import replace

    from peprkit.data import Split

    splits = {name: getattr(data, name) for name in ("train", "val", "test")}
    if sum(s.images.numel() for s in splits.values()) > limit_bytes:
        return data
    return replace(data, **{name: Split(s.images.to(dev), s.labels)
                            for name, s in splits.items()})


def _resolve_device(device: str):
    torch = optional_import("torch", extra="train")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or "
                         "'cuda'.") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here; use device='auto'.")
    return resolved


def _check_options(epochs, lr, batch_size, optimizer, amp, early_stop, patience, budget_kwh,
                   meter) -> None:
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 1 (the paper uses 10).")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr={lr!r} must be a positive number (the paper uses 5e-4).")
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size={batch_size!r} must be a whole number >= 2 (paper: 32).")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not one of {OPTIMIZERS}."
                         f"{did_you_mean(str(optimizer), OPTIMIZERS)}")
    if amp not in ("auto", True, False):
        raise ValueError(f"amp={amp!r} must be 'auto', True or False.")
    if early_stop not in (None, "pepr"):
        raise ValueError(f"early_stop={early_stop!r} must be None or 'pepr'.")
    if early_stop == "pepr":
        if not (isinstance(budget_kwh, (int, float)) and budget_kwh > 0):
            raise ValueError(f"budget_kwh={budget_kwh!r}: early_stop='pepr' needs a positive "
                             "energy budget in kWh, e.g. budget_kwh=0.01.")
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} must be a whole number of epochs >= 1.")
        if meter is False:
            raise ValueError("meter=False: early_stop='pepr' needs the energy meter; "
                             "pass meter=True.")


def _seed_everything(seed: int) -> None:
    torch = optional_import("torch", extra="train")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _set_threads(threads: int | None) -> int:
    """Set torch's CPU threads; ``None``: the cores not already busy, at least 1.

    ``threads = max(1, round(cores - busy))`` with ``busy`` the cores other programs
    keep busy over 0.2 s. torch threads that share a core with another busy program
    wait on each other (seen here: 20x slower per batch with 2 threads on 2 cores
    next to one other busy process, against 1 thread).
    """
    torch = optional_import("torch", extra="train")
    if threads is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
        try:
            import psutil

            busy = psutil.cpu_percent(interval=0.2) / 100.0 * cores
        except ImportError:
            busy = 0.0
        threads = max(1, min(cores, round(cores - busy)))
    elif not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r} must be None (automatic) or a whole number >= 1.")
    torch.set_num_threads(threads)
    return threads


def _make_optimizer(name: str, params, lr: float):
    torch = optional_import("torch", extra="train")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(params, lr=lr)


def evaluate(model, split, batches, task: str, *, batch_size: int = 128, amp: bool = False
             ) -> tuple[float, float]:
    """(accuracy, AUC) of ``model`` on a :class:`peprkit.data.Split` (see :func:`_metrics`)."""
    torch = optional_import("torch", extra="train")
    model.eval()
    preds, probs = [], []
    with torch.inference_mode(), torch.autocast(batches.device.type, enabled=amp):
        for start in range(0, len(split), batch_size):
            pred, prob = _scores(model(batches(split.images[start:start + batch_size])).float(),
                                 task)
            preds.append(pred.cpu())
            probs.append(prob.cpu())
    return _metrics(torch.cat(preds), torch.cat(probs), split.labels, task)


def _train_epoch(model, data, batches, opt, scaler, loss_fn, *, batch_size, amp, generator,
                 bar) -> tuple[float, float, float]:
    """One pass over the training split; returns (mean loss, accuracy, images per second).

    A last batch of a single image is dropped (batch norm cannot train on it).
    """
    torch = optional_import("torch", extra="train")
    model.train()
    split, task = data.train, data.task
    order = torch.randperm(len(split), generator=generator)
    total_loss, correct, seen, started = 0.0, 0.0, 0, time.perf_counter()
    for start in range(0, len(split), batch_size):
        idx = order[start:start + batch_size]
        if idx.numel() < 2:
            break
        x = batches(split.images[idx])
        y = split.labels[idx].to(batches.device, non_blocking=True)
        with torch.autocast(batches.device.type, enabled=amp):
            logits = model(x)
            loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            pred, _ = _scores(logits.detach().float(), task)
            n = idx.numel()
            total_loss += float(loss) * n
            hits = (pred == y).float()
            correct += float(hits.mean(dim=1).sum() if hits.dim() == 2 else hits.sum())
            seen += n
        bar.update(1)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    elapsed = time.perf_counter() - started
    return total_loss / max(seen, 1), correct / max(seen, 1), seen / max(elapsed, 1e-9)


def _lap_values(reading, device_type: str) -> dict[str, Any]:
    """Energy (kWh), CO2 (g), peak memory (GB) and labels of one lap; NaN when unavailable."""
    if reading is None:
        off = "unavailable:meter-off"
        return {"energy_kwh": math.nan, "gpu_kwh": math.nan, "cpu_kwh": math.nan,
                "ram_kwh": math.nan, "co2_g": math.nan, "memory_gb": math.nan,
                "memory_source": off, "gpu_source": off, "cpu_source": off, "ram_source": off}
    values = {k: (math.nan if v is None else float(v)) for k, v in (
        ("energy_kwh", reading.energy_kwh), ("gpu_kwh", reading.gpu_kwh),
        ("cpu_kwh", reading.cpu_kwh), ("ram_kwh", reading.ram_kwh), ("co2_g", reading.co2_g))}
    if device_type == "cuda":
        memory, source = reading.peak_gpu_memory_gb, "gpu:" + reading.sources.get("gpu_memory", "")
    else:
        memory, source = reading.peak_rss_gb, "process-rss:" + reading.sources.get("rss", "")
    values["memory_gb"] = math.nan if memory is None else float(memory)
    values["memory_source"] = source
    values.update({f"{c}_source": reading.sources.get(c, "unavailable") for c in ("gpu", "cpu",
                                                                                   "ram")})
    return values


def _save_checkpoint(run_dir: Path, model, opt, scaler, history: list[dict], config: dict):
    torch = optional_import("torch", extra="train")
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "scaler": scaler.state_dict(), "history": history, "config": config,
                "rng": torch.get_rng_state()}, buffer)
    atomic_write(run_dir / CHECKPOINT, buffer.getvalue())
    atomic_write(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))


def _load_checkpoint(run_dir: Path, config: dict) -> dict | None:
    torch = optional_import("torch", extra="train")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    changed = {k: (state["config"].get(k), v) for k, v in config.items()
               if state["config"].get(k) != v}
    if changed:
        raise ValueError(
            f"run_dir={str(run_dir)!r} holds a different run (stored vs now: {changed}); "
            "use a new run_dir, or delete that folder to start over."
        )
    return state


def _pepr_best(history: list[dict]) -> int:
    """Epoch of ``P_ePRc* = max_t val_acc_t / (1 + R_t)``, ``R_t = energy_kwh_t / budget_kwh``."""
    scores = [row["pepr_budget"] for row in history]
    return int(history[int(np.argmax(scores))]["epoch"])


def _summary(history: pd.DataFrame, meta: dict) -> pd.DataFrame:
    if history.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    last = history.iloc[-1]
    row = {**meta, "epochs_run": int(last["epoch"]), "train_time_s": float(last["time_s"]),
           "memory_gb": float(history["memory_gb"].max())}
    for col in ("test_acc", "test_auc", "val_acc", "energy_kwh", "co2_g", "memory_source",
                "gpu_source", "cpu_source", "ram_source"):
        row[col] = last[col]
    return pd.DataFrame([{col: row.get(col) for col in SUMMARY_COLUMNS}])


def _model_name(model) -> str:
    if isinstance(model, str):
        return model
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def finetune(
    model: Any,
    data: Any,
    *,
    epochs: int = 10,
    lr: float = 5e-4,
    batch_size: int = 32,
    optimizer: str = "adam",
    pretrained: bool = True,
    device: str = "auto",
    meter: Any = True,
    amp: Any = "auto",
    seed: int = 0,
    run_dir: str | os.PathLike | None = None,
    early_stop: str | None = None,
    patience: int = 3,
    budget_kwh: float | None = None,
    threads: int | None = None,
    quiet: bool = False,
) -> Run:
    """Fine-tune ``model`` on ``data`` and record every epoch (the paper's protocol by default).

    Args:
        model: a timm model name (created with :func:`peprkit.models.create_model`) or a
            ``torch.nn.Module`` with ``data.num_classes`` outputs.
        data: a :class:`peprkit.data.Data`, or a MedMNIST flag loaded with defaults.
        epochs: epochs to train (in total, counting those already in ``run_dir``).
        lr, batch_size, optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        pretrained: load ImageNet weights when ``model`` is a name (an error offline without
            them, never a silent random start); recorded in the summary.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        meter: True (an :class:`peprkit.meter.EnergyMeter` with defaults), an unstarted
            ``EnergyMeter`` (e.g. with your ``country``), or False (energy columns NaN,
            labelled ``unavailable:meter-off``).
        amp: ``"auto"``: float16 autocast + channels_last on CUDA, off on CPU.
        seed: seeds Python, numpy and torch (model head, batch order).
        run_dir: folder for a checkpoint after every epoch; a rerun resumes there.
        early_stop: ``"pepr"`` stops when ``PePR_t = val_acc_t / (1 + energy_kwh_t /
            budget_kwh)`` has not improved for ``patience`` epochs.
        patience, budget_kwh: options of ``early_stop="pepr"``.
        threads: torch CPU threads; None picks the cores not busy with other programs.
        quiet: no progress bars or epoch lines.

    Returns:
        A :class:`Run`. Ctrl-C (KeyboardInterrupt) stops after keeping the finished epochs
        (``status="interrupted"``).

    Raises:
        ValueError: a bad option (named in the message), or a ``run_dir`` holding another run.
        peprkit.models.WeightsNotFoundError: pretrained weights cannot be had.

    Example:
        >>> from peprkit.data import make_synthetic, load_npz  # doctest: +SKIP
        >>> data = load_npz(make_synthetic("syn.npz", n_train=64))  # doctest: +SKIP
        >>> finetune("resnet18", data, epochs=2, pretrained=False).history  # doctest: +SKIP
    """
    torch = optional_import("torch", extra="train")
    tqdm = optional_import("tqdm.auto", extra="train", package="tqdm").tqdm
    from peprkit.data import Data, load_medmnist
    from peprkit.models import count_params, create_model, input_size_for

    _check_options(epochs, lr, batch_size, optimizer, amp, early_stop, patience, budget_kwh,
                   meter)
    if not isinstance(data, Data):
        data = load_medmnist(str(data))
    dev = _resolve_device(device)
    use_amp = dev.type == "cuda" if amp == "auto" else bool(amp)
    if use_amp and dev.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got device={str(dev)!r}; use amp='auto'.")
    n_threads = _set_threads(threads)
    _seed_everything(seed)
    name = _model_name(model)
    if isinstance(model, str):
        model = create_model(model, pretrained=pretrained, num_classes=data.num_classes,
                             in_chans=data.n_channels)
    input_size = input_size_for(model, data.size, data.n_channels)
    model = model.to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        data = _images_on_gpu(data, dev)
    batches = _Batches(model, data, input_size, dev, channels_last=dev.type == "cuda")
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    scaler = torch.amp.GradScaler(dev.type, enabled=use_amp)
    loss_fn = (torch.nn.BCEWithLogitsLoss() if data.multilabel else torch.nn.CrossEntropyLoss())
    meta = {"model": name, "dataset": data.flag, "size": data.size, "input_size": input_size,
            "pretrained": bool(pretrained), "fraction": data.fraction, "seed": seed,
            "epochs": epochs, "num_params": count_params(model), "device": str(dev),
            "synthetic": data.synthetic, "metered": METERED if meter is not False else "off",
            "weights": getattr(model, "peprkit_weights", "given"), "task": data.task,
            "threads": n_threads}
    config = {k: meta[k] for k in ("model", "dataset", "size", "pretrained", "fraction", "seed")}
    config.update(lr=lr, batch_size=batch_size, optimizer=optimizer)

    history: list[dict] = []
    run_path = Path(run_dir) if run_dir is not None else None
    state = _load_checkpoint(run_path, config) if run_path is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])  # dropout etc. continue as if never interrupted
        history = list(state["history"])
    status, best_epoch, energy_meter = "completed", None, None
    if len(history) < epochs and meter is not False:
        from peprkit.meter import EnergyMeter

        energy_meter = (EnergyMeter() if meter is True else meter).start()
    eval_bs = max(128, 4 * batch_size)
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            started = time.perf_counter()
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
            n_batches = len(data.train) // batch_size + (len(data.train) % batch_size > 1)
            with tqdm(total=n_batches, desc=f"{name} epoch {epoch}/{epochs}", disable=quiet,
                      leave=False) as bar:
                loss, train_acc, ips = _train_epoch(
                    model, data, batches, opt, scaler, loss_fn, batch_size=batch_size,
                    amp=use_amp, generator=generator, bar=bar)
            val_acc, _ = evaluate(model, data.val, batches, data.task, batch_size=eval_bs,
                                  amp=use_amp)
            test_acc, test_auc = evaluate(model, data.test, batches, data.task,
                                          batch_size=eval_bs, amp=use_amp)
            reading = energy_meter.lap(f"epoch {epoch}") if energy_meter else None
            lap = _lap_values(reading, dev.type)
            lap["time_s"] = time.perf_counter() - started
            prev = history[-1] if history else {}
            row = {"epoch": epoch, "train_loss": loss, "train_acc": train_acc,
                   "val_acc": val_acc, "test_acc": test_acc, "test_auc": test_auc}
            row.update({k: prev.get(k, 0.0) + lap[k] for k in _CUMULATIVE})
            peaks = [v for v in (prev.get("memory_gb", math.nan), lap["memory_gb"]) if v == v]
            row["memory_gb"] = max(peaks, default=math.nan)
            row.update({k: lap[k] for k in ("memory_source", "gpu_source", "cpu_source",
                                             "ram_source")})
            row.update(train_images_per_s=ips, metered=meta["metered"])
            if early_stop == "pepr":
                row["pepr_budget"] = val_acc / (1.0 + row["energy_kwh"] / budget_kwh)
            history.append(row)
            if run_path is not None:
                _save_checkpoint(run_path, model, opt, scaler, history, config)
            if not quiet:
                tqdm.write(f"{name} epoch {epoch}/{epochs}: loss {loss:.3f}, train "
                           f"{train_acc:.3f}, val {val_acc:.3f}, test {test_acc:.3f}, "
                           f"{row['time_s']:.1f} s, {row['energy_kwh']:.3g} kWh")
            if early_stop == "pepr":
                best_epoch = _pepr_best(history)
                if epoch - best_epoch >= patience:
                    status = "early-stopped"
                    break
    except KeyboardInterrupt:
        status = "interrupted"
        if not quiet:
            print(f"Interrupted: keeping {len(history)} finished epoch(s)"
                  + (f"; rerun with run_dir={str(run_path)!r} to resume." if run_path else "."))
    finally:
        if energy_meter is not None:
            energy_meter.stop()
    if early_stop == "pepr" and history and best_epoch is None:
        best_epoch = _pepr_best(history)
    meta.update(status=status, pepr_best_epoch=best_epoch)
    frame = pd.DataFrame(history)
    return Run(history=frame, summary=_summary(frame, meta), model=model, status=status,
               pepr_best_epoch=best_epoch, run_dir=run_path)
