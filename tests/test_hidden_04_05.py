"""Hidden tests and grading hooks of lessons 04 and 05 (no notebook is executed).

The hidden tests re-run a notebook's answer cells on inputs drawn at grading time: the
solutions of the masters must pass on every draw, hard-coded values, blanks and the usual
slips must fail. The grading context is rebuilt from the files a run writes (history.csv,
results.csv), never from the notebook's variables.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peprkit.checks import CheckFailed
from peprkit.checks import lesson04 as checks04
from peprkit.checks import lesson05 as checks05
from peprkit.course._autograder import read_master
from peprkit.course._cells import CellRunner
from peprkit.course._codec import decode, dumps
from peprkit.course.hidden import lesson04, lesson05
from peprkit.schema import HISTORY_COLUMNS, SUMMARY_COLUMNS
from peprkit.sweep import append_row

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SLIP_SEEDS = range(10)


def _cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"]


def _solution(stem: str, question: str) -> list[str]:
    """The solution cells of ``question`` in the master ``stem``."""
    cells = json.loads((NOTEBOOKS / "source" / f"{stem}.ipynb").read_text())["cells"]
    out, inside, solving = [], False, False
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "raw" and text.startswith("# BEGIN QUESTION"):
            inside = f"name: {question}\n" in text
        elif cell["cell_type"] == "raw" and text.strip() in ("# BEGIN SOLUTION",
                                                             "# END SOLUTION"):
            solving = inside and text.strip() == "# BEGIN SOLUTION"
        elif solving and cell["cell_type"] == "code":
            out.append(text)
    assert out, f"no solution cell for {stem} {question}"
    return out


class Sandboxed(CellRunner):
    """A ``rerun`` whose inputs and outputs cross as plain data, as with the grader's
    sandboxed worker."""

    def __call__(self, outputs, **inputs):
        inputs = {k: decode(v) for k, v in json.loads(dumps(inputs)).items()}
        got = super().__call__(outputs, **inputs)
        return {k: decode(v) for k, v in json.loads(dumps(got)).items()}


def runner(*sources: str) -> Sandboxed:
    return Sandboxed(list(sources))


L04, L05 = "04_pretraining_and_data", "05_model_zoo"
HIDDEN = {
    (L04, "q1"): lesson04.hidden_q1, (L04, "q2"): lesson04.hidden_q2,
    (L05, "q1"): lesson05.hidden_q1, (L05, "q2"): lesson05.hidden_q2,
    (L05, "q3"): lesson05.hidden_q3,
}


# --- the solutions pass on every draw ---------------------------------------------------
@pytest.mark.parametrize(("stem", "question"), list(HIDDEN), ids=lambda v: str(v))
def test_solution_passes_every_draw(stem, question, drawn_seeds):
    rerun = Sandboxed(_solution(stem, question))
    for seed in drawn_seeds:
        HIDDEN[stem, question](rerun, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("stem", [L04, L05])
def test_solution_found_among_all_cells_of_the_master(stem):
    """The grader's rerun sees every cell of the notebook and must pick the answer cell."""
    rerun = Sandboxed(_cells(NOTEBOOKS / "source" / f"{stem}.ipynb"))
    for (s, _), hidden in HIDDEN.items():
        if s == stem:
            hidden(rerun, rng=np.random.default_rng(7))


@pytest.mark.parametrize(("stem", "question"), list(HIDDEN), ids=lambda v: str(v))
def test_blank_student_answer_fails(stem, question):
    rerun = Sandboxed(_cells(NOTEBOOKS / f"{stem}.ipynb"))
    with pytest.raises(CheckFailed):
        HIDDEN[stem, question](rerun, rng=np.random.default_rng(0))


def _fails_every_draw(hidden, rerun, **context):
    for seed in SLIP_SEEDS:
        with pytest.raises(CheckFailed) as err:
            hidden(rerun, rng=np.random.default_rng(seed), **context)
        assert "0." not in str(err.value)  # never an input or expected value


# --- lesson 04 ---------------------------------------------------------------------------
def _q1(expr_pt: str, expr_scratch: str | None = None) -> Sandboxed:
    expr_scratch = expr_scratch or expr_pt.replace("history_pretrained", "history_scratch")
    return runner(f"energy_pretrained_kwh = {expr_pt}\nenergy_scratch_kwh = {expr_scratch}")


