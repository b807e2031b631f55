"""Fine-tune a timm model on in-memory MedMNIST data, metered one lap per epoch.

Two recipes (:data:`RECIPES`); ``recipe="auto"`` picks by the model's weights:

- ``"finetune"`` (pretrained weights): the paper's protocol, Adam, lr 5e-4 constant,
  batch 32, 10 epochs, plain cross-entropy (BCE per label for multi-label tasks).
- ``"scratch"`` (random init: ``pretrained=False``, or a module made by
  :func:`peprkit.models.create_model` with ``pretrained=False``): AdamW with weight
  decay 0.05, peak lr 5e-3 reached by a linear warm-up over the first epoch, then x0.75
  per epoch; class-balanced cross-entropy; images resized to at least 64 px.

  Why: trained from random weights with the fine-tuning recipe, no lesson model beat
  always answering the common class on BreastMNIST (546 images, 73% one class) in 10
  epochs. 10 epochs of 32 images are only ~170 steps: a random network needs large
  steps (5e-3, after a warm-up that keeps batch norm from blowing up) that then shrink
  (the decay, which does not depend on ``epochs``, so resumed, extended and early-
  stopped runs follow one curve); decoupled weight decay 0.05 is AdamW's common setting
  (not tuned here); class weights stop "always the common class" from being the easy
  minimum (balanced accuracy beat plain or half-way weights on validation); at 28 px
  the stride-32 small models (MobileNetV3, LCNet) shrink an image to 1 pixel before
  their last stage, and 64 px gave them something to see, for 1.0-1.6x the CPU seconds
  (their cost at these sizes is per-layer overhead more than pixels). Flips and shifts
  (``augment``) did not help within 10 epochs. Chosen on the validation split with
  ``benchmarks/scratch_recipe.py``; the test split was read only for the final table.

``lr`` and ``optimizer`` given explicitly override the recipe's; the run records the
values used (``lr``, ``optimizer``) and ``Run.conditions`` the recipe and everything else
that can change the numbers (threads, OpenMP wait policy, torch version, deterministic
flags). The thread count is fixed from the machine, not from its load
(:mod:`peprkit.train._threads`), so a seed repeats whatever else runs.

Images stay uint8 in memory; each batch is moved to the device, converted, resized to the
model's input size and normalised on the fly (no DataLoader, no per-image PIL), which keeps a
2-core CPU busy with the model itself.

Each epoch (training plus evaluation of val and test) is one :class:`EnergyMeter` lap;
``history`` is cumulative and says so in ``metered`` (``"train+eval"``). Every row also
carries the majority-class baseline (``majority_acc``) beside the accuracies, balanced
accuracy and AUC, and CPU seconds (``train_cpu_s``) beside wall-clock seconds. With
``run_dir`` (or ``run_root``) a checkpoint is written atomically after every epoch and a
later call resumes after the last finished epoch, adding new laps on top of the stored
totals. The columns are described in :mod:`peprkit.schema`.
"""

from __future__ import annotations

import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from peprkit._util import optional_import, progress_bar
from peprkit._validation import check_choice, check_number
from peprkit.metric import majority_accuracy
from peprkit.schema import HISTORY_COLUMNS, SUMMARY_COLUMNS
from peprkit.train import _checkpoint, _forecast, _loop, _record, _threads
from peprkit.train._checkpoint import BEST, CHECKPOINT, run_folder
from peprkit.train._early_stop import PeprStop
from peprkit.train._loop import OPTIMIZERS, Scores

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from peprkit.data import Data
    from peprkit.meter import EnergyMeter

__all__ = [
    "BEST",
    "CHECKPOINT",
    "HISTORY_COLUMNS",
    "METERED",
    "OPTIMIZERS",
    "PROTOCOL",
    "RECIPES",
    "SUMMARY_COLUMNS",
    "ChanceLevelWarning",
    "Run",
    "Scores",
    "evaluate",
    "finetune",
    "recipe_for",
    "run_folder",
]

