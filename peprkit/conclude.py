"""Conclusions in plain words that follow the learner's own table, not a fixed summary.

:func:`compare_groups` compares two groups of models (small against large, pretrained
against from scratch) with :func:`peprkit.metric.compare_models` (each model's seeds
averaged first: the models are the units) and says what the numbers support:

- "small models scored higher / lower on pepr_e than large models" when the two-sided
  Mann-Whitney p-value is at or below ``alpha``, with the medians, the difference and its
  bootstrap interval, Cliff's delta, n as models and p;
- "no difference ... was detectable" otherwise, adding, when the group sizes cannot reach
  ``alpha`` at all, the smallest p-value they allow ("with 3 + 3 models the smallest
  possible p is 0.1");
- "no conclusion can be drawn" when no run beat the majority-class baseline (nothing was
  learned), and a caveat when one group never beat it;
- a Pareto sentence, "k of the f models on the test_acc-energy_kwh front are small"
  (:func:`peprkit.metric.pareto_front` over the per-model means).

Numbers are formatted to three decimals; the text states the group sizes and the p-value
it rests on, so a learner can check it against the table. pandas and scipy are imported
inside the functions.

A conclusion about accuracy needs the accuracy of a constant guess beside it. Tables that
carry no ``majority_acc`` (the paper's published results) get it from
:func:`majority_baseline`: the commonest class's share of each MedMNIST set, from the
class counts published with the datasets (:data:`PUBLISHED_MAJORITY` names each source).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from peprkit._compare import GroupComparison, compare_models
from peprkit._sizes import size_threshold
from peprkit._validation import column_values, require_columns, show
from peprkit.metric import pareto_front

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PUBLISHED_MAJORITY", "Conclusion", "MajorityBaseline", "compare_groups",
           "majority_baseline"]

#: Words for the values of the kit's two-valued columns (the first is the group the
#: sentence is about).
_NAMES = {"pretrained": {True: "pretrained", False: "from-scratch"}}


@dataclass(frozen=True)
class Conclusion:
    """What a table supports about two groups of models (:func:`compare_groups`).

    Attributes:
        text: the conclusion in plain words (also ``str(conclusion)``).
        verdict: ``"higher"`` or ``"lower"`` (the first group against the second, at
            ``alpha``), ``"no difference detectable"`` or ``"no conclusion"`` (nothing
            learned).
        comparison: the numbers behind it (None when no conclusion could be drawn).
        on_front: ``(k, f)``: k of the f models on the Pareto front are in the first
            group (None without the performance and resource columns).
        caveats: the sentences that qualify the verdict (chance level, group sizes).
    """

    text: str
    verdict: str
    comparison: GroupComparison | None
    on_front: tuple[int, int] | None
    caveats: tuple[str, ...]

    def __str__(self) -> str:
        return self.text


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _labels(table: pd.DataFrame, by: str, params: str, threshold: Any,
            order: Any, names: Mapping[Any, str] | None) -> tuple[np.ndarray, tuple, dict]:
    """Per-row group values, the two values compared (first first), and for each value a
    noun phrase ("small models", "models with fraction = 0.1") and a note on the split."""
    if by == "size":
        require_columns(table, [params], arg="params")
        n = column_values(table, params)
        cut = size_threshold(threshold, n)
        why = "the median of these models" if isinstance(threshold, str) else "the split given"
        count = f"{cut / 1e6:.1f}M" if cut >= 1e5 else f"{cut:,.0f}"
        words = {"small": ("small models", f" (at most {count} parameters, {why})"),
                 "large": ("large models", "")}
        labels = np.where(n <= cut, "small", "large").astype(object)
        return labels, ("small", "large"), words
    require_columns(table, [by], arg="by")
    labels = table[by].to_numpy()
    values = list(dict.fromkeys(labels.tolist()))
    if order is None:
        if len(values) != 2:
            raise ValueError(
                f"by={by!r} must hold two values, got {len(values)}: {show(values)}; pass "
                f"order=(first, second) to pick two, or by='size'.")
        order = (True, False) if set(values) <= {True, False} else tuple(sorted(values, key=str))
    adjectives = {**_NAMES.get(by, {}), **dict(names or {})}
    words = {v: (f"{adjectives[v]} models" if v in adjectives else f"models with {by} = {v}", "")
             for v in values}
    return labels, tuple(order), words


def compare_groups(
    table: pd.DataFrame,
    *,
    by: str,
    score: str,
    model: str = "model",
    order: Any = None,
    names: Mapping[Any, str] | None = None,
    params: str = "num_params",
    threshold: float | str = "median",
    performance: str | None = "test_acc",
    baseline: str | None = "majority_acc",
    resource: str | None = "energy_kwh",
    alpha: float = 0.05,
) -> Conclusion:
    """State in plain words what ``table`` supports about two groups of models.

    The groups are small against large models (``by="size"``: ``params <= threshold``,
    as :func:`peprkit.metric.compare_sizes`) or the two values of a column
    (``by="pretrained"``, ``by="fraction"``). Each model's runs are averaged first; the
    verdict is "higher" or "lower" when the two-sided Mann-Whitney p on the per-model means
    is at most ``alpha`` (the direction is that of Cliff's delta), else "no difference
    detectable". When no run's ``performance`` beats its ``baseline`` the verdict is "no
    conclusion": nothing was learned. The Pareto sentence counts the first group's models
    on the front of mean ``performance`` against mean ``resource``.

    Args:
        table: one row per run (several datasets are averaged per model: pass one).
        by: ``"size"`` or a column with two values.
        score: the column compared, e.g. ``"pepr_e"`` or ``"test_acc"``.
        model: the column naming each model.
        order: the two values of ``by``, the group the sentence is about first (default:
            True before False, otherwise sorted; small before large).
        names: words for the values, e.g. ``{1.0: "full-data", 0.1: "10%-data"}``.
        params, threshold: the size split for ``by="size"`` (``"median"`` or a count such
            as ``24.6e6``).
        performance, baseline: the accuracy and its majority-class level per run, for the
            chance check (None, or a column the table lacks, skips it).
        resource: the resource of the Pareto sentence (None, or absent, skips it).
        alpha: the significance level, in (0, 1).

    Returns:
        A :class:`Conclusion`; ``print(conclusion)`` shows its text.

    Raises:
        ValueError: missing columns, non-finite scores, ``by`` without two groups, a bad
            ``threshold`` or ``alpha``.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({
    ...     "model": ["s1", "s2", "s3", "l1", "l2", "l3"] * 2,
    ...     "num_params": [1e6, 2e6, 3e6, 30e6, 40e6, 50e6] * 2,
    ...     "pepr_e": [0.80, 0.82, 0.79, 0.50, 0.55, 0.45, 0.81, 0.80, 0.78, 0.52, 0.53, 0.47]})
    >>> c = compare_groups(runs, by="size", score="pepr_e")
    >>> c.verdict, c.comparison.n, round(c.comparison.min_p_value, 3)
    ('no difference detectable', (3, 3), 0.1)
    >>> "smallest possible p is 0.1" in c.text
    True
    """
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha={show(alpha)} must be a number in (0, 1); pass e.g. "
                         "alpha=0.05.")
    require_columns(table, [score], arg="score")
    labels, (first, second), words = _labels(table, by, params, threshold, order, names)
    (a_name, a_note), (b_name, _) = words[first], words[second]
    keep = np.array([v == first or v == second for v in labels.tolist()], dtype=bool)
    rows = table[keep]
    labels = labels[keep]
    caveats: list[str] = []

    learned = None
    if (performance and baseline and performance in rows.columns
            and baseline in rows.columns):
        perf = column_values(rows, performance)
        level = column_values(rows, baseline)
        learned = perf > level + 1e-12
        levels = np.unique(level[np.isfinite(level)])
        shown = f" ({levels[0]:.3f})" if len(levels) == 1 else ""
        if not learned.any():
            text = (f"No run scored above the majority-class baseline{shown} on {performance}: "
                    f"no model did better than always answering the most common class, so no "
                    f"conclusion can be drawn about {a_name} against {b_name} from this "
                    "table. Check the data, the learning rate and the number of epochs, then "
                    "train again.")
            return Conclusion(text, "no conclusion", None, None, (text,))

    res = compare_models(rows, score=score, group=labels, model=model, order=(first, second))
    lo, hi = res.ci
    numbers = (f"median {res.median[0]:.3f} against {res.median[1]:.3f} per model (difference "
               f"{res.difference:+.3f}, {res.level:.0%} CI {lo:+.3f} to {hi:+.3f}; Cliff's "
               f"delta {res.cliffs_delta:+.2f}); n = {res.n[0]} + {res.n[1]} models, "
               f"Mann-Whitney {_fmt_p(res.p_value)}")
    if res.p_value <= alpha and res.cliffs_delta != 0:
        verdict = "higher" if res.cliffs_delta > 0 else "lower"
        text = (f"{a_name[0].upper()}{a_name[1:]}{a_note} scored {verdict} on {score} than "
                f"{b_name}: {numbers}.")
    else:
        verdict = "no difference detectable"
        text = (f"No difference in {score} between {a_name}{a_note} and {b_name} was "
                f"detectable at the {alpha:g} level: {numbers}.")
        if res.min_p_value > alpha:
            caveats.append(
                f"With {res.n[0]} + {res.n[1]} models the smallest possible p is "
                f"{res.min_p_value:.2g}, so no result could have reached {alpha:g}: compare "
                "more models before concluding anything.")
    if max(res.runs) > max(res.n) or sum(res.runs) > sum(res.n):
        caveats.append(
            f"The {sum(res.runs)} runs were averaged per model within each group first: "
            "repeated runs of one model (seeds, settings) are not independent models, so n "
            "counts models.")
    if learned is not None:
        for value, name in ((first, a_name), (second, b_name)):
            mine = np.array([v == value for v in labels.tolist()], dtype=bool)
            if not learned[mine].any():
                caveats.append(
                    f"Caveat: none of the {name} scored above the majority-class baseline on "
                    f"{performance}; their scores are those of a constant guess, so this "
                    f"compares learning with not learning, not {a_name} with {b_name}.")
    on_front = _front(rows, labels, first, model, performance, resource)
    if on_front is not None:
        k, f, n_first, n_all = on_front
        where = f"on the {performance}-{resource} Pareto front"
        caveats.append(
            (f"The only model {where} is {'' if k else 'not '}among the {a_name}"
             if f == 1 else
             f"{k} of the {f} models {where} {'is' if k == 1 else 'are'} among the {a_name}")
            + f" ({n_first} of all {n_all} models are).")
        on_front = (k, f)
    if by == "size" and score.startswith("pepr"):
        held = {"higher": "this agrees with", "lower": "this is the opposite of",
                }.get(verdict, "this table can neither confirm nor refute")
        caveats.append(f"The paper found that small models have the higher PePR; {held} "
                       "that finding.")
    text = " ".join([text, *caveats])
    return Conclusion(text, verdict, res, on_front, tuple(caveats))


def _front(rows: pd.DataFrame, labels: np.ndarray, first: Any, model: str,
           performance: str | None, resource: str | None) -> tuple[int, int, int, int] | None:
    """(models of the first group on the front, models on the front, models of the first
    group, models), over per-model means; None without the columns."""
    if not (performance and resource and performance in rows.columns
            and resource in rows.columns):
        return None
    import pandas as pd

    names = (rows[model].astype(str).to_numpy() if model in rows.columns
             else np.array([f"row {i}" for i in rows.index], dtype=object))
    mine = np.array([v == first for v in labels.tolist()], dtype=bool)
    per = pd.DataFrame({"g": mine, "m": names,
                        "p": column_values(rows, performance),
                        "r": column_values(rows, resource)}).dropna()
    if per.empty:
        return None
    per = per.groupby(["g", "m"], sort=True)[["p", "r"]].mean().reset_index()
    front = np.asarray(pareto_front(per["p"].to_numpy(), per["r"].to_numpy()))
    mine = per["g"].to_numpy(dtype=bool)
    return int((front & mine).sum()), int(front.sum()), int(mine.sum()), len(per)


@dataclass(frozen=True)
class MajorityBaseline:
    """The share of a dataset's commonest class: the accuracy of always answering it.

    Attributes:
        dataset: the MedMNIST flag, e.g. ``"dermamnist"``.
        fraction: ``count / total``.
        count, total: images of the commonest class, and images counted.
        counted: which images and which class, e.g. ``"test split, 'pneumonia'"``.
        source: where the counts are published.
    """

    dataset: str
    fraction: float
    count: int
    total: int
    counted: str
    source: str


def _published(flag: str, count: int, total: int, counted: str, source: str
               ) -> MajorityBaseline:
    return MajorityBaseline(flag, count / total, count, total, counted, source)


#: The majority-class baseline of the MedMNIST sets the lessons and the paper use, from
#: published class counts (not from any model's output).
PUBLISHED_MAJORITY: dict[str, MajorityBaseline] = {
    "breastmnist": _published(
        "breastmnist", 114, 156, "test split, class 'normal, benign'",
        "counted in MedMNIST v2's breastmnist.npz (Yang et al. 2023, Scientific Data "
        "10:41); its source, BUSI (Al-Dhabyani et al. 2020, Data in Brief 28:104863), has "
        "570 of its 780 images normal or benign"),
    "pneumoniamnist": _published(
        "pneumoniamnist", 390, 624, "test split, class 'pneumonia'",
        "Kermany et al. 2018 (Cell 172:1122): their test set of 624 chest X-rays (234 "
        "normal, 390 pneumonia) is PneumoniaMNIST's test split (MedMNIST v2, Yang et al. "
        "2023)"),
    "dermamnist": _published(
        "dermamnist", 6705, 10015, "all images, class 'melanocytic nevi'",
        "HAM10000 (Tschandl et al. 2018, Scientific Data 5:180161): 6,705 of its 10,015 "
        "images are melanocytic nevi; DermaMNIST (MedMNIST v2) splits the set 7:1:2, so "
        "its test split holds about the same share"),
}
#: The paper's experiments (``dataset`` column of its table) by the MedMNIST set they use;
#: its LIDC-IDRI experiments are not MedMNIST and have no published baseline here.
_EXPERIMENT_SETS = {"derma": "dermamnist", "pneumonia": "pneumoniamnist",
                    "breast": "breastmnist"}


def majority_baseline(dataset: str) -> MajorityBaseline | None:
    """The published majority-class baseline of a MedMNIST flag or a paper experiment.

    The paper's experiment names map to their set (``derma_pt``, ``derma_small`` ->
    DermaMNIST; ``pneumonia_small`` -> PneumoniaMNIST); its LIDC-IDRI experiments
    (``lidc``, ``lidc_small``) give None: their class counts are not published with the
    table.

    Args:
        dataset: a flag of :data:`PUBLISHED_MAJORITY` or one of the paper's experiments.

    Returns:
        A :class:`MajorityBaseline`, or None for the LIDC-IDRI experiments.

    Raises:
        ValueError: a name that is neither.

    >>> round(majority_baseline("derma_pt").fraction, 3), majority_baseline("lidc") is None
    (0.67, True)
    >>> majority_baseline("pneumoniamnist").count
    390
    """
    name = str(dataset).strip().lower()
    if name in PUBLISHED_MAJORITY:
        return PUBLISHED_MAJORITY[name]
    stem = name.split("_")[0]
    if stem in _EXPERIMENT_SETS:
        return PUBLISHED_MAJORITY[_EXPERIMENT_SETS[stem]]
    if stem == "lidc":
        return None
    raise ValueError(
        f"dataset={show(dataset)} has no published majority baseline here; pass a MedMNIST "
        f"flag ({', '.join(PUBLISHED_MAJORITY)}) or one of the paper's experiments (e.g. "
        "'derma_pt', 'pneumonia_small'), or compute it from the labels with "
        "peprkit.metric.majority_accuracy(train_labels, test_labels).")