@pytest.mark.parametrize("rerun", [
    _q1("3.2e-06", "float('inf')"),  # numbers copied from a run's output
    _q1("history_pretrained['energy_kwh'].iloc[-1]"),  # the whole run
    runner("def per_epoch(h):\n"
           "    inc = h['energy_kwh'].diff().fillna(h['energy_kwh'])\n"
           "    hit = inc[h['val_acc'] >= TARGET_ACC]\n"
           "    return hit.iloc[0] if len(hit) else float('inf')\n"
           "energy_pretrained_kwh = per_epoch(history_pretrained)\n"
           "energy_scratch_kwh = per_epoch(history_scratch)"),  # one epoch's increment
    _q1("history_pretrained.loc[history_pretrained['val_acc'].idxmax(), 'energy_kwh']"),
    _q1("history_pretrained.loc[history_pretrained['test_acc'] >= TARGET_ACC, 'energy_kwh']"
        ".iloc[0]"),  # test split (and no inf case)
    _q1("history_pretrained.loc[history_pretrained['val_acc'] >= TARGET_ACC, 'energy_kwh']"
        ".iloc[0]"),  # right, but no answer for a run that never reaches the target
    _q1("history_pretrained.loc[history_pretrained['val_acc'] >= TARGET_ACC, 'energy_kwh']"
        ".iloc[-1] if (history_pretrained['val_acc'] >= TARGET_ACC).any() else float('inf')"),
], ids=["hard-coded", "last", "increment", "best-epoch", "test-acc", "no-inf", "last-reach"])
def test_04_q1_slips_fail(rerun):
    _fails_every_draw(lesson04.hidden_q1, rerun)


@pytest.mark.parametrize("source", [
    "p_value = 0.1",
    "from scipy.stats import mannwhitneyu\n"
    "p_value = mannwhitneyu(pretrained_acc, scratch_acc, alternative='greater').pvalue",
    "from scipy.stats import ttest_ind\np_value = ttest_ind(pretrained_acc, scratch_acc).pvalue",
    "from scipy.stats import mannwhitneyu\n"
    "p_value = mannwhitneyu(pretrained_acc, scratch_acc).statistic",
], ids=["hard-coded", "one-sided", "t-test", "statistic"])
def test_04_q2_slips_fail(source):
    _fails_every_draw(lesson04.hidden_q2, runner(source))


def test_04_q2_answer_from_the_results_table_passes(drawn_seeds):
    rerun = runner("from scipy import stats\n"
                   "p_value = stats.mannwhitneyu(results.loc[results['pretrained'], 'test_acc'],"
                   " results.loc[~results['pretrained'], 'test_acc']).pvalue")
    for seed in drawn_seeds:
        lesson04.hidden_q2(rerun, rng=np.random.default_rng(seed))


def _write_history(folder: Path, root: str, name: str, history: pd.DataFrame) -> None:
    run = folder / root / name
    run.mkdir(parents=True)
    history.to_csv(run / "history.csv", index=False)  # as peprkit.train writes it


def _lesson04_run(folder: Path, rng) -> dict:
    root = lesson04.RUN_ROOT
    h_pt = lesson04._history(rng, 4, 0.85, 0.73, 1e-5)
    h_sc = lesson04._history(rng, 4, 0.75, 0.73, 1e-5)
    name = "mobilenetv3_small_050_breastmnist28_{}_f0.2_s0_e4_lr0.0005_b32_adam"
    _write_history(folder, root, "one_pretrained/" + name.format("pt"), h_pt)
    _write_history(folder, root, "one_scratch/" + name.format("scratch"), h_sc)
    old = lesson05._sweep(rng, {"resnet18": [0.1]}, datasets=["breastmnist"]).assign(epochs=1)
    append_row(folder / root / "results.csv", old)  # an earlier experiment, other epochs
    margins = {"lcnet_050": [0.15], "resnet18": [0.2], "regnetx_002": [0.25],
               "resnet34": [-0.05], "resnet50": [0.0], "vgg13": [0.01]}
    table = lesson05._sweep(rng, margins, datasets=["breastmnist"]).assign(epochs=4)
    table["pretrained"] = table["test_acc"] > table["majority_acc"] + 0.1
    for i in range(len(table)):
        append_row(folder / root / "results.csv", table.iloc[[i]])  # as run_sweep does
    return {"h_pt": h_pt, "h_sc": h_sc, "table": table}


