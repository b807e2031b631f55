"""The paper's Figure 4b, PePR-M on ImageNet, and an audit of how its rows were matched.

:func:`imagenet_pepr` (re-exported by :mod:`peprkit.paper`) scores each model's ImageNet
top-1 accuracy against the memory it used, and says per model whether the authors' name
matching and the weights the paper actually fine-tuned pick the same ImageNet row.
:func:`weights_of` is also how the synthetic ImageNet stand-in names its rows.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from peprkit._synthetic import is_synthetic
from peprkit._util import did_you_mean
from peprkit.paper._table import IMAGENET_TABLE, check_columns, check_experiment

#: How :func:`imagenet_pepr` finds a model's ImageNet row.
MATCH_RULES = ("default-tag", "authors")


def imagenet_pepr(
    results: pd.DataFrame, imagenet: pd.DataFrame, *, match: str = "default-tag",
    experiment: str = "derma_pt", weights: dict[str, str] | None = None,
) -> pd.DataFrame:
    """PePR-M on ImageNet (the paper's Figure 4b), one row per model, with a matching audit.

    The paper scores each model's ImageNet top-1 accuracy (from timm's published
    ``results-imagenet.csv``) against the memory it used in the ``derma_pt`` experiment:
    ``M_n = (memR - min) / (max - min)`` over that experiment's models, and
    ``PePR-M = (top1 / 100) / (1 + M_n)``.

    Which row of the ImageNet table belongs to a model decides its accuracy. Two rules:

    - ``"default-tag"``: the row of the weights the paper fine-tuned, timm's default
      pretrained tag for the architecture (``weights[model]``, else the
      ``timm_weights`` of :func:`peprkit.models.paper_zoo`, else timm's registry), at
      the image size timm evaluates those weights at when the table lists several. A
      model without such a row gets NaN.
    - ``"authors"``: the first row (best top-1) whose name *contains* the model's name,
      ``imagenet.model.str.contains(model)`` as in the authors' ``map_imagenet_results.py``.
      This can pick another architecture (``vgg11`` finds ``vgg11_bn``) or another tag; a
      model without any hit gets top-1 0 and PePR-M 0, as in the authors' table.

    Both rules are always applied; ``match`` says which one fills ``top1``, ``top5`` and
    ``pepr_m``.

    Args:
        results: the authors' raw results (:func:`load_results`), all experiments or one.
        imagenet: timm's ImageNet results (:func:`load_imagenet`).
        match: ``"default-tag"`` or ``"authors"``.
        experiment: the experiment whose memory is normalised (the paper: ``derma_pt``).
        weights: model -> ``architecture.tag`` overrides for the default-tag rule.

    Returns:
        One row per model of ``experiment``, in its order: ``model``, ``num_params``,
        ``efficient``, ``type``, ``memory_gb`` (``memR``), ``M_n``, ``imagenet_model`` (the
        row used, empty when none), ``top1``, ``top5``, ``pepr_m``, ``matched``, then the
        audit: ``authors_row``, ``authors_top1``, ``default_row``, ``default_top1`` and
        ``rules_agree`` (both rules found the same row; False when they differ or either
        finds none), and ``synthetic``.

    Raises:
        ValueError: unknown ``match`` or ``experiment``, or a table without the needed
            columns.

    Example:
        >>> from peprkit.paper import make_example_imagenet, make_example_results
        >>> raw = make_example_results(n_models=6, experiments=("derma_pt",))
        >>> tags = {m: f"{m}.a1_in1k" for m in raw.model}
        >>> table = imagenet_pepr(raw, make_example_imagenet(raw, weights=tags), weights=tags)
        >>> table.loc[0, ["model", "authors_row", "default_row"]].tolist()
        ['resnet18', 'resnet18_x.synthetic_in1k', 'resnet18.a1_in1k']
        >>> bool(table.loc[0, "rules_agree"])
        False
    """
    if match not in MATCH_RULES:
        raise ValueError(f"match={match!r} is not a matching rule; use one of "
                         f"{list(MATCH_RULES)}.{did_you_mean(str(match), MATCH_RULES)}")
    check_columns(results)
    check_columns(imagenet, "imagenet", spec=IMAGENET_TABLE)
    check_experiment(experiment, results["dataset"])
    rows = results[results["dataset"] == experiment].reset_index(drop=True)
    mem = rows["memR"].to_numpy(dtype=float)
    m_n = (mem - mem.min()) / (mem.max() - mem.min())
    names = imagenet["model"].astype(str)
    sizes = imagenet["img_size"]
    zoo_sizes = _zoo_column("imagenet_img_size")
    authors_idx, default_idx = [], []
    for model in rows["model"].astype(str):
        hits = np.where(names.str.contains(model))[0]
        authors_idx.append(int(hits[0]) if len(hits) else -1)
        target = weights_of(model, weights)
        exact = np.where(names == target)[0] if target else np.array([], int)
        if len(exact) > 1 and model in zoo_sizes:
            at_size = exact[sizes.to_numpy()[exact] == zoo_sizes[model]]
            exact = at_size if len(at_size) else exact
        default_idx.append(int(exact[0]) if len(exact) else -1)

    def picked(index, column, missing):
        values = imagenet[column].to_numpy(dtype=float)
        return np.array([values[i] if i >= 0 else missing for i in index])

    def row_names(index):
        return [names.iloc[i] if i >= 0 else "" for i in index]

    authors_top1 = picked(authors_idx, "top1", 0.0)
    default_top1 = picked(default_idx, "top1", np.nan)
    use = authors_idx if match == "authors" else default_idx
    missing_value = 0.0 if match == "authors" else np.nan
    top1 = picked(use, "top1", missing_value)
    out = pd.DataFrame({
        "model": rows["model"],
        "num_params": rows["num_param"],
        "efficient": rows["efficient"],
        "type": rows["type"],
        "memory_gb": mem,
        "M_n": m_n,
        "imagenet_model": row_names(use),
        "top1": top1,
        "top5": picked(use, "top5", missing_value),
        "pepr_m": (top1 / 100) / (1 + m_n),
        "matched": np.array(use) >= 0,
        "authors_row": row_names(authors_idx),
        "authors_top1": authors_top1,
        "default_row": row_names(default_idx),
        "default_top1": default_top1,
        "rules_agree": [a == d and a >= 0 for a, d in zip(authors_idx, default_idx, strict=True)],
    })
    out["synthetic"] = is_synthetic(rows) or is_synthetic(imagenet)
    out.attrs["match"] = match
    return out


@functools.cache
def _zoo_column(column: str) -> dict[str, object]:
    """model -> ``column`` of the packaged paper zoo table (empty values left out)."""
    import csv

    from peprkit.models import PAPER_ZOO_FILE

    with open(PAPER_ZOO_FILE, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out: dict[str, object] = {}
    for row in rows:
        value = row.get(column, "")
        if value:
            out[row["model"]] = int(value) if value.isdigit() else value
    return out


def weights_of(model: str, weights: dict[str, str] | None) -> str | None:
    """The ``architecture.tag`` the paper fine-tuned for ``model`` (None when unknown)."""
    if weights is not None and model in weights:
        return weights[model]
    known = _zoo_column("timm_weights")
    if model in known:
        return str(known[model])
    try:
        from peprkit.models import default_weights

        return default_weights(model)
    except ImportError:  # timm not installed: only the packaged table is known
        return None