#: What each epoch's meter lap covers.
METERED = "train+eval"
#: The paper's protocol: :func:`finetune`'s defaults with pretrained weights.
PROTOCOL = {"epochs": 10, "lr": 5e-4, "batch_size": 32, "optimizer": "adam"}
#: Training recipes by name (see the module doc for the reasons). ``class_weights``: the
#: power of the balanced class weights (0: plain loss); ``schedule``: ``"constant"`` or
#: ``"warmup-decay"`` (:func:`peprkit.train._loop.warmup_decay`: linear warm-up over
#: ``warmup_epochs``, then ``decay_per_epoch`` per epoch, independent of ``epochs``).
RECIPES: dict[str, dict[str, Any]] = {
    "finetune": {"optimizer": "adam", "lr": 5e-4, "weight_decay": 0.0,
                 "schedule": "constant", "warmup_epochs": 0, "decay_per_epoch": 1.0,
                 "class_weights": 0.0, "augment": False, "min_input_size": None},
    "scratch": {"optimizer": "adamw", "lr": 5e-3, "weight_decay": 0.05,
                "schedule": "warmup-decay", "warmup_epochs": 1, "decay_per_epoch": 0.75,
                "class_weights": 1.0, "augment": False, "min_input_size": 64},
}

# the wait policy must be in the environment before torch starts its threads
_threads.prefer_passive_wait()
#: A run whose test accuracy is within this of the majority baseline gets a warning.
CHANCE_MARGIN = 0.01


class ChanceLevelWarning(UserWarning):
    """A finished run scored no better than always answering the most common class."""


@dataclass
class Run:
    """The outcome of :func:`finetune`.

    Attributes:
        history: one row per finished epoch (cumulative time, energy, CO2; peak memory).
        summary: one row in the sweep schema: the kept epoch's accuracies (the last epoch,
            or the PePR-best one with ``early_stop="pepr"``), the resources of every
            epoch run, ``epochs_run`` and ``pepr_best_epoch``.
        model: the trained ``torch.nn.Module`` (with the PePR-best weights after
            ``early_stop="pepr"``).
        status: ``"completed"``, ``"early-stopped"``, ``"interrupted"`` or
            ``"over_budget"`` (stopped by ``max_energy_kwh`` / ``max_time_s``).
        pepr_best_epoch: with ``early_stop="pepr"``, the epoch of ``P_ePRc*``.
        run_dir: the checkpoint folder, if any.
        conditions: what besides the settings can change the numbers: the recipe
            (``recipe`` and its settings), ``threads``, ``omp_wait_policy``,
            ``torch_version``, ``deterministic_algorithms``, ``cudnn_deterministic``,
            ``cudnn_benchmark`` (also stored in the checkpoint).
    """

    history: pd.DataFrame
    summary: pd.DataFrame
    model: torch.nn.Module | None
    status: str
    pepr_best_epoch: int | None = None
    run_dir: Path | None = None
    conditions: dict[str, Any] | None = None

    def __repr__(self) -> str:  # the kept epoch's accuracy, the energy of every epoch run
        kept = self.summary.iloc[0] if len(self.summary) else None
        tail = (f", test_acc={kept['test_acc']:.3f}, energy_kwh={kept['energy_kwh']:.3g}"
                if kept is not None else "")
        return f"Run(status={self.status!r}, epochs={len(self.history)}{tail})"