def test_04_grading_context_is_rebuilt_from_the_runs_files(tmp_path):
    run = _lesson04_run(tmp_path, np.random.default_rng(3))
    ctx = lesson04.grading_context({"TARGET_SHARE": 0.9}, tmp_path)
    assert set(ctx) == set(lesson04.CONTEXT)
    pd.testing.assert_frame_equal(ctx["history_pretrained"], run["h_pt"], check_dtype=False)
    pd.testing.assert_frame_equal(ctx["history_scratch"], run["h_sc"], check_dtype=False)
    best = max(run["h_pt"]["val_acc"].max(), run["h_sc"]["val_acc"].max())
    assert ctx["TARGET_ACC"] == round(0.9 * best, 3)
    t = run["table"]
    np.testing.assert_allclose(ctx["pretrained_acc"], t.loc[t["pretrained"], "test_acc"])
    np.testing.assert_allclose(ctx["scratch_acc"], t.loc[~t["pretrained"], "test_acc"])
    assert lesson04.grading_context({}, tmp_path)["TARGET_ACC"] == round(0.95 * best, 3)


def test_04_public_checks_grade_against_the_files_not_the_notebook(tmp_path):
    from scipy import stats

    _lesson04_run(tmp_path, np.random.default_rng(4))
    ctx = lesson04.grading_context({}, tmp_path)
    h = ctx["history_pretrained"]
    right = checks04.energy_to_reach(h, ctx["TARGET_ACC"])
    checks04.q1(right, history=h, target=ctx["TARGET_ACC"])
    emptied = h.iloc[:0]  # a notebook that emptied its history before the check
    with pytest.raises(CheckFailed):
        checks04.q1(checks04.energy_to_reach(emptied, ctx["TARGET_ACC"]), history=h,
                    target=ctx["TARGET_ACC"])
    first, second = ctx["pretrained_acc"], ctx["scratch_acc"]
    assert len(first) == len(second) == 3
    checks04.q2(stats.mannwhitneyu(first, second).pvalue, first=first, second=second)
    with pytest.raises(CheckFailed):  # computed after replacing a group
        checks04.q2(stats.mannwhitneyu(first, first).pvalue, first=first, second=second)


@pytest.mark.parametrize("missing", ["one_pretrained", "one_scratch", "results.csv"])
def test_04_grading_context_needs_every_file(tmp_path, missing):
    import shutil

    _lesson04_run(tmp_path, np.random.default_rng(5))
    target = tmp_path / lesson04.RUN_ROOT / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(CheckFailed, match="run every cell"):
        lesson04.grading_context({}, tmp_path)


def test_04_grading_context_refuses_an_emptied_or_planted_file(tmp_path):
    _lesson04_run(tmp_path, np.random.default_rng(6))
    results = tmp_path / lesson04.RUN_ROOT / "results.csv"
    results.write_text(",".join(SUMMARY_COLUMNS) + "\n")
    with pytest.raises(CheckFailed, match="empty"):
        lesson04.grading_context({}, tmp_path)
    outside = tmp_path.parent / "elsewhere.csv"
    outside.write_text("model,test_acc\na,1.0\n")
    results.unlink()
    results.symlink_to(outside)
    with pytest.raises(CheckFailed, match="missing"):
        lesson04.grading_context({}, tmp_path)


def test_04_grading_parameters_move_the_target():
    shares = {lesson04.grading_parameters(np.random.default_rng(s))["TARGET_SHARE"]
              for s in range(10)}
    assert len(shares) > 5 and all(0.9 <= s <= 0.98 for s in shares)


def test_04_hidden_histories_look_like_the_runs():
    h = lesson04._history(np.random.default_rng(0), 6, 0.9, 0.7, 1e-5)
    assert list(h.columns) == list(HISTORY_COLUMNS)
    assert (np.diff(h["energy_kwh"]) > 0).all() and h["val_acc"].between(0, 1).all()


# --- lesson 05 ---------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    "pepr_t_by_hand = [0.73, 0.71, 0.70]",
    "pepr_t_by_hand = results['test_acc'] / (1 + results['train_time_s'])",
    "pepr_t_by_hand = results['test_acc'] / (1 + results['train_time_s'] "
    "/ results['train_time_s'].max())",
    "t = results['train_time_s']\n"
    "pepr_t_by_hand = results['test_acc'] / (1 + (t - t.min()) / (t.max() - t.min()))",
    "t = results['train_time_s']\n"
    "lo = results.groupby('dataset')['train_time_s'].transform('min')\n"
    "hi = results.groupby('dataset')['train_time_s'].transform('max')\n"
    "pepr_t_by_hand = results['val_acc'] / (1 + (t - lo) / (hi - lo))",
    "import peprkit\npepr_t_by_hand = peprkit.add_pepr(results, performance='test_acc', "
    "resources={'t': 'train_time_s'}, by='dataset').sort_values('pepr_t')['pepr_t']",
], ids=["hard-coded", "raw-seconds", "by-max", "whole-table", "val-acc", "reordered"])
def test_05_q1_slips_fail(source):
    _fails_every_draw(lesson05.hidden_q1, runner(source))


