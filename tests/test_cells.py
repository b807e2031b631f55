"""Answer cells run again on the grader's inputs (``rerun``): finding, running, grading."""

from __future__ import annotations

import time

import pytest

from peprkit.course._cells import CellError, CellRunner, assigned_names, imports, pick_cells
from peprkit.course.hidden import answer_cells


@pytest.mark.parametrize(("source", "names"), [
    ("x = 1", {"x"}),
    ("a, (b, c) = 1, (2, 3)", {"a", "b", "c"}),
    ("x += 1\ny: int = 2", {"x", "y"}),
    ("for i, v in enumerate([1]):\n    total = v", {"i", "v", "total"}),
    ("with open('f') as fh:\n    text = fh.read()", {"fh", "text"}),
    ("if True:\n    a = 1\nelse:\n    b = 2", {"a", "b"}),
    ("try:\n    a = 1\nexcept ValueError:\n    b = 2", {"a", "b"}),
    ("def f(x):\n    inner = x\n    return inner", {"f"}),
    ("import numpy as np\nfrom math import pi", {"np", "pi"}),
    ("%matplotlib inline\nx = 1", {"x"}),  # magics are read as the calls they stand for
    ("print((y := 3))", {"y"}),
    ("x = (", set()),  # a syntax error binds nothing
    ("table['col'] = 1\nobj.attr.x = 2", {"table", "obj"}),  # changed in place
])
def test_assigned_names(source, names):
    assert assigned_names(source) == names


def test_the_last_cell_assigning_each_name_is_picked_in_notebook_order():
    cells = ["a = 1", "b = 2", "a = b + 1", "checks.q(a, b)", "b = a * 2", "print(a, b)"]
    assert pick_cells(cells, ["a", "b"]) == ["b = 2", "a = b + 1", "b = a * 2"]
    assert pick_cells(cells, ["a", "b"], given=["b"]) == ["a = b + 1", "b = a * 2"]
    with pytest.raises(CellError, match=r"no cell of the notebook assigns c"):
        pick_cells(cells, ["a", "c"])


def test_a_helper_variable_from_an_earlier_cell_comes_along_but_not_the_data():
    cells = ["h = load_the_data()", "import numpy as np\nscore = np.asarray(h) * w",
             "print(score)", "best = int(score.argmax())"]
    runner = answer_cells(cells)
    assert pick_cells(cells, ["best"], given=["h", "w"]) == cells[1:2] + cells[3:]
    assert runner(["best"], h=[0.2, 0.9, 0.4], w=2.0) == {"best": 1}


def test_a_table_changed_in_place_is_rebuilt_from_its_earlier_cell():
    cells = ["table = make()", "table['double'] = table['x'] * 2", "print(table)"]
    import pandas as pd

    got = answer_cells(cells)(["table"], make=lambda: pd.DataFrame({"x": [1, 2]}))
    assert got["table"]["double"].tolist() == [2, 4]


def test_rerun_sees_only_its_inputs_and_the_notebooks_imports():
    cells = ["import numpy as np\nimport pandas as pd\nsecret = 7", "print('noise')",
             "m = np.mean(values) + secret"]
    assert imports(cells) == ["import numpy as np", "import pandas as pd"]
    runner = CellRunner(cells)
    assert runner(["m"], values=[1.0, 3.0]) == {"m": 9.0}  # secret's cell runs again
    assert runner(["m"], values=[1.0, 3.0], secret=1) == {"m": 3.0}
    with pytest.raises(CellError, match=r"NameError: name 'values' is not defined"):
        runner(["m"])  # nothing of the notebook's own run is there


def test_a_hard_coded_answer_does_not_follow_other_inputs():
    computed = answer_cells(["best = int(h.index[h.argmax()])"])
    typed = answer_cells(["best = 2  # what the notebook printed"])
    import pandas as pd

    h = pd.Series([0.1, 0.9, 0.3], index=[5, 6, 7])
    assert computed(["best"], h=h) == {"best": 6}
    assert typed(["best"], h=h) == {"best": 2}


@pytest.mark.parametrize(("cell", "match"), [
    ("x = 1 / 0", r"ZeroDivisionError"),
    ("x = 1\nraise SystemExit(3)", r"SystemExit"),
    ("x = 1\ndel x", r"did not define x"),
    ("y = 1", r"no cell of the notebook assigns x"),
])
def test_a_failing_cell_raises_a_cell_error(cell, match):
    with pytest.raises(CellError, match=match):
        answer_cells([cell])(["x"])


def test_magic_lines_are_skipped_when_a_cell_runs_again():
    assert answer_cells(["%matplotlib inline\n!ls\nx = 2"])(["x"]) == {"x": 2}


