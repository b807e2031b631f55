"""What kind of numbers a table holds: synthetic stand-ins, and how each resource was obtained.

A row is synthetic when its ``synthetic`` column is true, or when its ``dataset`` name says
"synthetic" (the stand-ins of :func:`peprkit.data.load_or_synthetic` are named so). Plots
mark such a table in their titles and :mod:`peprkit.paper` carries the flag into the tables
it derives (:func:`is_synthetic`).

A resource number is described by one word (:func:`number_source`), read from the
source-label columns the kit's records carry beside their resource columns
(:mod:`peprkit.schema`): ``measured``, ``estimated`` (or ``partly estimated``),
``unavailable``, ``illustrative`` (written by hand), ``synthetic`` (made up with the data),
or ``source not recorded``. Plots and conclusions say that word, never "measured" for a
number that was not. No import of pandas: the table is only read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SOURCE_WORDS", "is_synthetic", "label_columns", "number_source"]

#: The words :func:`number_source` answers with, most trustworthy first.
SOURCE_WORDS = ("measured", "partly estimated", "estimated", "unavailable", "illustrative",
                "synthetic", "source not recorded")
#: Resource columns timed by the clock: measured whenever the record is the kit's own.
_CLOCK_COLUMNS = ("time_s", "train_time_s", "train_cpu_s")


def is_synthetic(table: Any) -> bool:
    """True when any row of ``table`` is synthetic.

    ``any(synthetic) or any("synthetic" in dataset)``, over the columns the table has;
    missing values in ``synthetic`` count as False.

    >>> import pandas as pd
    >>> is_synthetic(pd.DataFrame({"dataset": ["breastmnist", "synthetic"]}))
    True
    >>> is_synthetic(pd.DataFrame({"synthetic": [False, None], "dataset": "breastmnist"}))
    False
    """
    columns = table.columns
    if "synthetic" in columns and table["synthetic"].fillna(False).astype(bool).any():
        return True
    return "dataset" in columns and bool(
        table["dataset"].astype(str).str.contains("synthetic").any())


def label_columns(table: Any, column: str) -> list[str]:
    """The source-label columns of ``table`` that describe ``column``."""
    from peprkit.schema import COLUMNS

    base = column[: -len("_norm")] if column.endswith("_norm") else column
    names = [c.strip() for c in COLUMNS[base].source.split(",")] if base in COLUMNS else []
    stem = base.split("_")[0]
    names += [f"{base}_source", f"{stem}_source"]
    return [c for c in dict.fromkeys(names) if c and c in table.columns]


def number_source(table: Any, column: str) -> str:
    """One word for how the numbers in ``table[column]`` were obtained.

    In order: the source-label columns beside ``column`` (for ``energy_kwh`` the
    ``cpu_source``, ``gpu_source`` and ``ram_source`` of the schema, or an
    ``energy_source`` column): ``estimated`` when a label starts with "estimated" and
    none with "measured", ``partly estimated`` when both occur, ``measured`` when every
    available label starts with "measured", ``unavailable`` when none is available; for
    the clock columns (``train_time_s``, ``time_s``, ``train_cpu_s``) of a kit record
    ``measured``; then ``table.attrs["source"]`` when it starts with one of
    :data:`SOURCE_WORDS`; then ``synthetic`` for a synthetic table
    (:func:`is_synthetic`); else ``source not recorded``.

    Args:
        table: a DataFrame, e.g. a sweep's results or a history.
        column: the resource column (a ``<column>_norm`` is described as its column).

    Returns:
        One of :data:`SOURCE_WORDS`.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"energy_kwh": [0.1], "cpu_source": ["estimated:cpu-time"],
    ...                      "gpu_source": ["unavailable:no-gpu"],
    ...                      "ram_source": ["estimated:ram-per-gb"]})
    >>> number_source(runs, "energy_kwh"), number_source(runs, "train_time_s")
    ('estimated', 'measured')
    >>> number_source(runs.assign(cpu_source="measured:rapl"), "energy_kwh_norm")
    'partly estimated'
    >>> number_source(pd.DataFrame({"energy_kwh": [1.0], "synthetic": True}), "energy_kwh")
    'synthetic'
    >>> number_source(pd.DataFrame({"energy_kwh": [1.0]}), "energy_kwh")
    'source not recorded'
    """
    from peprkit.schema import SOURCE_COLUMNS

    labels = [str(v).strip().lower() for c in label_columns(table, str(column))
              for v in table[c].dropna().unique()]
    labels = [v for v in labels if v and v != "nan"]
    if labels:
        measured = any(v.startswith("measured") for v in labels)
        estimated = any(v.startswith("estimated") for v in labels)
        if estimated:
            return "partly estimated" if measured else "estimated"
        if measured:
            return "measured"
        if all(v.startswith("unavailable") for v in labels):
            return "unavailable"
    base = str(column)[: -len("_norm")] if str(column).endswith("_norm") else str(column)
    if base in _CLOCK_COLUMNS and any(c in table.columns for c in SOURCE_COLUMNS):
        return "measured"
    given = str(getattr(table, "attrs", {}).get("source", "")).strip().lower()
    for word in SOURCE_WORDS:
        if given.startswith(word):
            return word
    if is_synthetic(table):
        return "synthetic"
    return "source not recorded"