DEPLOY = ("ok = {table}[{table}['test_acc'] - {table}['majority_acc'] > {margin}]\n"
          "deploy = {{k: ok.loc[ok[f'pepr_{{k}}'].idxmax(), 'model'] for k in 'ecmt'}} "
          "if len(ok) else None")


@pytest.mark.parametrize("source", [
    "deploy = {'e': 'lcnet_050', 'c': 'lcnet_050', 'm': 'lcnet_050', 't': 'lcnet_050'}",
    "deploy = None",
    "best = scored.loc[scored['pepr_e'].idxmax(), 'model']\n"
    "deploy = {k: best for k in 'ecmt'}",
    "deploy = {k: scored.loc[scored['test_acc'].idxmax(), 'model'] for k in 'ecmt'}",
    "deploy = {k: scored.loc[scored[f'pepr_{k}'].idxmin(), 'model'] for k in 'ecmt'}",
    "deploy = {k: sel.loc[sel[f'pepr_{k}'].idxmax(), 'model'] for k in 'ecmt'}",
    DEPLOY.format(table="scored", margin=0.01),
    DEPLOY.format(table="sel", margin=-1),
    "ok = sel[sel['test_acc'] - sel['majority_acc'] > 0.01]\n"
    "deploy = {k: ok.loc[ok[f'pepr_{k}'].idxmax(), 'model'] for k in 'ecmt'}",
], ids=["hard-coded", "hard-coded-none", "energy-for-all", "most-accurate", "worst",
        "no-learned-filter", "chosen-on-test", "filter-never-true", "no-none-when-nothing"])
def test_05_q2_slips_fail(source):
    _fails_every_draw(lesson05.hidden_q2, runner(source))


def test_05_q2_draws_split_chance_and_nobody_tables():
    """Each draw holds a table where the test split picks another model, one where the best
    PePR on validation is a run at chance, and one where no run learned."""
    seen = []
    for case in ("split", "chance", "nobody"):
        rng = np.random.default_rng(3)
        drawn = next(t for t in (lesson05._q2_table(rng, case, False, strict=True)
                                 for _ in range(2000)) if t is not None)
        right = lesson05._winners(drawn)
        ok = checks05.learned(drawn["test_acc"], drawn["majority_acc"])
        if case == "nobody":
            assert right is None and not ok.any()
            continue
        sel, on_test = checks05.selection(drawn), checks05.selection(drawn, "test_acc")[ok]
        if case == "split":
            assert any(not checks05.best_models(on_test, k) & right[k] for k in "ecmt")
        else:
            assert any(not checks05.best_models(sel, k) & right[k] for k in "ecmt")
        seen.append(case)
    assert seen == ["split", "chance"]


LEARNED = ("above = (results['test_acc'] - results['majority_acc']) > {margin}\n"
           "learned = sorted(above.groupby(results['model']).{how}().loc[lambda ok: ok].index)")
TOP_ADJ = "top_adj = adj.loc[adj['pepr_e'].idxmax(), 'model']"


@pytest.mark.parametrize("sources", [
    ("learned = []", "top_adj = 'mobilenetv3_small_050'"),
    (LEARNED.format(margin=0.01, how="all"),
     "top_adj = scored.loc[scored['pepr_e'].idxmax(), 'model']"),
    (LEARNED.format(margin=0.0, how="all"), TOP_ADJ),
    (LEARNED.format(margin=0.01, how="any"), TOP_ADJ),
    (LEARNED.format(margin=0.01, how="all"), "top_adj = adj.loc[adj['test_acc_adj']"
                                             ".idxmax(), 'model']"),
], ids=["hard-coded", "plain-pepr", "above-zero", "any-run", "accuracy-only"])
def test_05_q3_slips_fail(sources):
    _fails_every_draw(lesson05.hidden_q3, runner(*sources))


def _results_csv(folder: Path, rng) -> pd.DataFrame:
    out = folder / lesson05.RESULTS_FILE
    out.parent.mkdir(parents=True)
    old = lesson05._sweep(rng, {"resnet50": [0.2]}, datasets=["breastmnist"])
    append_row(out, old.assign(pretrained=False))  # an earlier experiment
    table = lesson05._sweep(rng, {"lcnet_050": [0.1, 0.12], "resnet18": [0.05, -0.01],
                                  "regnetx_002": [0.02, 0.03]}, datasets=["breastmnist"])
    for i in range(len(table)):
        append_row(out, table.iloc[[i]])  # one row per finished run, as run_sweep does
    return table


