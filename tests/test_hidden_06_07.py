"""Hidden tests and grading hooks of lessons 06 (the paper's results) and 07 (capstone).

The solutions' answer cells (taken from the masters) pass every hidden test on many
grading seeds; blank cells, hard-coded values and the usual slips fail; the grading
context is rebuilt from what the grader can trust (the published table, the run's
``results.csv``), never from the notebook's variables.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peprkit import paper
from peprkit.checks import CheckFailed
from peprkit.checks import lesson06 as checks06
from peprkit.checks import lesson07 as checks07
from peprkit.course.hidden import answer_cells, lesson06, lesson07

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
QUESTIONS = [(lesson06, q) for q in ("q1", "q2", "q3")] + [
    (lesson07, q) for q in ("q1", "q2", "q3", "q4")]
IDS = [f"{m.__name__[-2:]}-{q}" for m, q in QUESTIONS]
STEMS = {lesson06: "06_paper_results", lesson07: "07_capstone"}


def _code(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _imports(cells: list[str]) -> list[str]:
    return [c for c in cells if c.lstrip().startswith(("import ", "from "))]


def solution(module) -> list[str]:
    """The master's import and answer cells (the cells holding ``# SOLUTION`` lines)."""
    cells = _code(NOTEBOOKS / "source" / f"{STEMS[module]}.ipynb")
    return _imports(cells) + [c for c in cells if "# SOLUTION" in c]


def student(module) -> list[str]:
    """The student notebook's code cells (answers blanked to ``...``)."""
    return _code(NOTEBOOKS / f"{STEMS[module]}.ipynb")


def as_graded(runner):
    """``runner`` with inputs and outputs sent as the grader sends them to its sandboxed
    worker and back (plain data: DataFrames as CSV text)."""
    from peprkit.course._codec import decode, dumps

    def rerun(outputs, **inputs):
        sent = {k: decode(v) for k, v in json.loads(dumps(inputs)).items()}
        return {k: decode(v) for k, v in json.loads(dumps(runner(outputs, **sent))).items()}

    return rerun


def hidden(module, question: str, cells: list[str], seed: int = 0) -> None:
    getattr(module, f"hidden_{question}")(as_graded(answer_cells(cells)),
                                          rng=np.random.default_rng(seed))


def fails(module, question: str, *cells: str, seeds=range(3)) -> bool:
    """Whether ``cells`` (after the master's imports) fail the hidden test on every seed."""
    imports = _imports(_code(NOTEBOOKS / "source" / f"{STEMS[module]}.ipynb"))
    for seed in seeds:
        try:
            hidden(module, question, [*imports, *cells], seed)
        except CheckFailed:
            continue
        return False
    return True


# --- the solutions pass on every draw; blanks fail ---------------------------------------
@pytest.mark.parametrize(("module", "question"), QUESTIONS, ids=IDS)
def test_solution_passes_on_many_seeds(module, question, drawn_seeds):
    cells = solution(module)
    for seed in drawn_seeds:
        hidden(module, question, cells, seed)


@pytest.mark.parametrize(("module", "question"), QUESTIONS, ids=IDS)
def test_blank_notebook_fails(module, question):
    with pytest.raises(CheckFailed):
        hidden(module, question, student(module))


# --- lesson 06 ---------------------------------------------------------------------------
def _public_06():
    """What the master computes in quick mode (the offline stand-in)."""
    raw = paper.make_example_results()
    return raw, paper.paper_pepr(raw)


def test_06_hard_coded_answers_fail():
    raw, scored = _public_06()
    rows = scored[scored["dataset"] == "derma_pt"]
    assert fails(lesson06, "q1", f"pepr_e_by_hand = {rows['pepr_e'].round(8).tolist()!r}")
    n_pepr, n_acc = checks06.small_wins(scored, "pepr_e"), checks06.small_wins(scored, "test_acc")
    assert fails(lesson06, "q2", f"n_small_better_pepr = {n_pepr}\nn_small_better_acc = {n_acc}")
    fig4b = paper.imagenet_pepr(raw, paper.make_example_imagenet(raw))
    n = int((~fig4b["rules_agree"]).sum())
    for finding in (True, False):
        assert fails(lesson06, "q3", f"n_rules_disagree = {n}\nsmall_still_better = {finding}")