def evaluate(model: torch.nn.Module, data: Data, *, split: str = "test", batch_size: int = 128,
             device: str = "auto") -> Scores:
    """Accuracy, balanced accuracy and AUC of ``model`` on one split of ``data``.

    The images are prepared as in training (resized to the model's input size and
    normalised). AUC is one-vs-rest macro for several classes.

    Args:
        model: a trained model, e.g. ``run.model``.
        data: the :class:`peprkit.data.Data` it was trained on.
        split: ``"test"``, ``"val"`` or ``"train"``.
        batch_size: images per forward pass.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...

    Returns:
        :class:`Scores` with ``acc``, ``balanced_acc`` and ``auc``.

    Example:
        >>> evaluate(run.model, data).acc  # doctest: +SKIP
        0.846
    """
    from peprkit.models import input_size_for

    check_choice("split", split, ("test", "val", "train"))
    batch_size = check_number("batch_size", batch_size, low=1, integer=True)
    dev = _loop.resolve_device(device)
    model = model.to(dev)
    size = getattr(model, "peprkit_input_size", None) or input_size_for(
        model, data.size, data.n_channels)
    batches = _loop.Batches(model, data, size, dev, channels_last=False)
    return _loop.evaluate_split(model, getattr(data, split), batches, data.task,
                                batch_size=batch_size)


def recipe_for(model: Any, pretrained: bool, recipe: str = "auto", lr: float | None = None,
               optimizer: str | None = None) -> tuple[str, dict[str, Any]]:
    """The recipe a run uses: its name and settings, with ``lr``/``optimizer`` overrides.

    ``recipe="auto"``: ``"scratch"`` for a model name with ``pretrained=False`` or a module
    whose weights are ``"random init"`` (:func:`peprkit.models.create_model`), else
    ``"finetune"``.

    >>> recipe_for("resnet18", pretrained=False)[1]["optimizer"]
    'adamw'
    >>> recipe_for("resnet18", pretrained=True, lr=1e-3)[1]["lr"]
    0.001

    Raises:
        ValueError: an unknown ``recipe``, a bad ``lr`` or ``optimizer``.
    """
    check_choice("recipe", recipe, ("auto", *RECIPES))
    if lr is not None:
        check_number("lr", lr, low=0, strict=True, expect="a positive number or None",
                     hint="(None: the recipe's; the paper uses 5e-4)")
    if optimizer is not None:
        check_choice("optimizer", optimizer, OPTIMIZERS)
    if recipe == "auto":
        scratch = (not pretrained if isinstance(model, str)
                   else getattr(model, "peprkit_weights", None) == "random init")
        recipe = "scratch" if scratch else "finetune"
    settings = dict(RECIPES[recipe])
    if lr is not None:
        settings["lr"] = float(lr)
    if optimizer is not None:
        settings["optimizer"] = optimizer
    return recipe, settings


def _check_options(epochs, batch_size, amp, early_stop, patience, budget_kwh,
                   meter, run_dir, run_root) -> None:
    check_number("epochs", epochs, low=1, integer=True, hint="(the paper uses 10)")
    check_number("batch_size", batch_size, low=2, integer=True, hint="(paper: 32)")
    check_choice("amp", amp, ("auto", True, False))
    check_choice("early_stop", early_stop, (None, "pepr"))
    if early_stop == "pepr":
        if not (isinstance(budget_kwh, (int, float)) and math.isfinite(budget_kwh)
                and budget_kwh > 0):
            raise ValueError(f"budget_kwh={budget_kwh!r}: early_stop='pepr' needs a positive "
                             "energy budget in kWh, e.g. budget_kwh=0.01.")
        check_number("patience", patience, low=1, integer=True,
                     expect="a whole number of epochs >= 1")
        if meter is False:
            raise ValueError("meter=False: early_stop='pepr' needs the energy meter; "
                             "pass meter=True.")
    if run_dir is not None and run_root is not None:
        raise ValueError(f"run_dir={str(run_dir)!r} and run_root={str(run_root)!r}: pass one "
                         "(run_root keeps one sub-folder per setup).")


@dataclass
class _Setup:
    """Everything the epoch loop needs, built once."""

    name: str
    model: Any
    data: Any
    dev: Any
    amp: bool
    batches: _loop.Batches
    opt: Any
    scaler: Any
    loss_fn: Any
    meta: dict[str, Any]
    config: dict[str, Any]
    recipe: dict[str, Any]
    conditions: dict[str, Any]


