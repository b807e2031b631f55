"""The training loop's parts: device and threads, batches, one epoch, evaluation."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from peprkit._util import optional_import
from peprkit._validation import check_number
from peprkit.metric import auc, balanced_accuracy

OPTIMIZERS = ("adam", "adamw", "sgd")


def _torch():
    return optional_import("torch", extra="train")


class Batches:
    """uint8 images -> normalised float batches at the model's input size, on the device."""

    def __init__(self, model, data, input_size: int, device, channels_last: bool):
        torch = _torch()
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
        torch = _torch()
        x = images.to(self.device, non_blocking=True).float()
        if self.input_size != self.size:
            x = torch.nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        x = x.mul_(self.scale).sub_(self.shift)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def images_on_gpu(data, dev, limit_bytes: float = 2e9):
    """``data`` with its uint8 images moved to the GPU once when they fit in ``limit_bytes``."""
    from dataclasses import replace

    from peprkit.data import Split

    splits = {name: getattr(data, name) for name in ("train", "val", "test")}
    if sum(s.images.numel() for s in splits.values()) > limit_bytes:
        return data
    return replace(data, **{name: Split(s.images.to(dev), s.labels)
                            for name, s in splits.items()})


def resolve_device(device: str):
    """``"auto"`` -> CUDA when available, else CPU; a bad or missing device: ValueError."""
    torch = _torch()
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


def hardware_name(dev) -> str:
    """The processor a run trains on: the GPU's name on CUDA, else the CPU model.

    Pooled class results use it to tell machines apart (``peprkit.pool.machine_id``).
    """
    if dev.type == "cuda":
        return str(_torch().cuda.get_device_name(dev))
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def seed_everything(seed: int) -> None:
    torch = _torch()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads; ``None``: the cores not already busy, at least 1.

    ``threads = max(1, round(cores - busy))`` with ``busy`` the cores other programs
    keep busy over 0.2 s. torch threads that share a core with another busy program
    wait on each other (seen here: 20x slower per batch with 2 threads on 2 cores
    next to one other busy process, against 1 thread).
    """
    torch = _torch()
    if threads is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
        try:
            import psutil

            busy = psutil.cpu_percent(interval=0.2) / 100.0 * cores
        except ImportError:
            busy = 0.0
        threads = max(1, min(cores, round(cores - busy)))
    else:
        threads = check_number("threads", threads, low=1, integer=True,
                               expect="None (automatic) or a whole number >= 1")
    torch.set_num_threads(threads)
    return threads


def warm_up() -> None:
    """Run one tiny convolution forward and backward on the CPU.

    torch sets up its CPU thread pool and kernels on first use; doing it before a run's
    memory baseline keeps that one-off cost out of the first run's ``memory_gb``.
    """
    torch = _torch()
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, padding=1)
    y = torch.nn.functional.batch_norm(y, None, None, training=True).relu()
    torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1).sum().backward()


def make_optimizer(name: str, params, lr: float):
    torch = _torch()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(params, lr=lr)


def predictions(logits, task: str):
    """Predicted labels and the scores AUC is computed from (torch tensors)."""
    torch = _torch()
    if task.startswith("multi-label"):
        prob = torch.sigmoid(logits)
        return (prob > 0.5).float(), prob
    prob = torch.softmax(logits, dim=1)
    return prob.argmax(dim=1), prob


@dataclass(frozen=True)
class Scores:
    """Accuracy, balanced accuracy and ROC AUC of a model on one split (fractions).

    Multi-class AUC is one-vs-rest macro; multi-label tasks average each over the labels.
    """

    acc: float
    balanced_acc: float
    auc: float


def score(pred: np.ndarray, prob: np.ndarray, labels: np.ndarray, task: str) -> Scores:
    """:class:`Scores` from predictions, scores and true labels (numpy arrays)."""
    if task.startswith("multi-label"):
        per_label = range(labels.shape[1])
        return Scores(
            acc=float((pred == labels).mean()),
            balanced_acc=float(np.mean([balanced_accuracy(labels[:, j], pred[:, j])
                                        for j in per_label])),
            auc=float(np.nanmean([auc(labels[:, j], prob[:, j]) for j in per_label])),
        )
    labels = labels.reshape(-1)
    return Scores(acc=float((pred == labels).mean()),
                  balanced_acc=balanced_accuracy(labels, pred), auc=auc(labels, prob))


def evaluate_split(model, split, batches: Batches, task: str, *, batch_size: int = 128,
                   amp: bool = False) -> Scores:
    """:class:`Scores` of ``model`` on a :class:`peprkit.data.Split`."""
    torch = _torch()
    model.eval()
    preds, probs = [], []
    with torch.inference_mode(), torch.autocast(batches.device.type, enabled=amp):
        for start in range(0, len(split), batch_size):
            logits = model(batches(split.images[start:start + batch_size])).float()
            pred, prob = predictions(logits, task)
            preds.append(pred.cpu())
            probs.append(prob.cpu())
    return score(torch.cat(preds).numpy(), torch.cat(probs).float().numpy(),
                 split.labels.numpy(), task)


@dataclass(frozen=True)
class EpochResult:
    """What one training pass returns."""

    loss: float
    acc: float
    images_per_s: float


def train_epoch(model, data, batches: Batches, opt, scaler, loss_fn, *, batch_size: int,
                amp: bool, generator, bar: Any) -> EpochResult:
    """One pass over the training split.

    A last batch of a single image is dropped (batch norm cannot train on it).
    """
    torch = _torch()
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
            pred, _ = predictions(logits.detach().float(), task)
            n = idx.numel()
            total_loss += float(loss) * n
            hits = (pred == y).float()
            correct += float(hits.mean(dim=1).sum() if hits.dim() == 2 else hits.sum())
            seen += n
        bar.update(1)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    elapsed = time.perf_counter() - started
    return EpochResult(total_loss / max(seen, 1), correct / max(seen, 1),
                       seen / max(elapsed, 1e-9))
