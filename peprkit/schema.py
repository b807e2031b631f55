"""The results schema: every column a training record carries, named once, with its unit.

A record is tidy. ``finetune`` writes one **history** row per epoch (cumulative time,
energy and CO2 so far); a run's **summary** row, which is also one row of a sweep's
``results.csv``, holds the run's settings, its accuracies and its resource totals. Every
resource number has its unit in its name (``energy_kwh``, ``co2_g``, ``memory_gb``,
``train_time_s``) and a source-label column beside it saying how it was obtained
(``measured:...``, ``estimated:...``, ``unavailable:...``). The summary columns are what
:func:`peprkit.metric.add_pepr` and :mod:`peprkit.plot` take without renaming.

Importing this module is free (plain tuples and dicts; no pandas).

>>> RESOURCES["e"], COLUMNS["energy_kwh"].unit, COLUMNS["energy_kwh"].source
('energy_kwh', 'kWh', 'cpu_source, gpu_source, ram_source')
>>> set(RUN_KEY) <= set(SUMMARY_COLUMNS) and "majority_acc" in HISTORY_COLUMNS
True
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "BASELINE",
    "COLUMNS",
    "HISTORY_COLUMNS",
    "PAPER_RENAME",
    "PERFORMANCE",
    "RESOURCES",
    "RUN_KEY",
    "SETTINGS_KEY",
    "SOURCE_COLUMNS",
    "SUMMARY_COLUMNS",
    "Column",
    "describe",
]


class Column(NamedTuple):
    """One column of the schema: its unit ('' when unitless), meaning and source label."""

    unit: str
    description: str
    source: str = ""  # the column(s) holding the label of how the number was obtained


#: Columns identifying a run in a sweep: a row with the same values is not run again.
RUN_KEY = ("model", "dataset", "size", "pretrained", "fraction", "seed", "epochs")
#: Settings that define a run: its checkpoint folder is keyed by them, so a changed
#: setup starts a new run and an unchanged one resumes.
SETTINGS_KEY = (*RUN_KEY, "lr", "batch_size", "optimizer")
#: PePR variant -> resource column, as :func:`peprkit.metric.add_pepr` takes it.
RESOURCES = {"e": "energy_kwh", "c": "co2_g", "m": "memory_gb", "t": "train_time_s"}
#: Performance columns (fractions in [0, 1]) a run record carries, the headline first.
PERFORMANCE = ("test_acc", "test_balanced_acc", "test_auc", "val_acc", "train_acc")
#: The accuracy a constant guess gets: compare every accuracy with it.
BASELINE = "majority_acc"
#: Label columns: how each resource number was obtained.
SOURCE_COLUMNS = ("memory_source", "gpu_source", "cpu_source", "ram_source")

_ENERGY_SOURCES = "cpu_source, gpu_source, ram_source"

#: Every column of history and summary rows: unit, meaning, source-label column(s).
COLUMNS: dict[str, Column] = {
    # settings that define the run
    "model": Column("", "timm model name (or the class name of a given module)"),
    "dataset": Column("", "MedMNIST flag, or 'synthetic'"),
    "size": Column("px", "image side length of the dataset files"),
    "input_size": Column("px", "image side length fed to the model (resized on the fly)"),
    "pretrained": Column("", "ImageNet weights loaded (True) or random init (False)"),
    "fraction": Column("", "fraction of the training split used (stratified, by seed)"),
    "seed": Column("", "seed of Python, numpy and torch"),
    "epochs": Column("", "epochs asked for"),
    "lr": Column("", "learning rate"),
    "batch_size": Column("images", "training batch size"),
    "optimizer": Column("", "'adam', 'adamw' or 'sgd'"),
    "num_params": Column("parameters", "trainable and frozen parameters of the model"),
    # per-epoch training record
    "epoch": Column("", "1-based epoch the row was recorded after"),
    "train_loss": Column("", "mean training loss of the epoch"),
    # performance
    "train_acc": Column("fraction", "accuracy on the training batches during the epoch"),
    "val_acc": Column("fraction", "accuracy on the validation split"),
    "test_acc": Column("fraction", "accuracy on the test split"),
    "test_balanced_acc": Column(
        "fraction", "mean per-class recall on the test split (chance level 1/classes)"),
    "test_auc": Column(
        "fraction", "ROC AUC on the test split (one-vs-rest macro for several classes, "
        "mean per label for multi-label tasks; 0.5 is chance)"),
    "majority_acc": Column(
        "fraction", "test accuracy of always predicting the training split's most common "
        "class (for multi-label tasks: each label's most common value)"),
    # resources (cumulative in history rows, run totals in summaries)
    "time_s": Column("s", "wall-clock seconds of training and evaluation so far"),
    "train_time_s": Column("s", "wall-clock seconds of the run (training and evaluation); "
                           "follows machine load"),
    "train_cpu_s": Column("s", "CPU seconds used by the process and its child processes "
                          "(user + system, all cores); less sensitive to machine load"),
    "energy_kwh": Column("kWh", "energy of GPU + CPU + RAM", _ENERGY_SOURCES),
    "gpu_kwh": Column("kWh", "GPU energy (NaN when unavailable)", "gpu_source"),
    "cpu_kwh": Column("kWh", "CPU energy (NaN when unavailable)", "cpu_source"),
    "ram_kwh": Column("kWh", "RAM energy (NaN when unavailable)", "ram_source"),
    "co2_g": Column("gCO2eq", "energy_kwh x PUE x grid intensity", _ENERGY_SOURCES),
    "memory_gb": Column("GB", "peak memory of the run: CUDA peak reserved on a GPU; on a CPU "
                        "see memory_source", "memory_source"),
    "train_images_per_s": Column("images/s", "training throughput of the epoch"),
    # labels
    "memory_source": Column("", "how memory_gb was obtained"),
    "gpu_source": Column("", "how gpu_kwh was obtained"),
    "cpu_source": Column("", "how cpu_kwh was obtained"),
    "ram_source": Column("", "how ram_kwh was obtained"),
    "metered": Column("", "what each meter lap covers ('train+eval'), or 'off'"),
    # run outcome
    "device": Column("", "torch device the run used"),
    "synthetic": Column("", "True when the data is a synthetic stand-in (not medical)"),
    "epochs_run": Column("", "epochs actually trained (fewer when stopped early)"),
    "pepr_best_epoch": Column("", "with early_stop='pepr': the epoch whose weights were kept"),
    "pepr_budget": Column("", "val_acc / (1 + energy_kwh / budget_kwh), per epoch"),
    "status": Column("", "'completed', 'early-stopped', 'interrupted' or 'over_budget' "
                     "(stopped before a spend limit, max_energy_kwh or max_time_s)"),
    # forecasts (never measurements): the whole run scaled from its first epoch
    "forecast_time_s": Column("s", "forecast of the run's time_s, made after epoch 1 "
                              "(epoch 1 x epochs)", "forecast_source"),
    "forecast_energy_kwh": Column("kWh", "forecast of the run's energy_kwh, made after "
                                  "epoch 1 (epoch 1 x epochs)", "forecast_source"),
    "forecast_co2_g": Column("gCO2eq", "forecast of the run's co2_g, made after epoch 1 "
                             "(epoch 1 x epochs)", "forecast_source"),
    "forecast_source": Column("", "says the forecast_* numbers are a forecast, what they "
                              "were scaled from and epoch 1's meter sources"),
    "weights": Column("", "file the pretrained weights came from, 'random init' or 'given'"),
    "task": Column("", "MedMNIST task type"),
    "threads": Column("", "torch CPU threads"),
    "hardware": Column("", "the processor that trained: GPU name on CUDA, CPU model otherwise"),
    "torch_version": Column("", "PyTorch version of the run"),
}

#: History columns, in order (one row per finished epoch; resources cumulative).
HISTORY_COLUMNS = (
    "epoch", "train_loss", "train_acc", "val_acc", "test_acc", "test_auc", "time_s",
    "energy_kwh", "gpu_kwh", "cpu_kwh", "ram_kwh", "co2_g", "memory_gb", "memory_source",
    "gpu_source", "cpu_source", "ram_source", "test_balanced_acc", "majority_acc",
    "train_cpu_s", "train_images_per_s", "metered",
)

#: Summary columns, in order: one row per run, the schema of a sweep's results.csv.
SUMMARY_COLUMNS = (
    "model", "dataset", "size", "input_size", "pretrained", "fraction", "seed", "epochs",
    "num_params", "test_acc", "test_auc", "val_acc", "energy_kwh", "co2_g", "memory_gb",
    "memory_source", "train_time_s", "device", "synthetic", "gpu_source", "cpu_source",
    "ram_source", "majority_acc", "test_balanced_acc", "train_cpu_s", "epochs_run", "status",
    "metered", "pepr_best_epoch", "weights", "task", "threads", "lr", "batch_size",
    "optimizer", "hardware", "torch_version", "forecast_time_s", "forecast_energy_kwh",
    "forecast_co2_g", "forecast_source",
)

#: The PePR authors' published column names -> this schema's names.
PAPER_RENAME = {
    "num_param": "num_params",
    "test_09": "test_acc",
    "energy": "energy_kwh",
    "co2": "co2_g",
    "memR": "memory_gb",
    "train_time": "train_time_s",
}


def describe(column: str) -> str:
    """A one-line description of ``column`` with its unit, e.g. for an axis label or a table.

    >>> describe("energy_kwh")
    'energy_kwh [kWh]: energy of GPU + CPU + RAM (source: cpu_source, gpu_source, ram_source)'

    Raises:
        ValueError: ``column`` is not in the schema.
    """
    if column not in COLUMNS:
        from peprkit._util import did_you_mean

        raise ValueError(f"column={column!r} is not in the results schema."
                         f"{did_you_mean(column, COLUMNS)}")
    col = COLUMNS[column]
    unit = f" [{col.unit}]" if col.unit else ""
    source = f" (source: {col.source})" if col.source else ""
    return f"{column}{unit}: {col.description}{source}"


def _check() -> None:  # every named column is described
    missing = set(HISTORY_COLUMNS + SUMMARY_COLUMNS + SETTINGS_KEY) - set(COLUMNS)
    if missing:  # pragma: no cover - guards edits of this file
        raise RuntimeError(f"schema columns without a description: {sorted(missing)}")


_check()
