"""Hidden tests and grading hooks of lesson 06 (the paper's own results).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson06`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._common import CheckFailed, same, values
from peprkit.checks.lesson06 import BY_HAND
from peprkit.course.hidden import _inputs
from peprkit.paper import (
    EXPERIMENTS,
    PAPER_MEDIAN_PARAMS,
    compare_by_experiment,
    make_example_results,
    paper_pepr,
)

#: The master these hooks belong to.
GRADED_LESSON = "06_paper_results"
#: Names the grader rebuilds itself (:func:`grading_context`) instead of reading them
#: from the notebook.
CONTEXT = ("raw", "imagenet", "scored", "EXPERIMENT")
#: Experiments the grader draws ``EXPERIMENT`` from: those of the offline stand-in, which
#: the published table has too.
GRADING_EXPERIMENTS = ("derma_pt", "derma", "derma_small", "pneumonia")
#: Where the lesson saves the scored table (its ``synthetic`` column says which table the
#: graded run loaded).
SCORED_CSV = "runs/06_paper_results/paper_scored.csv"


def grading_parameters(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: the experiment of
    exercise 1, drawn, so that values copied from another run of the notebook do not fit.

    >>> grading_parameters(np.random.default_rng(0))["EXPERIMENT"] in GRADING_EXPERIMENTS
    True
    """
    return {"EXPERIMENT": str(rng.choice(GRADING_EXPERIMENTS))}


def _run_was_synthetic(folder: Any) -> bool | None:
    """Whether the graded run loaded the stand-in (from the table it saved), None when
    the run saved none. The answer only picks which of two trusted tables to rebuild."""
    if folder is None:
        return None
    try:
        saved = _inputs.read_artifact(folder, SCORED_CSV)
    except CheckFailed:
        return None
    if "synthetic" not in saved.columns or saved.empty:
        return None
    return bool(saved["synthetic"].astype(str).str.lower().eq("true").any())


def grading_context(parameters: dict[str, Any], folder: Any = None) -> dict[str, Any]:
    """The tests' context, rebuilt as the lesson loads it in quick mode (offline, the
    grader's ``EXPERIMENT``); the notebook's ``raw``/``imagenet``/``scored`` are never
    trusted. The published table is used when the grader finds it offline and the run
    did not fall back to the synthetic stand-in (the sandbox may see fewer places than
    the grader: no user cache, no repository ``data/``), else the stand-in.

    Raises:
        CheckFailed: the run used the published table and the grader cannot find it.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "runs/06_paper_results").mkdir(parents=True)
    >>> make_example_results().assign(synthetic=True).to_csv(folder / SCORED_CSV)
    >>> ctx = grading_context({"EXPERIMENT": "derma"}, folder)
    >>> ctx["EXPERIMENT"], bool(ctx["raw"]["synthetic"].all()), len(ctx["imagenet"]) > 0
    ('derma', True, True)
    """
    from peprkit import paper

    synthetic = _run_was_synthetic(folder)
    raw = None
    if synthetic is not True:
        try:
            raw = paper.load_results(None, download=False)
        except paper.ResultsUnavailable:
            if synthetic is False:
                raise CheckFailed("the grader cannot find the published all_results.csv "
                                  "that the run used (set PEPRKIT_DATA_DIR for grading)."
                                  ) from None
    if raw is None:
        raw = make_example_results()
    models = parameters.get("MODELS")
    if models:
        raw = raw[raw["model"].isin(models)]
    imagenet = None
    if not bool(raw["synthetic"].any()):
        try:
            imagenet = paper.load_imagenet(None, download=False)
        except paper.ResultsUnavailable:
            imagenet = None
    if imagenet is None:
        imagenet = paper.make_example_imagenet(raw)
    return {"raw": raw, "imagenet": imagenet, "scored": paper_pepr(raw),
            "EXPERIMENT": str(parameters.get("EXPERIMENT", "derma_pt"))}



def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _draw_raw(rng: np.random.Generator, n_models: tuple[int, int] = (4, 25),
              experiments: tuple[int, int] = (2, 6)) -> pd.DataFrame:
    """A table shaped like the published one: random models, experiments (random order),
    energy scale and row order."""
    n_exp = int(rng.integers(*experiments))
    exps = tuple(str(e) for e in rng.choice(EXPERIMENTS, size=n_exp, replace=False))
    raw = make_example_results(int(rng.integers(*n_models)), experiments=exps, seed=_seed(rng))
    raw["energy"] = raw["energy"] * 10.0 ** rng.uniform(-1.5, 1.5)
    raw["co2"] = raw["energy"] * rng.uniform(20.0, 700.0)
    return raw.sample(frac=1.0, random_state=_seed(rng)).reset_index(drop=True)


