"""The training loop's parts: device and threads, batches, one epoch, evaluation."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from peprkit._util import optional_import
from peprkit.metric import auc, balanced_accuracy

OPTIMIZERS = ("adam", "adamw", "sgd")
#: Progress-bar text is refreshed every this many training batches.
POSTFIX_EVERY = 10


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
    """Set torch's CPU threads; ``None``: the cores this process may run on.

    The count comes from the machine (:func:`peprkit.train._threads.machine_threads`),
    never from the momentary load, so that the same seed gives the same history on a busy
    and on an idle machine (the thread count changes the order of floating-point sums).
    With OpenMP's passive waiting (:mod:`peprkit.train._threads`) threads that share a core
    with another busy program sleep instead of spinning while they wait.
    """
    from peprkit.train._threads import resolve_threads

    threads = resolve_threads(threads)
    torch = _torch()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def determinism() -> dict[str, Any]:
    """What besides the seed decides a run's numbers here (for the run record)."""
    from peprkit.train._threads import wait_policy

    torch = _torch()
    cudnn = torch.backends.cudnn
    return {"threads": torch.get_num_threads(), "omp_wait_policy": wait_policy(),
            "torch_version": str(torch.__version__),
            "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
            "cudnn_deterministic": bool(cudnn.deterministic),
            "cudnn_benchmark": bool(cudnn.benchmark)}


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


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0):
    torch = _torch()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def warmup_decay(peak: float, steps_per_epoch: int, warmup_epochs: float,
                 decay_per_epoch: float) -> Any:
    """``step -> lr``: linear warm-up to ``peak``, then ``decay_per_epoch`` per epoch.

    ``lr = peak * min(1, (step + 1) / warmup_steps) * decay_per_epoch ** (step / steps)``.
    A pure function of the global step that does not depend on the planned number of
    epochs, so a resumed or extended run (more ``epochs`` later) and an early-stopped one
    follow the same curve as one uninterrupted run.

    >>> f = warmup_decay(1.0, steps_per_epoch=10, warmup_epochs=1, decay_per_epoch=0.5)
    >>> [round(f(s), 3) for s in (0, 4, 9, 10, 20)]
    [0.1, 0.379, 0.536, 0.5, 0.25]
    """
    warmup = max(1, round(warmup_epochs * steps_per_epoch))

    def lr_at(step: int) -> float:
        return (peak * min(1.0, (step + 1) / warmup)
                * decay_per_epoch ** (step / steps_per_epoch))

    return lr_at


def class_weights(labels, num_classes: int, power: float = 1.0):
    """Per-class loss weights ``(n / (k * n_c)) ** power`` from training labels (mean 1).

    ``power=1`` weighs every class as if the split were balanced; ``0.5`` half-way (log
    scale). A class absent from the split gets weight 1.
    """
    torch = _torch()
    counts = torch.bincount(labels.reshape(-1).long(), minlength=num_classes).double()
    weights = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp(min=1)),
                          torch.ones_like(counts)) ** power
    return (weights / weights.mean()).float()


def augment(x, generator, shift: int = 2):
    """Random horizontal flip and shift by up to ``shift`` px (edge-padded), per image.

    The random draws come from ``generator`` (CPU), so a seeded run repeats them exactly.
    """
    torch = _torch()
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dev = x.device
    flip, dy, dx = flip.to(dev), dy.to(dev), dx.to(dev)
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
    rows = (torch.arange(h, device=dev).view(1, h) + dy.view(n, 1))  # (n, h)
    cols = (torch.arange(w, device=dev).view(1, w) + dx.view(n, 1))  # (n, w)
    batch = torch.arange(n, device=dev).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.view(n, h, 1), cols.view(n, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()


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
                amp: bool, generator, bar: Any, lr_at: Any = None, step0: int = 0,
                augment_images: bool = False) -> EpochResult:
    """One pass over the training split.

    A last batch of a single image is dropped (batch norm cannot train on it). ``lr_at``
    (``global step -> lr``, steps counted from ``step0``) sets the learning rate of every
    step; ``augment_images`` applies :func:`augment` with ``generator``'s draws.
    Loss and hits are summed on the device and read once at the end of the epoch (a
    per-batch read would wait for the device and copy every step); the progress bar's
    text is refreshed every ``POSTFIX_EVERY`` batches.
    """
    torch = _torch()
    model.train()
    split, task = data.train, data.task
    multilabel = task.startswith("multi-label")
    order = torch.randperm(len(split), generator=generator)
    total_loss = torch.zeros((), dtype=torch.float64, device=batches.device)
    correct = torch.zeros((), dtype=torch.float64, device=batches.device)
    seen, started, show = 0, time.perf_counter(), not getattr(bar, "disable", True)
    for i, start in enumerate(range(0, len(split), batch_size)):
        idx = order[start:start + batch_size]
        if idx.numel() < 2:
            break
        x = batches(split.images[idx])
        if augment_images:
            x = augment(x, generator)
        y = split.labels[idx].to(batches.device, non_blocking=True)
        if lr_at is not None:
            lr = lr_at(step0 + i)
            for group in opt.param_groups:
                group["lr"] = lr
        with torch.autocast(batches.device.type, enabled=amp):
            logits = model(x)
            loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            n = idx.numel()
            logits = logits.detach()
            hits = ((logits > 0).float() == y).float().mean(dim=1) if multilabel else (
                logits.argmax(dim=1) == y).float()
            total_loss += loss.detach().double() * n
            correct += hits.sum().double()
            seen += n
        bar.update(1)
        if show and i % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{float(total_loss) / seen:.3f}",
                            acc=f"{float(correct) / seen:.3f}")
    elapsed = time.perf_counter() - started
    return EpochResult(float(total_loss) / max(seen, 1), float(correct) / max(seen, 1),
                       seen / max(elapsed, 1e-9))
