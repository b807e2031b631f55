"""Build a lesson's autograder from its master: the master read once, otter's tests read back.

:func:`read_master` parses a master notebook in ONE pass: its questions (name, points,
manual or not, from the ``# BEGIN QUESTION`` raw cells) and the ids of the code cells a
learner sees in each question (answer and check cells, not the tests). :func:`build_autograder`
runs ``otter assign`` on the master into a private folder and reads the generated test
files (hidden ones included, kept in memory): each test function's source and parameters,
and the points they carry.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from peprkit._util import optional_import
from peprkit.course.authoring import run_assign


@dataclass(frozen=True)
class Question:
    """One graded question of a lesson: its name, worth, whether a person grades it, and
    its cells outside the tests as ``(cell_type, source)``: the prompt a learner sees and
    the model answer (inside ``# BEGIN SOLUTION``)."""

    name: str
    max_points: float
    manual: bool
    prompt: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    solution: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Outline:
    """What a master says, read in one pass: its questions in order (points as the
    ``# BEGIN QUESTION`` config gives them, 0 when it gives none) and, by question, the ids
    of the code cells a learner sees (answer and check cells, not the tests)."""

    questions: tuple[Question, ...]
    cells: dict[str, list[str]]


@dataclass(frozen=True)
class Autograder:
    """A lesson's tests, built from its master: test files by question (hidden included,
    kept in memory), the questions, the ids of each question's cells in the master, and
    the notebook variables each question's tests take."""

    lesson: str
    tests: dict[str, list[dict]]
    questions: list[Question]
    cells: dict[str, list[str]]
    names: dict[str, list[str]]


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores a string or a list of lines).

    >>> cell_source({"source": ["a = 1\\n", "b = 2"]})
    'a = 1\\nb = 2'
    """
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@dataclass(frozen=True)
class CodeCell:
    """A code cell of a submitted notebook: its source, id (None when missing or not
    text) and tags (the text ones)."""

    source: str
    id: str | None
    tags: tuple[str, ...]


def code_cells(nb: Any) -> list[CodeCell]:
    """The code cells of a submitted notebook's parsed JSON, read defensively (a
    submission is untrusted): cells that are not objects are skipped, ``metadata`` or
    ``tags`` of the wrong type count as none, an ``id`` that is not text as missing.

    >>> [c.source for c in code_cells({"cells": [{"cell_type": "code", "source": ["a", "b"],
    ...                                            "metadata": []}, "junk"]})]
    ['ab']

    Raises:
        ValueError: not a notebook object, ``cells`` not a list, or a code cell whose
            source is not text.
    """
    if not isinstance(nb, dict):
        raise ValueError("the file holds no notebook (its JSON is not an object)")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ValueError("the notebook's 'cells' is not a list of cells")
    found = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        elif not isinstance(source, str):
            raise ValueError(f"cell {i + 1} of the notebook has a source that is not text")
        cid = cell.get("id")
        meta = cell.get("metadata")
        tags = meta.get("tags") if isinstance(meta, dict) else None
        found.append(CodeCell(source, cid if isinstance(cid, str) else None,
                              tuple(t for t in tags if isinstance(t, str))
                              if isinstance(tags, list) else ()))
    return found


def read_master(master: str | Path) -> Outline:
    """The questions of ``master`` (with their prompt and model-answer cells) and the ids
    of each question's learner cells, read in one pass."""
    yaml = optional_import("yaml", extra="instructor", package="pyyaml")
    nb = json.loads(Path(master).read_text())
    found: list[tuple[str, float, bool, list, list]] = []
    cells: dict[str, list[str]] = {}
    current, in_solution, in_tests = None, False, False
    for cell in nb["cells"]:
        source = cell_source(cell)
        head = source.lstrip()
        if cell["cell_type"] == "raw":
            if head.startswith("# BEGIN QUESTION"):
                config = yaml.safe_load(head) or {}
                current = (str(config["name"]), float(config.get("points") or 0),
                           bool(config.get("manual")), [], [])
                found.append(current)
                cells[current[0]] = []
            elif head.startswith("# END QUESTION"):
                current = None
            elif head.startswith(("# BEGIN SOLUTION", "# END SOLUTION")):
                in_solution = head.startswith("# BEGIN")
            elif head.startswith(("# BEGIN TESTS", "# END TESTS")):
                in_tests = head.startswith("# BEGIN")
        elif current is not None and not in_tests:
            current[4 if in_solution else 3].append((cell["cell_type"], source))
            if cell["cell_type"] == "code" and cell.get("id"):
                cells[current[0]].append(cell["id"])
    questions = tuple(Question(name, points, manual, tuple(prompt), tuple(solution))
                      for name, points, manual, prompt, solution in found)
    return Outline(questions, cells)


def build_autograder(master: str | Path, workdir: str | Path) -> Autograder:
    """Run ``otter assign`` on ``master`` into ``workdir`` and read its tests and questions.

    Auto-graded questions get their points from the generated test files (hidden tests
    included); manual ones from their ``# BEGIN QUESTION`` config.
    """
    master = Path(master)
    outline = read_master(master)
    out = run_assign(master, Path(workdir) / "assign")
    tf = optional_import("otter.test_files", extra="instructor", package="otter-grader")
    tests, points, names = {}, {}, {}
    for path in sorted((out / "autograder" / "tests").glob("*.py")):
        text = path.read_text()
        parsed = tf.ExceptionTestFile.from_string(text, path=str(path))
        cases = _test_functions(text)
        if len(cases) != len(parsed.test_cases):
            raise RuntimeError(f"could not read the test functions of {path}")
        tests[parsed.name] = [{**case, "name": tc.name, "hidden": bool(tc.hidden),
                               "points": float(tc.points or 0.0)}
                              for case, tc in zip(cases, parsed.test_cases, strict=True)]
        points[parsed.name] = float(sum(tc.points for tc in parsed.test_cases))
        names[parsed.name] = list(dict.fromkeys(p for c in cases for p in c["params"]))
    questions = [q if q.manual else replace(q, max_points=points[q.name])
                 for q in outline.questions if q.manual or q.name in tests]
    return Autograder(master.stem, tests, questions, outline.cells, names)


def _test_functions(text: str) -> list[dict]:
    """The ``@test_case`` functions of an otter test file: source (no decorator) and
    parameter names, in file order."""
    found = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and any(
                "test_case" in ast.unparse(d) for d in node.decorator_list):
            source = "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno])
            found.append({"function": node.name, "source": source,
                          "params": [a.arg for a in node.args.args]})
    return found
