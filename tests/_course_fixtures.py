"""A tiny lesson and a simulated class for the course-tool tests (no real lesson needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat

from peprkit.course import authoring

V4 = nbformat.v4
SECRET = "tests-secret"

MASTER_Q1 = '''def normalize(values):
    # BEGIN SOLUTION
    low = min(values)
    high = max(values)
    if high == low:
        return [0.0 for _ in values]
    span = high - low
    result = []
    for v in values:
        result.append((v - low) / span)
    return result
    # END SOLUTION'''


def question(name: str, points: int, solution: str, *tests: str, prompt: str = "") -> list:
    """The cells of one auto-graded question in the master format: its config, an optional
    prompt, the solution cell and its test cells (``# HIDDEN`` ones included)."""
    return [V4.new_raw_cell(f"# BEGIN QUESTION\nname: {name}\npoints: {points}\n"
                            "check_cell: false"),
            *([V4.new_markdown_cell(prompt)] if prompt else []),
            V4.new_raw_cell("# BEGIN SOLUTION"), V4.new_code_cell(solution),
            V4.new_raw_cell("# END SOLUTION"), V4.new_raw_cell("# BEGIN TESTS"),
            *(V4.new_code_cell(test) for test in tests),
            V4.new_raw_cell("# END TESTS"), V4.new_raw_cell("# END QUESTION")]


def manual_question(name: str, points: int, prompt: str, rubric: str) -> list:
    """The cells of one question graded by a person: its config, prompt and rubric."""
    return [V4.new_raw_cell(f"# BEGIN QUESTION\nname: {name}\npoints: {points}\nmanual: true"),
            V4.new_markdown_cell(prompt), V4.new_raw_cell("# BEGIN SOLUTION"),
            V4.new_markdown_cell(rubric), V4.new_raw_cell("# END SOLUTION"),
            V4.new_raw_cell("# END QUESTION")]


def write_master(path: Path, title: str, *questions: list) -> Path:
    """A master notebook at ``path``: a title cell, then the questions' cells, with stable ids."""
    cells = [V4.new_markdown_cell(f"# {title}\n\nEstimated time: 1 min")]
    cells += [cell for q in questions for cell in q]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell{i}"
    nb = authoring.normalized_master(V4.new_notebook(cells=cells), path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def tiny_master(path: Path) -> Path:
    """Lesson ``01_course``: q1 (2 points, public + hidden), q2 (1 point), a manual
    reflection (2 points)."""
    return write_master(
        path, "Course lesson",
        question("q1", 2, MASTER_Q1,
                 "def test_q1(normalize):\n    assert normalize([2, 4, 6]) == [0, 0.5, 1]"
                 "\n\n\ntest_q1(normalize)",
                 "# HIDDEN\ndef test_q1_hidden(normalize):\n    assert normalize([1, 3])"
                 " == [0, 1]\n\n\ntest_q1_hidden(normalize)",
                 prompt="Write `normalize(values)`: min-max normalisation."),
        question("q2", 1, "value = 6 * 7  # SOLUTION",
                 "def test_q2(value):\n    assert value == 42\n\n\ntest_q2(value)"),
        manual_question("reflection", 2, "In two sentences: why normalise resources?",
                        "Full marks: names the scale problem **and** the set dependence."))


#: Independently written correct answers to q1 (different structure, not only names).
INDEPENDENT = {
    "ann": '''def normalize(values):
    smallest, largest = min(values), max(values)
    width = largest - smallest
    return [(x - smallest) / width if width else 0.0 for x in values]''',
    "eve": '''def normalize(values):
    out = []
    lo = values[0]
    hi = values[0]
    for item in values:
        if item < lo:
            lo = item
        if item > hi:
            hi = item
    for item in values:
        out.append(0.0 if hi == lo else (item - lo) / (hi - lo))
    return out''',
    "gus": '''import numpy as np


def normalize(values):
    arr = np.asarray(values, dtype=float)
    rng = arr.max() - arr.min()
    if rng == 0:
        return [0.0] * len(values)
    return list(((arr - arr.min()) / rng).tolist())''',
    "hal": '''def normalize(values):
    ordered = sorted(values)
    a, b = ordered[0], ordered[-1]
    scaled = map(lambda t: (t - a) / (b - a) if b != a else 0.0, values)
    return list(scaled)''',
    "ivy": '''def normalize(values):
    m = min(values)
    values_shifted = [v - m for v in values]
    top = max(values_shifted)
    if not top:
        return [0.0] * len(values_shifted)
    return [v / top for v in values_shifted]''',
    "jon": '''def normalize(values):
    result = list(values)
    low = min(result)
    total = max(result) - low
    i = 0
    while i < len(result):
        result[i] = (result[i] - low) / total if total else 0.0
        i += 1
    return result''',
    "leo": '''from statistics import fmean


def normalize(values):
    base = min(values)
    scale = max(values) - base or 1
    fractions = {}
    for position, item in enumerate(values):
        fractions[position] = (item - base) / scale
    return [fractions[k] for k in sorted(fractions)]''',
}

#: dan copies eve: names changed, independent lines swapped.
DAN = '''def normalize(values):
    res = []
    top = values[0]
    bottom = values[0]
    for x in values:
        if x > top:
            top = x
        if x < bottom:
            bottom = x
    for x in values:
        res.append(0.0 if top == bottom else (x - bottom) / (top - bottom))
    return res'''

HOSTILE = ("<script>document.title='PWNED'</script>\n\n"
           "<img src=x onerror=\"document.title='PWNED'\"> Normalising puts resources on one "
           "scale.")


def write_notebook(student_nb: Path, path: Path, answers: dict[str, str]) -> Path:
    """The student notebook with cells answered: ``{"q1"|"q2"|"reflection": text}``."""
    nb = nbformat.read(student_nb, as_version=4)
    for cell in nb.cells:
        if cell.get("id") == "cell4" and "q1" in answers:
            cell.source = answers["q1"]
        elif cell.get("id") == "cell13" and "q2" in answers:
            cell.source = answers["q2"]
        elif (cell.cell_type == "markdown" and "otter_answer_cell" in cell.metadata.get(
                "tags", []) and "reflection" in answers):
            cell.source = answers["reflection"]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def simulated_class(root: Path) -> tuple[Path, dict[str, Path]]:
    """The masters folder and twelve submissions of lesson 01_course."""
    master = tiny_master(root / "source" / "01_course.ipynb")
    built = authoring.run_assign(master, root / "assign")
    student = built / "student" / master.name
    subs = root / "subs"
    q2 = "value = 6 * 7"
    plan = {name: {"q1": code, "q2": q2, "reflection": f"{name} thinks scales differ."}
            for name, code in INDEPENDENT.items()}
    plan["ivy"]["reflection"] = HOSTILE
    plan["dan"] = {"q1": DAN, "q2": q2, "reflection": "Scales differ."}
    plan["pat"] = {"q1": MASTER_Q1, "q2": q2, "reflection": "Copied."}
    plan["cat"] = {"q1": "def normalize(values):\n    return list(values)", "q2": q2}
    plan["kim"] = {"q1": "def normalize(values):\n    return [v / spread for v in values]"
                         "\n\n\nprint(normalize([1, 2]))", "q2": q2}
    plan["bob"] = {}
    paths = {name: write_notebook(student, subs / f"{name}.ipynb", answers)
             for name, answers in sorted(plan.items())}
    return root / "source", paths


def chromium() -> str | None:
    """The headless browser, when installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(page: Path) -> str:
    """The page's DOM after load in headless Chromium (scripts allowed by the browser)."""
    done = subprocess.run([chromium(), "--headless", "--disable-gpu", "--no-sandbox",
                           "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    return done.stdout


def with_answers(solution: Path, path: Path, names: tuple[str, ...], *,
                 replace: dict | None = None, after: dict | None = None) -> Path:
    """The solutions notebook written to ``path`` with the answer cell defining each name
    of ``replace`` swapped for its source, and a cell inserted after the answer cell of
    each name of ``after``; ``names`` are the answers the lesson defines (``def n(`` or
    ``n = ...``)."""
    from nbformat import v4

    nb = nbformat.read(solution, as_version=4)
    cells = []
    for cell in nb.cells:
        hit = None
        if cell.cell_type == "code":
            hit = next((n for n in names
                        if f"def {n}(" in cell.source or cell.source.startswith(f"{n} =")),
                       None)
        if hit and replace and hit in replace:
            cell.source = replace[hit]
        cells.append(cell)
        if hit and after and hit in after:
            extra = v4.new_code_cell(after[hit])
            extra["id"] = f"extra-{hit}"
            cells.append(extra)
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