def test_the_blank_placeholder_comes_back_as_it_is():
    assert answer_cells(["x = ..."])(["x"]) == {"x": Ellipsis}


def test_the_notebook_runner_reads_the_kernels_history(monkeypatch):
    class Shell:
        user_ns = {"In": ["", "import math", "r = math.sqrt(q)", "print(r)"]}

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert answer_cells()(["r"], q=16.0) == {"r": 4.0}


# --- the same through `peprkit grade`: a hidden test reruns the answer cell -----------------
otter = pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from _sandboxes import grading_sandbox  # noqa: E402

from peprkit.course import authoring, grading  # noqa: E402

V4 = nbformat.v4
HIDDEN = '''# HIDDEN
def test_q1_hidden(rerun, history):
    import numpy as np

    rng = np.random.default_rng(len(history))
    for _ in range(3):
        val = list(rng.permutation(np.linspace(0.5, 0.9, 6)))
        h = {"epoch": list(range(1, 7)), "val_acc": val}
        got = rerun(["best_epoch"], history=h)["best_epoch"]
        assert got == h["epoch"][int(np.argmax(val))], "best_epoch is wrong on other runs"


test_q1_hidden(hidden.answer_cells(), history)'''


@pytest.fixture(scope="module")
def rerun_lesson(tmp_path_factory):
    """A one-question master whose hidden test reruns the answer cell."""
    root = tmp_path_factory.mktemp("rerun")
    cells = [
        V4.new_markdown_cell("# Rerun lesson\n\nEstimated time: 1 min"),
        V4.new_code_cell("from peprkit.course import hidden  # IGNORE\nimport numpy as np"),
        V4.new_code_cell('history = {"epoch": [1, 2, 3], "val_acc": [0.6, 0.8, 0.7]}'),
        V4.new_raw_cell("# BEGIN QUESTION\nname: q1\npoints: 2\ncheck_cell: false"),
        V4.new_raw_cell("# BEGIN SOLUTION"),
        V4.new_code_cell('best_epoch = history["epoch"][int(np.argmax(history["val_acc"]))]'
                         '  # SOLUTION'),
        V4.new_raw_cell("# END SOLUTION"),
        V4.new_raw_cell("# BEGIN TESTS"),
        V4.new_code_cell("def test_q1(best_epoch):\n    assert best_epoch == 2\n\n\n"
                         "test_q1(best_epoch)"),
        V4.new_code_cell(HIDDEN),
        V4.new_raw_cell("# END TESTS"),
        V4.new_raw_cell("# END QUESTION"),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell{i}"
    master = root / "source" / "01_rerun.ipynb"
    master.parent.mkdir()
    nbformat.write(authoring.normalized_master(V4.new_notebook(cells=cells), master.stem),
                   master)
    out = authoring.run_assign(master, root / "assign")
    return root, out / "autograder" / master.name


def _with_answer(solution, path, source):
    nb = nbformat.read(solution, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("best_epoch ="):
            cell.source = source
    nbformat.write(nb, path)
    return path


def test_grading_reruns_the_answer_cell_in_the_sandbox(rerun_lesson):
    root, solution = rerun_lesson
    subs = root / "subs"
    subs.mkdir(exist_ok=True)
    paths = [
        _with_answer(solution, subs / "computed.ipynb",
                     'best_epoch = history["epoch"][int(np.argmax(history["val_acc"]))]'),
        _with_answer(solution, subs / "typed.ipynb", "best_epoch = 2"),
        _with_answer(solution, subs / "lookup.ipynb",
                     "best_epoch = {(0.6, 0.8, 0.7): 2}.get(tuple(history['val_acc']), 2)"),
        _with_answer(solution, subs / "loops_on_other_inputs.ipynb",
                     "best_epoch = 2\nwhile history['val_acc'] != [0.6, 0.8, 0.7]:\n    pass"),
    ]
    start = time.monotonic()
    grades = grading.grade(paths, lesson="01", source_dir=root / "source", timeout_s=120,
                           cell_timeout_s=3, secret="rerun-tests", jobs=2,
                           sandbox=grading_sandbox())
    wall = time.monotonic() - start
    points = dict(zip(grades["student"], grades["points"], strict=True))
    assert points == {"computed": 2.0, "typed": 0.0, "lookup": 0.0,
                      "loops_on_other_inputs": 0.0}, grades[["student", "detail"]]
    feedback = dict(zip(grades["student"], grades["feedback"], strict=True))
    assert "hidden" in feedback["typed"] and "0.5" not in feedback["typed"]
    detail = dict(zip(grades["student"], grades["detail"], strict=True))
    assert "TimeoutError" in detail["loops_on_other_inputs"]
    assert wall < 120, wall