def test_05_grading_context_is_rebuilt_from_results_csv(tmp_path):
    table = _results_csv(tmp_path, np.random.default_rng(1))
    ctx = lesson05.grading_context({}, tmp_path)
    assert set(ctx) == set(lesson05.CONTEXT)
    pd.testing.assert_frame_equal(ctx["results"], table, check_dtype=False)
    expected = lesson05.add_pepr(table, performance="test_acc", resources=lesson05.RESOURCES,
                                 by="dataset")
    pd.testing.assert_frame_equal(ctx["scored"], expected, check_dtype=False)


def test_05_public_checks_grade_against_results_csv(tmp_path):
    _results_csv(tmp_path, np.random.default_rng(2))
    ctx = lesson05.grading_context({}, tmp_path)
    results, scored = ctx["results"], ctx["scored"]
    checks05.q1(scored["pepr_t"], results=results)
    emptied = results.iloc[:0]  # a notebook that emptied `results` before the checks
    with pytest.raises(CheckFailed):
        checks05.q1(lesson05.score(emptied)["pepr_t"], results=results)
    with pytest.raises(CheckFailed):
        checks05.q3([], "lcnet_050", results=results)  # learned from the emptied table
    right = lesson05._winners(results)
    deploy = None if right is None else {k: min(v) for k, v in right.items()}
    checks05.q2(deploy, results=results)
    checks05.q2(deploy, scored=scored)


def test_05_grading_context_needs_results_csv(tmp_path):
    with pytest.raises(CheckFailed, match="missing"):
        lesson05.grading_context({}, tmp_path)
    (tmp_path / lesson05.RUN_ROOT).mkdir(parents=True)
    (tmp_path / lesson05.RESULTS_FILE).write_text("model,test_acc\na,0.9\n")
    with pytest.raises(CheckFailed, match="lacks"):
        lesson05.grading_context({}, tmp_path)


def test_05_hidden_answers_differ_from_the_graded_runs():
    """Fed the graded run's table, the hidden tests only draw tables whose answers differ,
    so an answer copied from that run fails."""
    rng = np.random.default_rng(0)
    public = lesson05._sweep(rng, {"lcnet_050": [0.1], "resnet18": [0.0],
                                   "regnetx_002": [0.05]}, datasets=["breastmnist"])
    copied_q3 = runner(f"learned = {sorted(checks05.learned_models(public))!r}",
                       f"top_adj = {next(iter(lesson05._q3_answer(public)[1]))!r}")
    winners = {k: next(iter(v)) for k, v in lesson05._winners(public).items()}
    copied_q2 = runner(f"deploy = {winners!r}")
    for seed in SLIP_SEEDS:
        with pytest.raises(CheckFailed):
            lesson05.hidden_q3(copied_q3, results=public, rng=np.random.default_rng(seed))
        with pytest.raises(CheckFailed):
            lesson05.hidden_q2(copied_q2, results=public, rng=np.random.default_rng(seed))
    rerun = Sandboxed(_solution(L05, "q3"))
    lesson05.hidden_q3(rerun, results=public, rng=np.random.default_rng(1))


def test_05_drawn_tables_follow_the_sweep_schema():
    t = lesson05._sweep(np.random.default_rng(0), {"a": [0.1, 0.0], "b": [0.2, 0.3]},
                        datasets=["breastmnist", "dermamnist"], two_grids=True)
    assert list(t.columns) == list(SUMMARY_COLUMNS) and len(t) == 8
    assert t["test_acc"].between(0, 1).all() and (t["energy_kwh"] > 0).all()


# --- the masters and the grader ------------------------------------------------------------
@pytest.mark.parametrize("stem", [L04, L05])
def test_every_question_of_the_master_is_drawn_here(stem):
    """The draws above cover every auto-graded question (test_course checks the cells)."""
    master = NOTEBOOKS / "source" / f"{stem}.ipynb"
    questions = {q.name for q in read_master(master).questions if not q.manual}
    assert questions == {q for s, q in HIDDEN if s == stem}


def test_context_objects_cross_the_sandbox_as_plain_data():
    h = lesson04._history(np.random.default_rng(1), 3, 0.9, 0.7, 1e-5)
    back = decode(json.loads(dumps({"run": types.SimpleNamespace(history=h)})))["run"]
    pd.testing.assert_frame_equal(back.history, h, check_dtype=False)
