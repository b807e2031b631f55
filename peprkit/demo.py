"""The kit in one call: fine-tune a few small models, meter them, and score them with PePR.

:func:`run_demo` is what ``peprkit demo`` (and ``make demo``) runs, and a notebook can call
it too. It trains on one MedMNIST set when the file can be found or downloaded and on a
loudly labelled synthetic stand-in otherwise; a model without pretrained weights offline
(and no hub to fetch them from) is trained from scratch, and says so. The results CSV is
resumable: calling it again with the same arguments skips the runs already there.
torch, timm and matplotlib are imported when it runs, never on import.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEMO_MODELS", "DemoResult", "quick_mode", "run_demo"]

#: The demo's models: small zoo models, a few minutes in all on a 2-core CPU.
DEMO_MODELS = ("mobilenetv3_small_050", "lcnet_050", "regnetx_002", "resnet18")
#: What ``quick`` changes: the first two models, one epoch (five otherwise).
QUICK_MODELS, QUICK_EPOCHS, EPOCHS = 2, 1, 5


class DemoResult(NamedTuple):
    """What :func:`run_demo` made.

    Attributes:
        table: one row per model, best PePR-E first, with ``pepr_e`` and ``pepr_t``
            (energy and time min-max normalised over these models).
        results: the sweep's results CSV (every run ever made into ``out``).
        plot: the Pareto plot PNG.
        synthetic: the runs trained on synthetic data, not medical images.
    """

    table: pd.DataFrame
    results: Path
    plot: Path
    synthetic: bool


def quick_mode(quick: bool | None = None) -> bool:
    """``quick``, or when it is None, whether ``PEPRKIT_QUICK`` is set to a true value.

    >>> quick_mode(True), quick_mode(False)
    (True, False)
    """
    if quick is not None:
        return bool(quick)
    return os.environ.get("PEPRKIT_QUICK", "0") not in ("0", "", "false", "False")


def run_demo(
    models: Sequence[str] | None = None,
    *,
    dataset: str = "breastmnist",
    epochs: int | None = None,
    quick: bool | None = None,
    out: str | os.PathLike = "peprkit-demo",
    quiet: bool = False,
) -> DemoResult:
    """Fine-tune ``models`` on ``dataset`` (28 px), print a PePR table, save a Pareto plot.

    Each model is fine-tuned for ``epochs`` with its energy metered
    (:func:`peprkit.sweep.run_sweep`, one row per run in ``out/results.csv``); then, over
    these models, ``R = (x - min) / (max - min)`` for energy and for training time and
    ``PePR = test_acc / (1 + R)`` (:func:`peprkit.metric.add_pepr`). The table is printed
    beside each run's majority-class baseline, and ``out/pareto.png`` shows accuracy
    against energy (:func:`peprkit.plot.pareto`).

    Args:
        models: timm model names; default :data:`DEMO_MODELS` (the first two when quick).
        dataset: a 2D MedMNIST flag; a synthetic stand-in is used when it cannot be had.
        epochs: epochs per model; default 5 (1 when quick).
        quick: a check of about a minute; None reads ``PEPRKIT_QUICK``.
        out: folder for ``results.csv`` and ``pareto.png`` (created).
        quiet: no progress bars.

    Returns:
        A :class:`DemoResult` (the scored table and the two paths).

    Raises:
        ValueError: an unknown model name (with the closest names), or a bad ``epochs``.

    Example (trains models, so not run here)::

        from peprkit.demo import run_demo
        demo = run_demo(["lcnet_050", "resnet18"], epochs=1, out="demo")
        demo.table[["model", "test_acc", "pepr_e"]]
    """
    from peprkit._paths import cache_dir
    from peprkit._validation import check_number
    from peprkit.data import load_or_synthetic
    from peprkit.metric import add_pepr
    from peprkit.models import check_model_name
    from peprkit.schema import BASELINE, RESOURCES
    from peprkit.sweep import read_results, run_sweep

    quick = quick_mode(quick)
    if models is None:
        models = DEMO_MODELS[:QUICK_MODELS] if quick else DEMO_MODELS
    models = [models] if isinstance(models, str) else list(models)
    epochs = (QUICK_EPOCHS if quick else EPOCHS) if epochs is None else epochs
    epochs = check_number("epochs", epochs, low=1, integer=True)
    for name in models:
        check_model_name(name)
    warnings.filterwarnings("once", message="No country or intensity given")
    out = Path(out)
    data = load_or_synthetic(dataset, folder=cache_dir() / "demo", n_train=300)
    results = out / "results.csv"
    for name, pretrained in _weights_plan(models):
        run_sweep([name], data, epochs=epochs, out=results, pretrained=(pretrained,),
                  quiet=quiet)
    table = read_results(results)
    mine = table["model"].isin(models) & (table["dataset"] == data.flag) & (
        table["epochs"] == epochs)
    scored = add_pepr(table[mine], performance="test_acc",
                      resources={k: RESOURCES[k] for k in ("e", "t")}, by="dataset")
    scored = scored.sort_values("pepr_e", ascending=False)
    label = " (SYNTHETIC DATA)" if data.synthetic else ""
    print(f"\nPePR = test_acc / (1 + R), R min-max normalised over these models{label}:")
    cols = ["model", "pretrained", "num_params", "test_acc", BASELINE, "test_auc",
            RESOURCES["e"], RESOURCES["t"], "pepr_e", "pepr_t"]
    print(scored[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    plot = _save_pareto(scored, out / "pareto.png", f"{data.name}, {epochs} epochs")
    print(f"\nWrote {results} and {plot}")
    return DemoResult(scored, results, plot, bool(data.synthetic))


def _weights_plan(models: list[str]) -> list[tuple[str, bool]]:
    """``(model, pretrained)``: pretrained when its weights are on disk or the hub answers
    (asked once, only when needed); otherwise from scratch, said on stdout."""
    from peprkit.models import find_weights, hub_reachable

    online = None
    plan = []
    for name in models:
        has_weights = find_weights(name)[0] is not None
        if not has_weights:
            online = hub_reachable() if online is None else online
        plan.append((name, bool(has_weights or online)))
        if not (has_weights or online):
            print(f"{name}: no pretrained weights offline -> trained FROM SCRATCH "
                  "(pretrained=False). Get weights with `peprkit bundle` or PEPRKIT_WEIGHTS_DIR.")
    return plan


def _save_pareto(scored: pd.DataFrame, path: Path, subtitle: str) -> Path:
    """The Pareto plot of accuracy against energy, saved as a PNG.

    Drawn on a bare Figure (not pyplot's), so no display is needed and a notebook's
    backend and open figures are left as they are."""
    from matplotlib.figure import Figure

    from peprkit.plot import pareto

    ax = Figure(figsize=(6.4, 4.8), layout="constrained").add_subplot()
    pareto(scored, performance="test_acc", resource="energy_kwh", label="model", ax=ax)
    ax.set_title(f"{ax.get_title()}\n{subtitle}")
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    return path
