"""SYNTHETIC stand-ins for the authors' tables, for offline tests and notebooks.

:func:`make_example_results` has the columns of the paper's ``all_results.csv`` and
:func:`make_example_imagenet` those of timm's ``results-imagenet.csv`` (both re-exported by
:mod:`peprkit.paper`). Every row has ``synthetic=True`` and none of the numbers are the
authors' or timm's; :func:`peprkit.paper.load_or_example` falls back to them, loudly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peprkit.paper._imagenet import weights_of
from peprkit.paper._table import EXPERIMENTS, check_experiment

#: The synthetic table's models: real timm names (so a join with a learner's sweep shows
#: something), their approximate parameter counts in millions (ImageNet heads), and
#: whether the architecture was designed for efficiency.
EXAMPLE_MODELS = [
    ("resnet18", 11.7, 0), ("mobilenetv3_small_100", 2.5, 1), ("resnet50", 25.6, 0),
    ("efficientnet_b0", 5.3, 1), ("convnext_tiny", 28.6, 0), ("ese_vovnet19b_dw", 6.5, 1),
    ("vgg13", 133.0, 0), ("mobilenetv2_050", 2.0, 1), ("resnet101", 44.5, 0),
    ("ghostnet_100", 5.2, 1), ("densenet121", 8.0, 0), ("xception41p", 26.9, 0),
    ("dla34", 15.7, 0), ("regnetx_002", 2.7, 1), ("repvgg_a2", 28.2, 1),
    ("mnasnet_100", 4.4, 1), ("resnet34", 21.8, 0), ("convnext_atto", 3.7, 1),
    ("tinynet_a", 6.2, 1), ("dla46_c", 1.3, 0), ("efficientnet_b2", 9.1, 1),
    ("dpn68", 12.6, 0), ("mobilevit_s", 5.6, 1), ("dla60", 22.0, 0),
]


def make_example_results(
    n_models: int = 16, *, experiments: tuple[str, ...] = ("derma_pt", "derma", "derma_small",
                                                            "pneumonia"),
    seed: int = 0,
) -> pd.DataFrame:
    """A small SYNTHETIC table with the paper's columns, for offline tests and notebooks.

    Models are real timm names with their approximate sizes (1M..133M); energy, CO2,
    memory and time grow with size (with noise); accuracy curves rise over 10 epochs and
    are lower without pretraining (``derma``) and with less data (``*_small``). Every row
    has ``synthetic=True``. None of these numbers are the authors'.

    Args:
        n_models: how many models (at most the 24 names built in).
        experiments: values of the ``dataset`` column, each from :data:`EXPERIMENTS`.
        seed: random seed; the same seed gives the same table.

    Returns:
        ``n_models * len(experiments)`` rows with :data:`RAW_COLUMNS` and ``synthetic``.

    Raises:
        ValueError: ``n_models`` out of range or an unknown experiment.

    Example:
        >>> df = make_example_results(n_models=4, experiments=("derma_pt",))
        >>> df.shape[0], bool(df["synthetic"].all())
        (4, True)
    """
    if not 2 <= n_models <= len(EXAMPLE_MODELS):
        raise ValueError(
            f"n_models={n_models!r} is out of range; use 2..{len(EXAMPLE_MODELS)}."
        )
    for i, exp in enumerate(experiments):
        check_experiment(exp, EXPERIMENTS, arg=f"experiments[{i}]",
                         where="the paper's experiments")
    rng = np.random.default_rng(seed)
    names = [name for name, _, _ in EXAMPLE_MODELS[:n_models]]
    params = np.array([round(m * 1e6) for _, m, _ in EXAMPLE_MODELS[:n_models]], np.int64)
    efficient = np.array([eff for _, _, eff in EXAMPLE_MODELS[:n_models]])
    size = np.log10(params) - 6.0  # 0 .. 2.1
    kinds = np.where(rng.random(n_models) < 0.7, "CNN", "Other")
    rows = []
    for exp in experiments:
        data_share = 0.1 if exp.endswith("_small") else 0.03 if exp.endswith("smallest") else 1.0
        base = 0.78 if exp.startswith("pneumonia") else 0.70
        ceiling = base - (0.08 if exp == "derma" else 0.0) - (0.05 if data_share < 1 else 0.0)
        time_s = (6 + 30 * size**1.5) * data_share ** 0.8 * rng.lognormal(0, 0.15, n_models)
        energy = time_s * rng.uniform(300, 600, n_models) * 10 / 3.6e6
        final = np.clip(ceiling - 0.02 * size + rng.normal(0, 0.03, n_models), 0.05, 0.99)
        epochs = np.arange(1, 11)
        start = final - rng.uniform(0.02, 0.12, n_models)
        curves = start[:, None] + (final - start)[:, None] * (1 - np.exp(-epochs / 3))[None, :]
        curves = np.clip(curves + rng.normal(0, 0.01, curves.shape), 0.0, 1.0)
        curves[:, -1] = final
        frame = pd.DataFrame({
            "model": names,
            "num_param": params,
            "memR": np.round(0.8 + 0.12 * params / 1e6 * rng.uniform(0.7, 1.3, n_models), 6),
            "energy": energy,
            "co2": energy * 78.0,
            "train_time": time_s,
            **{f"test_{i:02d}": curves[:, i] for i in range(10)},
            "type": kinds,
            "efficient": efficient,
            "dataset": exp,
        })
        rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    table["synthetic"] = True
    table.attrs["source"] = "synthetic (peprkit.paper.make_example_results)"
    return table


def make_example_imagenet(
    results: pd.DataFrame | None = None, *, seed: int = 0,
    weights: dict[str, str] | None = None,
) -> pd.DataFrame:
    """A SYNTHETIC table shaped like timm's ``results-imagenet.csv``, for offline use and tests.

    For every model of ``results`` (default: :func:`make_example_results`) it holds the row
    of the model's default weights (``weights[model]``, else the paper zoo's or timm's
    default tag, as :func:`imagenet_pepr` looks it up) with a made-up top-1 that grows with
    size. To exercise the
    matching rules it also holds, like the real file: for every third model a row of an
    *other* architecture whose name contains the model's name (``<model>_x``, a prefix
    collision) ranked above it; for every fifth model a second, better tag of the same
    architecture; and the last model is missing. Rows are sorted by ``top1``, best first.
    None of these numbers are timm's.

    Example:
        >>> raw = make_example_results(n_models=6)
        >>> table = make_example_imagenet(raw, weights={m: f"{m}.a1_in1k" for m in raw.model})
        >>> bool(table["synthetic"].all()), "resnet18_x.synthetic_in1k" in set(table["model"])
        (True, True)
    """
    if results is None:
        results = make_example_results()
    rng = np.random.default_rng(seed)
    models = list(dict.fromkeys(results["model"]))
    params = results.groupby("model", sort=False)["num_param"].first()
    rows = []
    for i, model in enumerate(models[:-1]):  # the last model has no row at all
        top1 = float(np.clip(64 + 6 * (np.log10(params[model]) - 6) + rng.normal(0, 2), 50, 90))
        name = weights_of(model, weights)
        if name is None:  # timm not installed and not a paper model: no row, as if missing
            continue
        rows.append((name, 224, top1))
        if i % 3 == 0:  # another architecture whose name contains this one, ranked higher
            rows.append((f"{model}_x.synthetic_in1k", 224, top1 + 1.5))
        if i % 5 == 1:  # a second, better tag of the same architecture
            rows.append((f"{model}.synthetic_better_in1k", 288, top1 + 0.7))
    table = pd.DataFrame(rows, columns=["model", "img_size", "top1"])
    table["top1"] = table["top1"].round(3)
    table["top1_err"] = (100 - table["top1"]).round(3)
    table["top5"] = (100 - (100 - table["top1"]) / 3.5).round(3)
    table["top5_err"] = (100 - table["top5"]).round(3)
    table["param_count"] = [round(params[_arch_of(n, models)] / 1e6, 2) if _arch_of(n, models)
                            else np.nan for n in table["model"]]
    table = table.sort_values("top1", ascending=False, kind="stable", ignore_index=True)
    table["synthetic"] = True
    table.attrs["source"] = "synthetic (peprkit.paper.make_example_imagenet)"
    return table


def _arch_of(row_name: str, models: list[str]) -> str | None:
    """The architecture of an ImageNet row (``resnet18.a1_in1k``: resnet18), if in ``models``."""
    arch = row_name.split(".")[0]
    return arch if arch in models else None
