"""The authors' published tables: where they are, which columns they have, which experiments.

Everything here is re-exported by :mod:`peprkit.paper`; its submodules (the synthetic
stand-ins, the ImageNet audit) check their inputs with :func:`check_columns` and
:func:`check_experiment`, so every such error reads the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from peprkit._util import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

#: Where the authors publish their raw results.
PAPER_URL = "https://raw.githubusercontent.com/saintslab/PePR/main/data/all_results.csv"
#: File name looked up with :func:`peprkit._paths.find_file` (kind ``"results"``).
FILE_NAME = "all_results.csv"
#: Columns every results table must have (the published CSV has a few more).
RAW_COLUMNS = (
    "model", "num_param", "memR", "energy", "co2", "train_time",
    *(f"test_{i:02d}" for i in range(10)),
    "type", "efficient", "dataset",
)
#: The paper's eight experiments, in the authors' order.
EXPERIMENTS = (
    "derma_pt", "lidc", "lidc_small", "derma", "derma_small", "derma_smallest",
    "pneumonia", "pneumonia_small",
)
#: The authors' copy of timm's ImageNet results (Figure 4b), and its file name.
IMAGENET_URL = "https://raw.githubusercontent.com/saintslab/PePR/main/data/results-imagenet.csv"
IMAGENET_FILE = "results-imagenet.csv"
#: Columns every ImageNet results table must have (timm's file has a few more).
IMAGENET_COLUMNS = ("model", "img_size", "top1", "top5")
#: Model size the paper splits small from large at: the median over its 131 models.
PAPER_MEDIAN_PARAMS = 24.6e6
#: Power usage effectiveness (data-centre overhead) already in the published ``energy``
#: and ``co2``: carbontracker multiplies every consumption it reports by a fixed PUE.
#: The authors' repository pins no carbontracker version; every release from 1.1.7
#: (December 2022) to 1.2.5 (November 2023), the newest when the paper's code was
#: published (March 2024), uses 1.55, the Uptime Institute's 2022 average (1.1.6 and
#: older used 1.59, 2.0.0 and newer 1.58). Divide it out with
#: :func:`peprkit.paper.without_pue` before comparing absolute kWh or grams with the kit's
#: meter, whose ``pue`` is 1.0 unless you set one; PePR scores do not change.
PAPER_PUE = 1.55


class PublishedTable(NamedTuple):
    """One published file: its name on disk, its URL, required columns, and the kit's
    functions that load it and make a synthetic stand-in for it."""

    file: str
    url: str
    columns: tuple[str, ...]
    what: str
    loader: str
    stand_in: str


#: The raw results (``all_results.csv``) and timm's ImageNet results.
RESULTS_TABLE = PublishedTable(FILE_NAME, PAPER_URL, RAW_COLUMNS,
                               "the paper's all_results.csv", "load_results",
                               "make_example_results")
IMAGENET_TABLE = PublishedTable(IMAGENET_FILE, IMAGENET_URL, IMAGENET_COLUMNS,
                                "timm's results-imagenet.csv", "load_imagenet",
                                "make_example_imagenet")


def check_columns(table: pd.DataFrame, source: str = "the table", *,
                  spec: PublishedTable = RESULTS_TABLE) -> None:
    """Raise unless ``table`` has every column of ``spec`` (the raw results by default).

    Raises:
        ValueError: names the missing columns, the file they come from and its stand-in.
    """
    missing = [c for c in spec.columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{source} lacks the columns {missing} of {spec.what}. Pass the file from "
            f"{spec.url} (or {spec.stand_in}() for a synthetic stand-in)."
        )


def check_experiment(experiment: str, available: Iterable[str], *,
                     arg: str = "experiment", where: str = "the results") -> None:
    """Raise unless ``experiment`` is one of ``available`` (e.g. a table's ``dataset`` values).

    >>> check_experiment("derma_pt", EXPERIMENTS, where="the paper's experiments")
    >>> check_experiment("lidc_smal", ["derma_pt", "lidc_small"])
    Traceback (most recent call last):
    ...
    ValueError: experiment='lidc_smal' is not in the results (['derma_pt', 'lidc_small']). ...

    Raises:
        ValueError: names the argument, the value, the experiments there are, and the
            closest ones.
    """
    names = [str(name) for name in dict.fromkeys(available)]
    if experiment not in names:
        raise ValueError(f"{arg}={experiment!r} is not in {where} ({names})."
                         f"{did_you_mean(str(experiment), names)}")