def test_06_slips_fail():
    per_table = ('rows = raw[raw["dataset"] == EXPERIMENT]\n'
                 'e = raw["energy"]\n'
                 'r = (rows["energy"] - e.min()) / (e.max() - e.min())\n'
                 'pepr_e_by_hand = rows["test_09"] / (1 + r)')
    assert fails(lesson06, "q1", per_table)
    raw_energy = ('rows = raw[raw["dataset"] == EXPERIMENT]\n'
                  'pepr_e_by_hand = rows["test_09"] / (1 + rows["energy"])')
    assert fails(lesson06, "q1", raw_energy)
    swapped = ('n_small_better_acc = int((by_pepr.median_small > by_pepr.median_large).sum())\n'
               'n_small_better_pepr = int((by_acc.median_small > by_acc.median_large).sum())')
    assert fails(lesson06, "q2", swapped)
    unmatched = ('n_rules_disagree = int((~fig4b_authors["matched"]).sum())\n'
                 's = peprkit.compare_sizes(fig4b.dropna(subset=["pepr_m"]), score="pepr_m", '
                 'params="num_params", threshold=24.6e6)\n'
                 'small_still_better = bool(s.median_small > s.median_large)')
    assert fails(lesson06, "q3", unmatched)
    one_rule = ('n_rules_disagree = int((~fig4b["rules_agree"]).sum())\n'
                's = peprkit.compare_sizes(fig4b.dropna(subset=["pepr_m"]), score="pepr_m", '
                'params="num_params", threshold=24.6e6)\n'
                'small_still_better = bool(s.median_small > s.median_large)')
    assert fails(lesson06, "q3", one_rule)


def test_06_grading_parameters_draw_an_experiment():
    drawn = {lesson06.grading_parameters(np.random.default_rng(s))["EXPERIMENT"]
             for s in range(30)}
    assert drawn == set(lesson06.GRADING_EXPERIMENTS)
    assert drawn <= set(paper.make_example_results()["dataset"])


def _scored_artifact(folder: Path, raw: pd.DataFrame) -> None:
    (folder / "runs" / "06_paper_results").mkdir(parents=True)
    paper.paper_pepr(raw).to_csv(folder / lesson06.SCORED_CSV, index=False)


def test_06_context_rebuilds_the_stand_in_the_run_used(tmp_path, monkeypatch):
    published = paper.make_example_results(seed=7).assign(synthetic=False)
    monkeypatch.setattr(paper, "load_results", lambda *a, **k: published)
    raw = paper.make_example_results()
    _scored_artifact(tmp_path, raw)
    ctx = lesson06.grading_context({"EXPERIMENT": "pneumonia"}, tmp_path)
    assert ctx["EXPERIMENT"] == "pneumonia"
    pd.testing.assert_frame_equal(ctx["raw"], raw)  # the stand-in, though the grader has more
    pd.testing.assert_frame_equal(ctx["scored"], paper.paper_pepr(raw))
    assert set(paper.imagenet_pepr(ctx["raw"], ctx["imagenet"])["model"]) == set(raw["model"])
    assert bool(ctx["imagenet"]["synthetic"].all())


def test_06_context_uses_the_published_table(tmp_path, monkeypatch):
    published = paper.make_example_results(seed=7).assign(synthetic=False)
    monkeypatch.setattr(paper, "load_results", lambda *a, **k: published)
    _scored_artifact(tmp_path, published)
    ctx = lesson06.grading_context({"EXPERIMENT": "derma", "MODELS": ["resnet18", "resnet50"]},
                                   tmp_path)
    assert set(ctx["raw"]["model"]) == {"resnet18", "resnet50"}
    assert not ctx["raw"]["synthetic"].any()
    # the notebook's own tables are never read: a tampered artifact changes nothing
    (tmp_path / lesson06.SCORED_CSV).write_text("model,synthetic\nx,False\n")
    again = lesson06.grading_context({"EXPERIMENT": "derma"}, tmp_path)
    pd.testing.assert_frame_equal(again["raw"], published)