def _model_name(model: Any) -> str:
    if isinstance(model, str):
        return model
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def _build(model, data, *, recipe, batch_size, pretrained, device, amp, seed, epochs,
           threads, metered) -> _Setup:
    """Device, threads, seeds, model, optimizer, and the run's settings."""
    torch = optional_import("torch", extra="train")
    from peprkit.models import count_params, create_model, input_size_for

    dev = _loop.resolve_device(device)
    use_amp = dev.type == "cuda" if amp == "auto" else bool(amp)
    if use_amp and dev.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got device={str(dev)!r}; use amp='auto'.")
    n_threads = _loop.set_threads(threads)
    _loop.seed_everything(seed)
    name = _model_name(model)
    recipe_name, settings = recipe
    lr, optimizer = settings["lr"], settings["optimizer"]
    if isinstance(model, str):
        model = create_model(model, pretrained=pretrained, num_classes=data.num_classes,
                             in_chans=data.n_channels)
    input_size = input_size_for(model, max(data.size, settings["min_input_size"] or 0),
                                data.n_channels)
    model.peprkit_input_size = input_size  # evaluate() feeds the size it trained on
    model = model.to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        data = _loop.images_on_gpu(data, dev)
    meta = {"model": name, "dataset": data.flag, "size": data.size, "input_size": input_size,
            "pretrained": bool(pretrained), "fraction": data.fraction, "seed": seed,
            "epochs": epochs, "num_params": count_params(model), "device": str(dev),
            "synthetic": data.synthetic, "metered": METERED if metered else "off",
            "weights": getattr(model, "peprkit_weights", "given"), "task": data.task,
            "threads": n_threads, "lr": lr, "batch_size": batch_size, "optimizer": optimizer,
            "hardware": _loop.hardware_name(dev), "torch_version": torch.__version__}
    config = {k: meta[k] for k in ("model", "dataset", "size", "pretrained", "fraction", "seed",
                                   "lr", "batch_size", "optimizer")}
    config["recipe"] = recipe_name
    weight = None
    if settings["class_weights"] and not data.multilabel:
        weight = _loop.class_weights(data.train.labels, data.num_classes,
                                     settings["class_weights"]).to(dev)
    conditions = {"recipe": recipe_name, **settings, **_loop.determinism()}
    return _Setup(
        name=name, model=model, data=data, dev=dev, amp=use_amp,
        batches=_loop.Batches(model, data, input_size, dev, channels_last=dev.type == "cuda"),
        opt=_loop.make_optimizer(optimizer, model.parameters(), lr, settings["weight_decay"]),
        scaler=torch.amp.GradScaler(dev.type, enabled=use_amp),
        loss_fn=(torch.nn.BCEWithLogitsLoss() if data.multilabel
                 else torch.nn.CrossEntropyLoss(weight=weight)),
        meta=meta, config=config, recipe=settings, conditions=conditions)


def _resume(setup: _Setup, folder: Path | None, stopper: PeprStop | None
            ) -> tuple[list[dict], str | None]:
    """Stored history and status of ``folder`` (weights, optimizer and RNG restored)."""
    torch = optional_import("torch", extra="train")
    state = _checkpoint.load(folder, setup.config) if folder is not None else None
    if state is None:
        return [], None
    setup.model.load_state_dict(state["model"])
    setup.opt.load_state_dict(state["optimizer"])
    setup.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])  # dropout etc. continue as if never interrupted
    before = state.get("conditions") or {}
    differ = {k: (before[k], v) for k, v in setup.conditions.items()
              if k in before and before[k] != v}
    if differ:
        warnings.warn(f"resuming {setup.name} under other conditions (stored vs now: {differ}); "
                      "the later epochs may differ from an uninterrupted run's.",
                      RuntimeWarning, stacklevel=3)
    if stopper is not None:
        best = _checkpoint.load_best(folder)
        if best is not None:
            stopper.best_epoch, stopper.best_state = best
    return list(state["history"]), state.get("status")


