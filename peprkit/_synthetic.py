"""Whether a table holds synthetic stand-in data: the one test the plots and the paper use.

A row is synthetic when its ``synthetic`` column is true, or when its ``dataset`` name says
"synthetic" (the stand-ins of :func:`peprkit.data.load_or_synthetic` are named so). Plots
mark such a table in their titles and :mod:`peprkit.paper` carries the flag into the tables
it derives. No import of pandas: the table is only read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_synthetic"]


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
