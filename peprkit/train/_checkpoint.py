"""Checkpoints: one folder per run, written atomically after every epoch, resumed later.

A run folder holds ``checkpoint.pt`` (weights, optimizer, history, settings, RNG state),
``history.csv`` (one row per finished epoch, readable without torch) and, with
``early_stop="pepr"``, ``best.pt`` (the weights of the PePR-best epoch so far).

:func:`run_folder` names a folder by the settings that define a run (see
:data:`peprkit.schema.SETTINGS_KEY`), so that under one parent folder a changed setup
starts a new run and an unchanged one resumes.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from peprkit._util import atomic_write, optional_import

#: File name of the per-epoch checkpoint inside a run folder.
CHECKPOINT = "checkpoint.pt"
#: File name of the PePR-best weights inside a run folder (``early_stop="pepr"``).
BEST = "best.pt"


def run_folder(root: str | Path, settings: dict[str, Any]) -> Path:
    """``root / <name>``, the name spelling out the settings that define the run.

    >>> run_folder("runs", dict(model="resnet18", dataset="breastmnist", size=28,
    ...     pretrained=True, fraction=1.0, seed=0, epochs=10, lr=5e-4, batch_size=32,
    ...     optimizer="adam")).name
    'resnet18_breastmnist28_pt_f1_s0_e10_lr0.0005_b32_adam'
    """
    s = settings
    name = (f"{s['model']}_{s['dataset']}{s['size']}_{'pt' if s['pretrained'] else 'scratch'}"
            f"_f{float(s['fraction']):g}_s{s['seed']}_e{s['epochs']}_lr{float(s['lr']):g}"
            f"_b{s['batch_size']}_{s['optimizer']}")
    return Path(root) / re.sub(r"[^A-Za-z0-9_.+-]", "-", name)


def _save(path: Path, obj: Any) -> None:
    torch = optional_import("torch", extra="train")
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())


def save(run_dir: Path, model, opt, scaler, history: list[dict], config: dict,
         status: str, conditions: dict | None = None) -> None:
    """Write the checkpoint and ``history.csv`` of ``run_dir``, each atomically.

    ``conditions`` (threads, wait policy, torch version, deterministic flags, recipe) are
    kept beside the settings: they do not refuse a resume but are reported.
    """
    import pandas as pd

    torch = optional_import("torch", extra="train")
    _save(run_dir / CHECKPOINT, {
        "model": model.state_dict(), "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict(), "history": history, "config": config,
        "rng": torch.get_rng_state(), "status": status, "conditions": conditions or {}})
    atomic_write(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))


def save_best(run_dir: Path, epoch: int, state: dict) -> None:
    """Keep the weights of the PePR-best epoch (``best.pt``)."""
    _save(run_dir / BEST, {"epoch": epoch, "model": state})


def load_best(run_dir: Path) -> tuple[int, dict] | None:
    """(epoch, weights) from ``best.pt``, or None."""
    torch = optional_import("torch", extra="train")
    path = run_dir / BEST
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return int(state["epoch"]), state["model"]


def load(run_dir: Path, config: dict) -> dict | None:
    """The checkpoint in ``run_dir`` (None when there is none).

    Raises:
        ValueError: the checkpoint belongs to a run with other settings.
    """
    torch = optional_import("torch", extra="train")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    stored = {"recipe": "finetune", **state["config"]}  # before recipes: the paper's
    changed = {k: (stored.get(k), v) for k, v in config.items() if stored.get(k) != v}
    if changed:
        raise ValueError(
            f"run_dir={str(run_dir)!r} holds a different run (stored vs now: {changed}); "
            "pass run_root=<folder> instead to keep one sub-folder per setup, use a new "
            "run_dir, or delete that folder to start over."
        )
    return state