def test_06_context_refuses_a_published_run_it_cannot_rebuild(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise paper.ResultsUnavailable("not here")

    monkeypatch.setattr(paper, "load_results", missing)
    _scored_artifact(tmp_path, paper.make_example_results().assign(synthetic=False))
    with pytest.raises(CheckFailed, match="cannot find"):
        lesson06.grading_context({"EXPERIMENT": "derma"}, tmp_path)
    # no artifact at all (the run stopped early): the stand-in, as the sandbox would load
    ctx = lesson06.grading_context({"EXPERIMENT": "derma"}, tmp_path / "empty")
    assert bool(ctx["raw"]["synthetic"].all())


def test_06_public_tests_use_the_context():
    """With the grader's table, an answer computed for another experiment fails q1."""
    ctx = lesson06.grading_context({"EXPERIMENT": "derma"}, None)
    rows = ctx["scored"][ctx["scored"]["dataset"] == "derma_pt"]
    with pytest.raises(CheckFailed):
        checks06.q1(rows["pepr_e"].to_numpy(), results=ctx["raw"],
                    experiment=ctx["EXPERIMENT"])


# --- lesson 07 ---------------------------------------------------------------------------
def _run_folder(tmp_path: Path, results: pd.DataFrame) -> Path:
    out = tmp_path / "runs" / "07_capstone"
    out.mkdir(parents=True)
    results.to_csv(out / "results.csv", index=False)
    return tmp_path


def _lesson_results(seed: int = 0) -> pd.DataFrame:
    """A results.csv of the quick sweep: the lesson's three models, plus runs the lesson
    drops (another epoch count, a model it does not ask for)."""
    drawn = lesson07._draw_results(np.random.default_rng(seed))
    models = lesson07.QUICK_PARAMETERS["MODELS"]
    rows = drawn.head(3).assign(model=models)
    extra = pd.concat([rows.head(1).assign(epochs=5, energy_kwh=1.0),
                       rows.head(1).assign(model="resnet50", energy_kwh=2.0)])
    return pd.concat([rows, extra], ignore_index=True)


def test_07_context_from_results_csv(tmp_path):
    results = _lesson_results()
    folder = _run_folder(tmp_path, results)
    params = lesson07.grading_parameters(np.random.default_rng(3))
    ctx = lesson07.grading_context(params, folder)
    kept = ctx["results"]
    assert sorted(kept["model"]) == sorted(lesson07.QUICK_PARAMETERS["MODELS"])
    assert (kept["epochs"] == 1).all()
    ref = float(results.loc[(results["model"] == "lcnet_050") & (results["epochs"] == 1),
                            "energy_kwh"].iloc[0])
    assert ctx["REFERENCE_KWH"] == pytest.approx(ref)
    assert ctx["ENERGY_BUDGET_KWH"] == pytest.approx(params["BUDGET_FACTOR"] * ref)
    from peprkit.meter import lookup_country

    assert ctx["INTENSITY"] == lookup_country(params["COUNTRY"]).intensity_g_per_kwh
    assert ctx["MEMORY_BUDGET_GB"] == params["MEMORY_BUDGET_GB"]
    assert set(lesson07.CONTEXT) == set(ctx)


def test_07_context_missing_or_unusable_artifacts(tmp_path):
    with pytest.raises(CheckFailed, match="missing"):
        lesson07.grading_context({}, tmp_path)
    no_reference = _lesson_results()
    no_reference = no_reference[no_reference["model"] != "lcnet_050"]
    with pytest.raises(CheckFailed, match="reference model"):
        lesson07.grading_context({}, _run_folder(tmp_path / "a", no_reference))
    with pytest.raises(CheckFailed, match="lacks"):
        lesson07.grading_context({}, _run_folder(tmp_path / "b", _lesson_results().drop(
            columns=["energy_kwh"])))


def test_07_tampered_table_fails_the_public_tests(tmp_path):
    """The public tests take the sweep from the context: a table emptied or edited in
    the notebook no longer passes."""
    ctx = lesson07.grading_context({}, _run_folder(tmp_path, _lesson_results()))
    table = checks07.decision_table(ctx["results"])
    energy = table["energy_kwh"]
    table = table.assign(co2_clinic_g=energy * ctx["INTENSITY"],
                         pepr_e=table["val_acc"] / (1 + energy / ctx["ENERGY_BUDGET_KWH"]))
    kwargs = {"budget_kwh": ctx["ENERGY_BUDGET_KWH"], "intensity_g_per_kwh": ctx["INTENSITY"]}
    checks07.q1(table, results=ctx["results"], **kwargs)
    for tampered in (table.head(1), table.assign(energy_kwh=energy / 10)):
        tampered = tampered.assign(
            co2_clinic_g=tampered["energy_kwh"] * ctx["INTENSITY"],
            pepr_e=tampered["val_acc"] / (1 + tampered["energy_kwh"] / ctx["ENERGY_BUDGET_KWH"]))
        checks07.q1(tampered, **kwargs)  # consistent with itself...
        with pytest.raises(CheckFailed):  # ...but not with the sweep
            checks07.q1(tampered, results=ctx["results"], **kwargs)


def test_07_hard_coded_answers_fail():
    models = lesson07.QUICK_PARAMETERS["MODELS"]
    assert fails(lesson07, "q1", (
        f"table = pd.DataFrame({{'model': {models!r}, 'num_params': [5e5, 6e5, 1.5e6], "
        "'val_acc': [0.3, 0.73, 0.74], "
        "'test_acc': [0.27, 0.73, 0.73], 'majority_acc': 0.73, 'test_balanced_acc': 0.5, "
        "'test_auc': 0.5, 'energy_kwh': [5e-6, 4e-6, 9e-6], 'memory_gb': 0.07, "
        "'co2_clinic_g': [4e-4, 3e-4, 8e-4], 'pepr_e': [0.15, 0.43, 0.29]})"))
    assert fails(lesson07, "q2", f"fits = {models!r}")
    assert fails(lesson07, "q2", "fits = []")
    for model in (*models, *lesson07._CANDIDATES):
        assert fails(lesson07, "q3", f"choice = {model!r}", seeds=range(2))
    assert fails(lesson07, "q3", "choice = None")
    assert fails(lesson07, "q4", "yearly_co2_kg = 0.0041")


def test_07_slips_fail():
    minmax = ('e = table["energy_kwh"]\n'
              'co2_clinic_g = e * INTENSITY\n'
              'pepr_e = table["val_acc"] / (1 + (e - e.min()) / (e.max() - e.min()))\n'
              'table = table.assign(co2_clinic_g=co2_clinic_g, pepr_e=pepr_e)')
    assert fails(lesson07, "q1", minmax)
    default_grid = ('co2_clinic_g = table["energy_kwh"] * 475\n'
                    'pepr_e = table["val_acc"] / (1 + table["energy_kwh"] / ENERGY_BUDGET_KWH)\n'
                    'table = table.assign(co2_clinic_g=co2_clinic_g, pepr_e=pepr_e)')
    assert fails(lesson07, "q1", default_grid)
    on_test = ('co2_clinic_g = table["energy_kwh"] * INTENSITY\n'
               'pepr_e = table["test_acc"] / (1 + table["energy_kwh"] / ENERGY_BUDGET_KWH)\n'
               'table = table.assign(co2_clinic_g=co2_clinic_g, pepr_e=pepr_e)')
    assert fails(lesson07, "q1", on_test)
    strict = ('fits = list(table.loc[(table.energy_kwh < ENERGY_BUDGET_KWH) & '
              '(table.memory_gb < MEMORY_BUDGET_GB), "model"])')
    assert fails(lesson07, "q2", strict)
    energy_only = 'fits = list(table.loc[table.energy_kwh <= ENERGY_BUDGET_KWH, "model"])'
    assert fails(lesson07, "q2", energy_only)
    most_accurate = 'choice = table.loc[table["test_acc"].idxmax(), "model"]'
    assert fails(lesson07, "q3", most_accurate)
    feasible = ('ok = view[view.energy_kwh.le(ENERGY_BUDGET_KWH) & '
                'view.memory_gb.le(MEMORY_BUDGET_GB)]\n')
    learned = 'ok = ok[ok.test_acc - ok.majority_acc > 0.01]\n'
    pick = 'choice = ok.loc[ok.{p}.div(1 + ok.energy_vs_budget).idxmax(), "model"]{none}'
    none = ' if len(ok) else None'
    assert fails(lesson07, "q3", feasible + learned + pick.format(p="test_acc", none=none))
    assert fails(lesson07, "q3", feasible + pick.format(p="val_acc", none=none))
    assert fails(lesson07, "q3", feasible + learned + pick.format(p="val_acc", none=""))
    grams = 'yearly_co2_kg = 12 * table.set_index("model").loc[choice, "energy_kwh"] * INTENSITY'
    assert fails(lesson07, "q4", grams)
    once = ('yearly_co2_kg = table.set_index("model").loc[choice, "energy_kwh"] * INTENSITY '
            '/ 1000')
    assert fails(lesson07, "q4", once)


def test_07_q3_draws_split_chance_and_nobody_clinics():
    """The hidden test of exercise 3 holds a clinic where choosing on test accuracy picks a
    model off the validation front, one where the best on validation is at chance, and one
    where models fit but none learned (the answer is None)."""
    for case in ("split", "chance", "nobody"):
        rng = np.random.default_rng(5)
        assert any(lesson07._q3_case(lesson07._draw_clinic(rng, nobody=case == "nobody"), case)
                   for _ in range(2000)), case


def test_07_other_right_answers_pass():
    """Other correct ways of writing the answers pass too (also on the grader's transport)."""
    imports = _imports(_code(NOTEBOOKS / "source" / "07_capstone.ipynb"))
    grid = ('yearly_co2_kg = (12 * float(table.loc[table.model == choice, "energy_kwh"].iloc[0])'
            ' * GRID.intensity_g_per_kwh / 1000) if choice is not None else 0.0')
    query = 'fits = table.query("energy_kwh <= @ENERGY_BUDGET_KWH and memory_gb <= @MEMORY_BUDGET_GB").model.tolist()'  # noqa: E501
    normalized = ('table["co2_clinic_g"] = table["energy_kwh"] * INTENSITY\n'
                  'table["pepr_e"] = peprkit.pepr(table["val_acc"], peprkit.normalize('
                  'table["energy_kwh"], reference=ENERGY_BUDGET_KWH))\n'
                  'table = table')
    for question, cell in (("q4", grid), ("q2", query), ("q1", normalized)):
        for seed in range(3):
            hidden(lesson07, question, [*imports, cell], seed)


@pytest.mark.parametrize("quick", [True, False])
def test_lesson07_injected_settings_are_the_masters_own(quick, monkeypatch):
    """What the grader injects for lesson 07 is what the master's parameters cell sets in
    that mode, so a graded run is the lesson's run (quick by default, --full otherwise)."""
    from peprkit.course import authoring

    nb = json.loads(authoring.find_master("07").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    monkeypatch.setenv("PEPRKIT_QUICK", "1" if quick else "0")
    ns: dict = {}
    exec("".join(cell["source"]), ns)  # noqa: S102  (the master's own parameters cell)
    injected = lesson07.grading_parameters(np.random.default_rng(0), quick=quick)
    for name in ("DATASET", "EPOCHS", "MODELS", "DATA_FRACTION", "REFERENCE_MODEL"):
        assert list(np.atleast_1d(injected[name])) == list(np.atleast_1d(ns[name])), name