def _epochs(setup: _Setup, history: list[dict], *, epochs: int, batch_size: int, seed: int,
            meter: EnergyMeter | None, memory, stopper: PeprStop | None, folder: Path | None,
            quiet: bool, watch: _forecast.Watch) -> str:
    """Train the missing epochs, one meter lap and one history row each; the run's status."""
    torch = optional_import("torch", extra="train")
    data, name = setup.data, setup.name
    majority = majority_accuracy(data.train.labels.numpy(), data.test.labels.numpy())
    recorder = _record.Recorder(meter, memory, setup.dev.type, history[-1] if history else {})
    eval_bs = max(128, 4 * batch_size)
    n_batches = len(data.train) // batch_size + (len(data.train) % batch_size > 1)
    recipe = setup.recipe
    lr_at = (_loop.warmup_decay(recipe["lr"], n_batches, recipe["warmup_epochs"],
                                recipe["decay_per_epoch"])
             if recipe["schedule"] == "warmup-decay" else None)
    status = "completed"
    # one progress line per run: the batches of every epoch left, the last epoch's scores
    bar = progress_bar(total=max(0, epochs - len(history)) * n_batches, desc=name,
                       disable=quiet, leave=True, unit="batch")
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            if watch.over_budget(history, folder):  # the next epoch would pass a limit
                status = _forecast.OVER_BUDGET
                break
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
            bar.set_description(f"{name} epoch {epoch}/{epochs}", refresh=False)
            trained = _loop.train_epoch(
                setup.model, data, setup.batches, setup.opt, setup.scaler, setup.loss_fn,
                batch_size=batch_size, amp=setup.amp, generator=generator, bar=bar,
                lr_at=lr_at, step0=(epoch - 1) * n_batches, augment_images=recipe["augment"])
            val, test = (_loop.evaluate_split(setup.model, split, setup.batches, data.task,
                                              batch_size=eval_bs, amp=setup.amp)
                         for split in (data.val, data.test))
            row = {"epoch": epoch, "train_loss": trained.loss, "train_acc": trained.acc,
                   "val_acc": val.acc, "test_acc": test.acc, "test_auc": test.auc,
                   **recorder.lap(f"epoch {epoch}"), "test_balanced_acc": test.balanced_acc,
                   "majority_acc": majority, "train_images_per_s": trained.images_per_s,
                   "metered": setup.meta["metered"]}
            history.append({col: row[col] for col in HISTORY_COLUMNS})
            stop = stopper.update(history, setup.model) if stopper is not None else False
            status = "early-stopped" if stop else status
            if folder is not None:
                if stopper is not None and stopper.best_epoch == epoch:
                    _checkpoint.save_best(folder, epoch, stopper.best_state)
                _checkpoint.save(folder, setup.model, setup.opt, setup.scaler, history,
                                 setup.config, status, setup.conditions)
            if not quiet:
                kwh = history[-1]["energy_kwh"]
                bar.set_postfix_str(f"loss {trained.loss:.3f}, val {val.acc:.3f}, test "
                                    f"{test.acc:.3f} (majority {majority:.3f})"
                                    + (f", {kwh:.3g} kWh" if kwh == kwh else ""))
                watch.after_epoch(history, bar.write)  # the whole run's forecast, once
            if stop:
                break
    except KeyboardInterrupt:
        status = "interrupted"
        if not quiet:
            bar.write(f"Interrupted: keeping {len(history)} finished epoch(s)"
                      + (f"; rerun with the same run_dir={str(folder)!r} to resume."
                         if folder else "."))
    finally:
        bar.close()
    return status


def _warn_if_chance(name: str, summary: pd.DataFrame) -> None:
    row = summary.iloc[0]
    acc, majority = float(row["test_acc"]), float(row["majority_acc"])
    if acc < majority + CHANCE_MARGIN:
        warnings.warn(
            f"{name} reached test accuracy {acc:.3f}, but always answering the most common "
            f"class already scores {majority:.3f}: this model has not learned to tell the "
            "classes apart (yet). Its PePR rewards a constant guess. Train longer, start "
            "from pretrained weights, or compare models on test_balanced_acc, test_auc or "
            "peprkit.metric.chance_adjusted(test_acc, majority_acc).",
            ChanceLevelWarning, stacklevel=4)