def _whole(value: Any) -> int | None:
    try:
        if isinstance(value, (bool, np.bool_, str)) or not float(value).is_integer():
            return None
    except (TypeError, ValueError):
        return None
    return int(value)


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again on other tables shaped like the
    published one (other models, experiments, energy scales, row orders); the kit's own
    PePR functions are refused (the exercise says plain pandas/numpy).

    >>> from peprkit.course.hidden import answer_cells
    >>> cell = '''rows = raw[raw["dataset"] == EXPERIMENT]
    ... r = (rows["energy"] - rows["energy"].min()) / (rows["energy"].max() - rows["energy"].min())
    ... pepr_e_by_hand = rows["test_09"] / (1 + r)'''
    >>> hidden_q1(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("06", "q1", rng)
    rerun = _inputs.by_hand(rerun, BY_HAND)  # plain pandas/numpy, not peprkit
    for _ in range(3):
        raw = _draw_raw(rng)
        experiment = str(rng.choice(raw["dataset"].unique()))
        got = rerun(["pepr_e_by_hand"], raw=raw.copy(), EXPERIMENT=experiment)["pepr_e_by_hand"]
        rows = raw[raw["dataset"] == experiment]
        expected = paper_pepr(raw).loc[rows.index, "pepr_e"]
        try:
            ok = same(values(got, "pepr_e_by_hand", len(rows)), expected)
        except CheckFailed:
            ok = False
        if not ok:
            raise CheckFailed("pepr_e_by_hand is wrong on another table of results.")


def _draw_contest(rng: np.random.Generator) -> pd.DataFrame:
    """A published-like table whose experiments are won, at random, by the small or the
    large models, on accuracy and (separately) on PePR-E."""
    while True:
        raw = _draw_raw(rng, n_models=(8, 25), experiments=(3, 9))
        small = raw["num_param"].to_numpy() <= PAPER_MEDIAN_PARAMS
        if small.sum() >= 2 * raw["dataset"].nunique() and (~small).sum() >= 2 * raw[
                "dataset"].nunique():
            break
    scale = 10.0 ** rng.uniform(-4, -1)
    for exp in raw["dataset"].unique():
        rows = (raw["dataset"] == exp).to_numpy()
        n = int(rows.sum())
        acc = rng.uniform(0.6, 0.85, n)
        acc[small[rows] == bool(rng.integers(0, 2))] += 0.05
        cheap = small[rows] == bool(rng.integers(0, 2))
        energy = np.where(cheap, rng.uniform(1.0, 2.0, n), rng.uniform(8.0, 10.0, n)) * scale
        raw.loc[rows, "test_09"] = acc
        raw.loc[rows, "energy"] = energy
        raw.loc[rows, "co2"] = energy * 78.0
    return raw


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on tables where small models
    win a random share of the experiments.

    >>> from peprkit.course.hidden import answer_cells
    >>> cells = ['n_small_better_pepr = int((by_pepr.median_small > by_pepr.median_large).sum())',
    ...          'n_small_better_acc = int((by_acc.median_small > by_acc.median_large).sum())']
    >>> hidden_q2(answer_cells(cells), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("06", "q2", rng)
    cases, seen = [], set()
    for attempt in range(40):
        raw = _draw_contest(rng)
        scored = paper_pepr(raw)
        by = {score: compare_by_experiment(scored, score=score)
              for score in ("pepr_e", "test_acc")}
        expected = tuple(int((t["median_small"] > t["median_large"]).sum()) for t in by.values())
        if len(cases) == 3 and attempt < 39 and (
                {e[0] for e in seen} == {expected[0]} or {e[1] for e in seen} == {expected[1]}):
            continue  # every count must vary between the cases
        cases.append((raw, scored, by, expected))
        seen.add(expected)
        if len(cases) == 4:
            break
    for raw, scored, by, expected in cases:
        out = rerun(["n_small_better_pepr", "n_small_better_acc"], raw=raw, scored=scored,
                    by_acc=by["test_acc"], by_pepr=by["pepr_e"])
        got = (_whole(out["n_small_better_pepr"]), _whole(out["n_small_better_acc"]))
        if got != expected:
            raise CheckFailed("The counts are wrong on another table of results.")


def _draw_audit(rng: np.random.Generator) -> tuple[dict[str, pd.DataFrame], int,
                                                   tuple[bool, bool]] | None:
    """A published-like table with random memory in ``derma_pt``, its ImageNet table (some
    small models without a row, as in timm's file) and both matchings: the answer cell's
    inputs, the expected count and the finding under each rule (None when a median ties)."""
    from peprkit.metric import compare_sizes
    from peprkit.paper import imagenet_pepr, make_example_imagenet

    n_exp = int(rng.integers(0, 3))
    others = [e for e in EXPERIMENTS if e != "derma_pt"]
    exps = ("derma_pt", *(str(e) for e in rng.choice(others, size=n_exp, replace=False)))
    raw = make_example_results(int(rng.integers(8, 25)), experiments=exps, seed=_seed(rng))
    rows = raw["dataset"] == "derma_pt"
    small = raw.loc[rows, "num_param"].to_numpy() <= PAPER_MEDIAN_PARAMS
    memory = rng.uniform(0.5, 16.0, int(rows.sum()))
    mode = rng.random()
    if mode < 0.6:  # small models light: the finding tends to hold...
        memory = np.where(small, rng.uniform(0.5, 3.0, len(memory)), memory + 4.0)
    raw.loc[rows, "memR"] = np.round(memory, 4)
    imagenet = make_example_imagenet(raw, seed=_seed(rng))
    n_small = int(small.sum())
    # ...but not under the authors' rule when most small models find no ImageNet row
    n_gone = (int(rng.integers(n_small // 2 + 1, n_small)) if mode < 0.3 and n_small > 2
              else int(rng.integers(0, min(4, n_small))))
    gone = rng.choice(raw.loc[rows, "model"][small], size=n_gone, replace=False)
    imagenet = imagenet[[not any(g in name for g in gone) for name in imagenet["model"]]]
    imagenet = imagenet.reset_index(drop=True)
    tables = [imagenet_pepr(raw, imagenet), imagenet_pepr(raw, imagenet, match="authors")]
    try:
        splits = [compare_sizes(t.dropna(subset=["pepr_m"]), score="pepr_m",
                                params="num_params", threshold=PAPER_MEDIAN_PARAMS)
                  for t in tables]
    except ValueError:  # a group left empty: not a case the exercise covers
        return None
    if any(abs(s.median_small - s.median_large) < 1e-9 for s in splits):
        return None
    inputs = {"raw": raw, "imagenet": imagenet, "fig4b": tables[0], "fig4b_authors": tables[1]}
    findings = (bool(splits[0].median_small > splits[0].median_large),
                bool(splits[1].median_small > splits[1].median_large))
    return inputs, int((~tables[0]["rules_agree"]).sum()), findings


def hidden_q3(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 3: the answer cell run again on other result and ImageNet
    tables (other models, memory use, missing ImageNet rows): the finding holds in some,
    under one rule only in others.

    >>> from peprkit.course.hidden import answer_cells
    >>> cell = '''n_rules_disagree = int((~fig4b["rules_agree"]).sum())
    ... s = [peprkit.compare_sizes(t.dropna(subset=["pepr_m"]), score="pepr_m",
    ...      params="num_params", threshold=24.6e6) for t in (fig4b, fig4b_authors)]
    ... small_still_better = all(x.median_small > x.median_large for x in s)'''
    >>> hidden_q3(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("06", "q3", rng)
    pool: list = []
    for _ in range(80):
        case = _draw_audit(rng)
        if case is not None:
            pool.append(case)
        kinds = {c[2] for c in pool}
        if len(pool) >= 4 and (True, True) in kinds and len(kinds) >= 3:
            break
    cases = []
    for wanted in ((True, True), (True, False), (False, True), (False, False)):
        cases += [c for c in pool if c[2] == wanted][:1]  # the finding under each rule
    cases += [c for c in pool if not any(c is k for k in cases)][:max(0, 4 - len(cases))]
    for inputs, n_expected, findings in cases:
        out = rerun(["n_rules_disagree", "small_still_better"], **inputs)
        answer = out["small_still_better"]
        if (_whole(out["n_rules_disagree"]) != n_expected
                or not isinstance(answer, (bool, np.bool_)) or bool(answer) != all(findings)):
            raise CheckFailed("The audit's answers are wrong on other result tables.")
