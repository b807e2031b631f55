"""No answer key within reach: a failed self-check leaves none of its values in its
traceback, by-hand exercises refuse the kit's own function (in the notebook's check and in
the hidden test, by source and at run time), and lesson 01's value questions are graded by
running the answer cell again on drawn tables.

What a check computes in the learner's own kernel can always be watched there (a tracer);
that earns nothing, since the hidden reruns run where the checks are absent
(``tests/test_sandbox_limits.py``, ``tests/test_grading_hostile.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import peprkit
from peprkit import checks
from peprkit.checks import ByHand, CheckFailed
from peprkit.checks._byhand import DYNAMIC, kit_calls, refusing
from peprkit.course._cells import CellRunner
from peprkit.course._codec import FunctionSource
from peprkit.course.hidden import answer_cells, lesson01, lesson02, lesson03, lesson05, lesson06
from peprkit.examples import example_results
from peprkit.paper import make_example_imagenet, make_example_results, paper_pepr

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "source"


def _history() -> pd.DataFrame:
    return pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.5, 0.8, 0.82],
                         "test_acc": [0.5, 0.8, 0.9], "energy_kwh": [1.0, 2.0, 3.0]})


def _sweep() -> pd.DataFrame:
    from peprkit.checks.lesson07 import DECISION_COLUMNS

    rows = example_results()
    for column in DECISION_COLUMNS:
        if column not in rows:
            rows[column] = 0.7
    return rows


def _wrong_calls():
    """One wrong answer for every self-check of lessons 00-07."""
    table, raw = example_results(), make_example_results(n_models=8)
    scored = paper_pepr(raw)
    sweep = _sweep()
    clinic = sweep.groupby("model", as_index=False)[["test_acc", "energy_kwh",
                                                     "memory_gb"]].mean()
    budgets = {"energy_budget_kwh": float(clinic["energy_kwh"].median()),
               "memory_budget_gb": 100.0}
    return {
        "00q1": lambda: checks.lesson00.q1(1.0, power_w=10, duration_s=36),
        "00q2": lambda: checks.lesson00.q2("x", reading=SimpleNamespace(sources={"cpu": "y"})),
        "01q1": lambda: checks.lesson01.q1(lambda v: np.asarray(v) / max(v)),
        "01q2": lambda: checks.lesson01.q2(lambda p, r: p - r),
        "01q3": lambda: checks.lesson01.q3(list(table["model"]), list(table["model"]),
                                           table=table),
        "01q4": lambda: checks.lesson01.q4(0.1, 0.1, 0.1, 0.1, table=table, model="resnet18",
                                           drop="resnet50", budget_kwh=0.005),
        "02q1": lambda: checks.lesson02.q1(0.5, energy_kwh=0.01, intensity_g_per_kwh=100,
                                           pue=1.5),
        "02q2": lambda: checks.lesson02.q2(1.0, 1.0, run_small=SimpleNamespace(history=_history()),
                                           run_large=SimpleNamespace(history=_history()),
                                           n_images=100),
        "03q1": lambda: checks.lesson03.q1(1, history=_history(), reference_kwh=10.0),
        "03q2": lambda: checks.lesson03.q2(9.0, 0.9, full=_history(), early=_history()[:2]),
        "04q1": lambda: checks.lesson04.q1(5.0, history=_history(), target=0.75),
        "04q2": lambda: checks.lesson04.q2(0.5, first=[0.8, 0.9, 0.85], second=[0.6, 0.7, 0.65]),
        "05q1": lambda: checks.lesson05.q1(np.zeros(len(sweep)), results=sweep),
        "05q2": lambda: checks.lesson05.q2({k: "resnet50" for k in "ecmt"},
                                           scored=peprkit.add_pepr(
                                               sweep, performance="test_acc",
                                               resources={"e": "energy_kwh", "c": "co2_g",
                                                          "m": "memory_gb",
                                                          "t": "train_time_s"})),
        "05q3": lambda: checks.lesson05.q3(["nope"], "resnet18", results=sweep),
        "06q1": lambda: checks.lesson06.q1(np.zeros(int((raw["dataset"] == "derma").sum())),
                                           results=raw, experiment="derma"),
        "06q2": lambda: checks.lesson06.q2(99, 99, scored=scored),
        "06q3": lambda: checks.lesson06.q3(-1, True, results=raw,
                                           imagenet=make_example_imagenet(raw)),
        "07q1": lambda: checks.lesson07.q1(clinic.assign(num_params=1, co2_clinic_g=0.0,
                                                         pepr_e=0.0),
                                           budget_kwh=1.0, intensity_g_per_kwh=5.0),
        "07q2": lambda: checks.lesson07.q2([], table=clinic, **budgets),
        "07q3": lambda: checks.lesson07.q3("nope", table=clinic, **budgets),
        "07q4": lambda: checks.lesson07.q4(str(clinic["model"].iloc[0]), -1.0, table=clinic,
                                           intensity_g_per_kwh=100.0, energy_budget_kwh=1e9,
                                           memory_budget_gb=1e9),
    }


def _kit_frames(err: BaseException) -> list:
    """Frames of the kit's code in the tracebacks of ``err`` and the exceptions chained
    to it, except the check's wrapper (which holds only the learner's arguments)."""
    package = str(Path(peprkit.__file__).resolve().parent)
    frames, stack, seen = [], [err], set()
    while stack:
        exc = stack.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename.startswith(package) and code.co_name != "run":
                frames.append(tb.tb_frame)
            tb = tb.tb_next
        stack += [exc.__cause__, exc.__context__]
    return frames


@pytest.mark.parametrize("which", list(_wrong_calls()))
def test_a_failed_check_leaves_none_of_its_values_in_its_traceback(which):
    call = _wrong_calls()[which]
    with pytest.raises(AssertionError) as info:
        call()
    frames = _kit_frames(info.value)
    assert frames, "the check's frames should stay in the traceback (their lines show)"
    assert all(not f.f_locals for f in frames), [(f.f_code.co_name, sorted(f.f_locals))
                                                 for f in frames if f.f_locals]


def test_a_learners_own_error_keeps_their_frame_and_loses_the_checks():
    def normalize_by_hand(values):
        scale = max(values) - max(values)
        return [v / scale for v in values]

    with pytest.raises(checks.CheckFailed, match="divided by zero") as info:
        checks.lesson01.q1(normalize_by_hand)  # the slip's hint, the learner's error chained
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    tb, mine = info.value.__cause__.__traceback__, {}
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "normalize_by_hand":
            mine = tb.tb_frame.f_locals
        tb = tb.tb_next
    assert "scale" in mine
    assert all(not f.f_locals for f in _kit_frames(info.value))


# --- by hand: the kit's own function refused -------------------------------------------
@pytest.mark.parametrize("source", [
    "y = peprkit.normalize(x)",
    "import peprkit as pk\ny = pk.metric.normalize(x)",
    "from peprkit.metric import normalize as n\ny = n(x)",
    "from peprkit.checks.lesson01 import normalize\ny = normalize(x)",
    "from peprkit import *\ny = normalize(x)",
    "m = peprkit.metric\ny = m.normalize(x)",
    "y = __import__('peprkit').normalize(x)",
    "import importlib\ny = importlib.import_module('peprkit.metric').normalize(x)",
])
def test_kit_calls_finds_the_kit_function_by_any_name(source):
    assert kit_calls(source, ["normalize", "pepr"]) == ["normalize"]


@pytest.mark.parametrize("source", [
    "f = getattr(peprkit, 'norm' + 'alize')\ny = f(x)",
    "import sys\ny = sys.modules['peprkit.metric'].normalize(x)",
    "y = eval('peprkit.normalize(x)')",
    "y = vars(peprkit)['normalize'](x)",
    "import importlib\ny = importlib.import_module('peprkit.met' + 'ric').normalize(x)",
])
def test_kit_calls_reports_lookups_by_name(source):
    assert kit_calls(source, ["normalize"]) == [DYNAMIC]


@pytest.mark.parametrize("source", [
    "lo, hi = min(x), max(x)\ny = [(v - lo) / (hi - lo) for v in x]",
    "def normalize(v):\n    return v\ny = normalize(x)",
    "import re\npattern = re.compile('normalize')\nprint('peprkit.normalize is the kit')",
    "y = peprkit.add_pepr(t, performance='p', resources={'e': 'e'})",
    "this is not python (",
])
def test_kit_calls_leaves_honest_code_alone(source):
    assert kit_calls(source, ["normalize"]) == []


def test_refusing_catches_every_path_and_restores_the_kit():
    import peprkit.metric as metric

    with refusing(["normalize"]) as called:
        for call in (lambda: peprkit.normalize([1.0, 2.0]),
                     lambda: metric.normalize([1.0, 2.0])):
            with pytest.raises(ByHand, match="peprkit.normalize is the kit's own function"):
                call()
    assert called == {"normalize"}
    assert peprkit.normalize([1.0, 3.0]).tolist() == [0.0, 1.0]


def _helper_calls_kit(values):
    return list(peprkit.normalize(values))


@pytest.mark.parametrize("answer", [
    lambda v: peprkit.normalize(v),
    lambda v: _helper_calls_kit(v),  # found at run time: the helper is elsewhere
])
def test_the_self_check_refuses_the_kit_in_a_by_hand_function(answer):
    with pytest.raises(ByHand, match="by hand"):
        checks.lesson01.q1(answer)
    with pytest.raises(ByHand, match="peprkit.pepr is"):
        checks.lesson01.q2(lambda p, r: peprkit.pepr(p, r))
    assert peprkit.normalize([2.0, 4.0]).tolist() == [0.0, 1.0]


def test_the_self_check_reads_the_notebook_cell_of_a_by_hand_value():
    IPython = pytest.importorskip("IPython")
    shell = IPython.core.interactiveshell.InteractiveShell.instance()
    try:
        shell.run_cell("import peprkit\nfrom peprkit.meter import co2_g as kit_co2",
                       store_history=True)
        shell.run_cell("co2_by_hand_g = kit_co2(0.01, intensity_g_per_kwh=100, pue=1.5)",
                       store_history=True)
        with pytest.raises(ByHand, match="peprkit.co2_g"):
            checks.lesson02.q1(1.5, energy_kwh=0.01, intensity_g_per_kwh=100, pue=1.5)
        shell.run_cell("co2_by_hand_g = 0.01 * 1.5 * 100", store_history=True)
        checks.lesson02.q1(1.5, energy_kwh=0.01, intensity_g_per_kwh=100, pue=1.5)
    finally:
        IPython.core.interactiveshell.InteractiveShell.clear_instance()


class _Remote:
    """The grader's stand-ins: a rerun or a function whose code runs elsewhere (only its
    source is there to read)."""

    def __init__(self, runner=None, spec=None, name=""):
        self.sources = runner.sources if runner is not None else None
        self._runner, self.__name__ = runner, name
        self._worker = SimpleNamespace(functions={name: spec})
        if runner is None:
            del self.sources

    def __call__(self, *args, **kwargs):
        if self._runner is not None:
            return self._runner(*args, **kwargs)
        raise AssertionError("the source should have been refused first")


KIT_CELLS = {
    lesson02.hidden_q1: "from peprkit.meter.carbon import co2_g\n"
                        "co2_by_hand_g = co2_g(BUSY_KWH, intensity_g_per_kwh=INTENSITY, pue=PUE)",
    lesson03.hidden_q1: "best_epoch_by_hand = peprkit.pepr_optimum(history['val_acc'], "
                        "history['energy_kwh'] / REFERENCE_KWH).epoch",
    lesson05.hidden_q1: "pepr_t_by_hand = peprkit.add_pepr(results, performance='test_acc', "
                        "resources={'t': 'train_time_s'}, by='dataset')['pepr_t']",
    lesson06.hidden_q1: "import peprkit.paper as pp\nrows = raw[raw.dataset == EXPERIMENT]\n"
                        "pepr_e_by_hand = pp.paper_pepr(raw).loc[rows.index, 'pepr_e']",
}


@pytest.mark.parametrize("hidden", list(KIT_CELLS), ids=lambda h: h.__module__[-8:])
@pytest.mark.parametrize("where", ["here", "remote"])
def test_a_hidden_test_refuses_the_kit_in_a_by_hand_answer_cell(hidden, where):
    runner = answer_cells(["import peprkit", KIT_CELLS[hidden]])
    rerun = runner if where == "here" else _Remote(runner)
    with pytest.raises(ByHand, match="by hand"):
        hidden(rerun, rng=np.random.default_rng(5))


def test_a_hidden_test_refuses_a_lookup_by_name_here_and_by_source():
    cell = ("m = __import__('importlib').import_module('peprkit.met' + 'ric')\n"
            "rows = raw[raw.dataset == EXPERIMENT]\n"
            "pepr_e_by_hand = m.pepr(rows.test_09, m.normalize(rows.energy))")
    for rerun in (answer_cells([cell]), _Remote(answer_cells([cell]))):
        with pytest.raises(ByHand, match="by name"):
            lesson06.hidden_q1(rerun, rng=np.random.default_rng(1))


@pytest.mark.parametrize(("spec", "refused"), [
    (FunctionSource("normalize_by_hand", "def normalize_by_hand(v):\n"
                    "    return list(pk.normalize(v))", modules={"pk": "peprkit"}), True),
    # how a function calling `from peprkit import normalize as n` comes out of the notebook
    (FunctionSource("normalize_by_hand", "def normalize_by_hand(v):\n    return n(v)",
                    helpers={"n": __import__("inspect").getsource(peprkit.normalize)}), True),
    (FunctionSource("normalize_by_hand", "def normalize_by_hand(v):\n    return n(v)",
                    helpers={"n": "from peprkit.metric import normalize as n"}), True),
    (FunctionSource("normalize_by_hand", "def normalize_by_hand(v):\n"
                    "    return [(x - min(v)) / (max(v) - min(v)) for x in v]"), False),
])
def test_a_hidden_test_reads_the_source_of_a_by_hand_function(spec, refused):
    answer = _Remote(spec=spec, name="normalize_by_hand")
    if refused:
        with pytest.raises(ByHand, match="peprkit.normalize"):
            lesson01.hidden_q1(answer, rng=np.random.default_rng(0))
    else:
        with pytest.raises(AssertionError, match="should have been refused"):
            lesson01.hidden_q1(answer, rng=np.random.default_rng(0))  # the source passed


# --- lesson 01's value questions: reruns on drawn tables ---------------------------------
def _master_cells() -> list[str]:
    nb = json.loads((SOURCE / "01_pepr_metric.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


class _ThroughCodec(CellRunner):
    def __call__(self, outputs, **inputs):
        from peprkit.course._codec import decode, encode

        inputs = decode(json.loads(json.dumps(encode(inputs))))
        return decode(json.loads(json.dumps(encode(super().__call__(outputs, **inputs)))))


@pytest.mark.parametrize("hidden", [lesson01.hidden_q3, lesson01.hidden_q4])
def test_lesson01_value_questions_rerun_the_solution_on_drawn_tables(hidden):
    cells = _master_cells()
    for seed in range(4):
        hidden(answer_cells(cells), rng=np.random.default_rng(seed))
    hidden(_ThroughCodec(cells), rng=np.random.default_rng(9))


@pytest.mark.parametrize(("hidden", "cell"), [
    (lesson01.hidden_q3, "rank_by_accuracy = list(scored.sort_values('test_acc')['model'])\n"
                         "rank_by_pepr = list(scored.sort_values('pepr_e')['model'])"),
    (lesson01.hidden_q3, "rank_by_accuracy = list(scored.sort_values('test_acc', "
                         "ascending=False)['model'])\nrank_by_pepr = rank_by_accuracy"),
    (lesson01.hidden_q3, f"rank_by_accuracy = rank_by_pepr = {sorted(example_results().model)!r}"),
    (lesson01.hidden_q4, "minmax_with, minmax_without = 0.75, 0.7\n"
                         "budget_with = budget_without = 0.6"),
    (lesson01.hidden_q4, "e = peprkit.add_pepr(full_set, performance='test_acc', "
                         "resources={'e': 'energy_kwh'}).set_index('model')\n"
                         "minmax_with = minmax_without = e.loc[MODEL, 'pepr_e']\n"
                         "budget_with = budget_without = e.loc[MODEL, 'pepr_e']"),
    (lesson01.hidden_q4, "from peprkit import checks\nimport sys\nseen = {}\n"
                         "minmax_with = minmax_without = budget_with = budget_without = "
                         "seen.get('x', 0.5)"),
])
def test_lesson01_value_questions_fail_copied_and_wrong_answers(hidden, cell):
    with pytest.raises(CheckFailed):
        hidden(answer_cells(["import peprkit", cell]), rng=np.random.default_rng(2))