def finetune(
    model: str | torch.nn.Module,
    data: Data | str,
    *,
    epochs: int = 10,
    lr: float | None = None,
    batch_size: int = 32,
    optimizer: Literal["adam", "adamw", "sgd"] | None = None,
    pretrained: bool = True,
    recipe: Literal["auto", "finetune", "scratch"] = "auto",
    device: str = "auto",
    meter: bool | EnergyMeter = True,
    amp: bool | Literal["auto"] = "auto",
    seed: int = 0,
    run_dir: str | os.PathLike | None = None,
    run_root: str | os.PathLike | None = None,
    early_stop: Literal["pepr"] | None = None,
    patience: int = 3,
    budget_kwh: float | None = None,
    threads: int | None = None,
    quiet: bool = False,
    max_energy_kwh: float | None = None,
    max_time_s: float | None = None,
) -> Run:
    """Fine-tune ``model`` on ``data`` and record every epoch (the paper's protocol by default).

    Args:
        model: a timm model name (created with :func:`peprkit.models.create_model`) or a
            ``torch.nn.Module`` with ``data.num_classes`` outputs.
        data: a :class:`peprkit.data.Data`, or a MedMNIST flag loaded with defaults.
        epochs: epochs to train (in total, counting those already in ``run_dir``).
        lr, batch_size, optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9);
            ``lr=None`` / ``optimizer=None`` take the recipe's (5e-4 and Adam to fine-tune).
        pretrained: load ImageNet weights when ``model`` is a name (an error offline without
            them, never a silent random start); recorded in the summary.
        recipe: ``"auto"`` (``"scratch"`` without pretrained weights, else ``"finetune"``),
            or one of :data:`RECIPES` by name (see the module doc).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        meter: True (an :class:`peprkit.meter.EnergyMeter` with defaults), an unstarted
            ``EnergyMeter`` (e.g. with your ``country``), or False (energy columns NaN,
            labelled ``unavailable:meter-off``).
        amp: ``"auto"``: float16 autocast + channels_last on CUDA, off on CPU.
        seed: seeds Python, numpy and torch (model head, batch order).
        run_dir: this exact folder holds the run's checkpoint (after every epoch); a rerun
            with the same settings resumes there, one with other settings is refused.
        run_root: a parent folder; the run lives in ``run_root/<settings>/`` (see
            :func:`run_folder`: model, dataset, size, pretrained, fraction, seed, epochs,
            lr, batch size, optimizer), so rerunning a lesson after its setup changed
            starts a new run and an unchanged one resumes. Give ``run_dir`` or ``run_root``.
        early_stop: ``"pepr"`` stops when ``PePR_t = val_acc_t / (1 + energy_kwh_t /
            budget_kwh)`` has not improved for ``patience`` epochs, then restores the
            weights of the best epoch: the summary reports that epoch's accuracies
            (``pepr_best_epoch``) and the energy of all ``epochs_run``.
        patience, budget_kwh: options of ``early_stop="pepr"``.
        max_energy_kwh, max_time_s: spend limits of the run (None: none; counted with the
            epochs already in ``run_dir``): before each epoch after the first, a run whose
            next epoch (forecast at its mean epoch so far) would pass one stops with status
            ``"over_budget"`` and an ``OverBudgetWarning``; rerun with a higher limit to
            resume (:mod:`peprkit.train._forecast`). After epoch 1 the whole run's forecast
            is printed and kept in the summary (``forecast_*`` columns).
        threads: torch CPU threads; None: the cores this process may run on (fixed by
            the machine, not by its momentary load, so a seed repeats).
        quiet: no progress bars or epoch lines.

    Returns:
        A :class:`Run`. Ctrl-C (KeyboardInterrupt) stops after keeping the finished epochs
        (``status="interrupted"``).

    Memory:
        ``memory_gb`` on a CPU is the peak increase of the process's resident memory over
        the memory it held just before the model was built (after returning freed memory
        to the system), so it does not depend on what ran before in the process
        (``memory_source`` ``process-rss-increase:...``). On CUDA it is torch's peak
        reserved memory, reset at the start of the run.

    Warns:
        ChanceLevelWarning: the kept epoch's test accuracy is within 1 point of (or below)
            the majority baseline ``majority_acc``.

    Raises:
        ValueError: a bad option (named in the message), or a ``run_dir`` holding another run.
        peprkit.models.WeightsNotFoundError: pretrained weights cannot be had.

    Example:
        >>> from peprkit.data import make_synthetic, load_npz  # doctest: +SKIP
        >>> data = load_npz(make_synthetic("syn.npz", n_train=64))  # doctest: +SKIP
        >>> finetune("resnet18", data, epochs=2, pretrained=False).history  # doctest: +SKIP
    """
    from peprkit.data import Data, load_medmnist
    from peprkit.meter import EnergyMeter, RunMemory

    _check_options(epochs, batch_size, amp, early_stop, patience, budget_kwh,
                   meter, run_dir, run_root)
    limits = _forecast.check_limits(max_energy_kwh, max_time_s, meter)
    chosen = recipe_for(model, pretrained, recipe, lr, optimizer)
    if not isinstance(data, Data):
        data = load_medmnist(str(data))
    if isinstance(model, str):
        optional_import("timm", extra="train")
    _loop.warm_up()  # torch's one-off set-up stays out of this run's memory
    memory = RunMemory().start()  # after the imports, before the model exists
    setup = _build(model, data, recipe=chosen, batch_size=batch_size,
                   pretrained=pretrained, device=device, amp=amp, seed=seed, epochs=epochs,
                   threads=threads, metered=meter is not False)
    folder = _folder(run_dir, run_root, {**setup.config, "epochs": epochs})
    stopper = (PeprStop(budget_kwh=budget_kwh, patience=patience)
               if early_stop == "pepr" else None)
    history, status = _resume(setup, folder, stopper)
    if len(history) < epochs and status != "early-stopped":
        energy_meter = EnergyMeter() if meter is True else meter or None
        with _running(energy_meter):
            status = _epochs(setup, history, epochs=epochs, batch_size=batch_size, seed=seed,
                             meter=energy_meter, memory=memory, stopper=stopper,
                             folder=folder, quiet=quiet,
                             watch=_forecast.Watch(setup.name, epochs, limits, quiet))
    return _finish(setup, history, status or "completed", stopper, folder)


def _folder(run_dir, run_root, settings: dict[str, Any]) -> Path | None:
    if run_dir is not None:
        return Path(run_dir)
    return run_folder(run_root, settings) if run_root is not None else None


@contextmanager
def _running(meter: EnergyMeter | None):
    """The meter started for the block and stopped after it, even on errors."""
    if meter is None:
        yield
        return
    meter.start()
    try:
        yield
    finally:
        meter.stop()


def _finish(setup: _Setup, history: list[dict], status: str, stopper: PeprStop | None,
            folder: Path | None) -> Run:
    """Restore the PePR-best weights, build the summary, warn about a chance-level run."""
    import pandas as pd

    best = stopper.best_epoch if stopper is not None else None
    if stopper is not None and not stopper.restore(setup.model):
        best = None  # the best weights were not kept: report the last epoch honestly
    setup.meta.update(status=status, pepr_best_epoch=best)
    frame = pd.DataFrame(history)
    summary = _record.summary(frame, setup.meta, best)
    if status not in ("interrupted", _forecast.OVER_BUDGET) and len(frame):
        _warn_if_chance(setup.name, summary)
    return Run(history=frame, summary=summary, model=setup.model, status=status,
               pepr_best_epoch=best, run_dir=folder, conditions=dict(setup.conditions))
