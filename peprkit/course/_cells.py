"""A learner's answer cells, run again on inputs the grader chose.

Many answers are values computed from the lesson's data (a best epoch from a history, an
energy per image from two runs). A hidden test of such an answer does not check the value
the notebook printed: it runs the learner's **answer cell** again on inputs drawn at
grading time and checks what it computes, so a number typed in (or copied from a
solution) fails while code that computes it passes.

The answer cell of a name is the last code cell of the notebook that assigns it
(``x = ...``, ``x += ...``, ``x["col"] = ...``, ``for x in ...``, ``def x``,
``import ... as x``; when grading, only cells up to the question's check cell count);
:func:`pick_cells` finds the cells of several names, in notebook order, with the earlier
cells that define the helper variables they read (not the inputs a test gives). :func:`run_cells`
runs them in a fresh namespace holding only the given inputs and the notebook's own
import statements, and returns the asked names. :class:`CellRunner` is the callable a
hidden test receives as ``rerun``: ``rerun(["best_epoch"], history=h)`` returns
``{"best_epoch": ...}``. When grading, the scorer hands the tests a runner whose cells run
in a sandboxed worker (:mod:`peprkit.course._learner_calls`); in a notebook,
:func:`peprkit.course.hidden.answer_cells` gives one over the kernel's own input history.

>>> runner = CellRunner(["import math", "y = 2", "y = math.fsum(x) + 1", "print(y)"])
>>> runner(["y"], x=[1, 5])
{'y': 7.0}
"""

from __future__ import annotations

import ast
import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

from peprkit.checks import CheckFailed

#: Modules every rerun starts with, under the names the lessons use.
PRELUDE = ("import math", "import numpy as np", "import pandas as pd", "import peprkit")


class _NoShell:
    """``get_ipython()`` of a rerun: magics and shell escapes do nothing there."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class CellError(CheckFailed):
    """The learner's cell could not be found, or raised, when run again."""


def _python(source: str) -> str:
    """Cell source as plain Python (IPython magics and shell escapes turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with the course extras
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001  (a cell IPython cannot read is left as it is)
        return source


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _targets(node: ast.AST) -> set[str]:
    """Names an assignment target binds or changes (``t["col"] = ...`` changes ``t``)."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, (ast.Subscript, ast.Attribute)) and isinstance(sub.ctx, ast.Store):
            base = sub.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    return names


def assigned_names(source: str) -> set[str]:
    """Names a cell binds or changes at its top level (not inside its functions).

    >>> sorted(assigned_names("a, b = 1, 2\\nfor i in range(3):\\n    c = i\\ndef f(x): z = x"))
    ['a', 'b', 'c', 'f', 'i']
    """
    tree = _parse(source)
    if tree is None:
        return set()
    names: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= _targets(target)
            names |= {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            names |= _targets(node.target)
            stack.extend(node.body + node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    names |= _targets(item.optional_vars)
            stack.extend(node.body)
        elif isinstance(node, (ast.If, ast.While)):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)
        elif isinstance(node, ast.Expr):
            names |= {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}
    return names


def free_names(source: str) -> set[str]:
    """Names a cell reads that it does not bind anywhere itself (nor as a function's
    argument), i.e. what it needs from earlier cells.

    >>> sorted(free_names("s = h['val'] / (1 + e)\\nbest = int(s.idxmax())\\nf = lambda v: v"))
    ['e', 'h', 'int']
    """
    tree = _parse(source)
    if tree is None:
        return set()
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else loaded).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return loaded - bound


#: How far :func:`pick_cells` follows an answer cell's helper variables back.
_HELPER_DEPTH = 2


def pick_cells(sources: Sequence[str], outputs: Sequence[str], given: Sequence[str] = ()
               ) -> list[str]:
    """The cells that last assign each of ``outputs``, in notebook order, with the earlier
    cells defining the helper variables they read (up to two steps back) unless those are
    ``given`` as inputs, imported or built in.

    Raises:
        CellError: no cell assigns one of ``outputs``.

    >>> pick_cells(["a = 1", "b = a", "a = 2", "print(a)"], ["a", "b"])
    ['a = 1', 'b = a', 'a = 2']
    >>> pick_cells(["a = 1", "b = a", "a = 2", "print(a)"], ["a", "b"], given=["a"])
    ['b = a', 'a = 2']
    """
    import builtins

    assigned = [assigned_names(source) for source in sources]
    where: dict[str, int] = {}
    for i, names in enumerate(assigned):
        for name in names & set(outputs):
            where[name] = i
    missing = [n for n in outputs if n not in where]
    if missing:
        raise CellError(f"no cell of the notebook assigns {', '.join(missing)}: write your "
                        "answer as an assignment (name = ...) in the exercise's cell.")
    known = set(given) | set(dir(builtins)) | {"get_ipython"}
    for line in (*PRELUDE, *imports(sources)):
        known |= assigned_names(line)
    chosen = set(where.values())
    frontier = sorted(chosen)
    for _ in range(_HELPER_DEPTH):
        found = set()
        for i in frontier:
            for name in free_names(sources[i]) - known:
                before = [j for j in range(i) if name in assigned[j]]
                if before and before[-1] not in chosen:
                    found.add(before[-1])
        chosen |= found
        frontier = sorted(found)
    return [sources[i] for i in sorted(chosen)]


def imports(sources: Sequence[str], cells: Sequence[str] | None = None) -> list[str]:
    """The top-level import statements of ``sources``, one per item, in order; with
    ``cells``, only those binding a name the cells read (a rerun does not pay for
    importing torch when the answer does not use it).

    >>> imports(["import torch\\nimport numpy as np", "from math import pi"], ["x = np.sum(y)"])
    ['import numpy as np']
    """
    needed = set().union(*(free_names(c) for c in cells)) if cells is not None else None
    found = []
    for source in sources:
        tree = _parse(source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                line = ast.unparse(node)
                bound = assigned_names(line)
                if needed is None or bound & needed or "*" in bound:
                    found.append(line)
    return list(dict.fromkeys(found))


def run_cells(cells: Sequence[str], inputs: Mapping[str, Any], outputs: Sequence[str], *,
              preamble: Sequence[str] = ()) -> dict[str, Any]:
    """Run ``cells`` in a fresh namespace holding ``inputs`` (after ``PRELUDE`` and
    ``preamble``, import lines whose failure is ignored); the values of ``outputs``.

    What the cells print is discarded, magic lines do nothing. Raises :class:`CellError`
    when a cell raises or leaves one of ``outputs`` undefined.
    """
    ns: dict[str, Any] = {"__name__": "__learner__", "get_ipython": _NoShell}
    for line in (*PRELUDE, *preamble):
        try:
            exec(compile(line, "<import>", "exec"), ns)  # noqa: S102
        except Exception:  # noqa: BLE001, S112  (an import the cell may not even need)
            continue
    ns.update(inputs)
    sink = io.StringIO()
    for i, cell in enumerate(cells):
        try:
            code = compile(_python(cell), f"<answer cell {i + 1}>", "exec")
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(code, ns)  # noqa: S102
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001  (the learner's code may raise anything)
            raise CellError(f"the answer cell raised {type(err).__name__}: "
                            f"{str(err)[:300]} when run on other inputs") from None
        finally:
            sink.seek(0)
            sink.truncate()
    missing = [n for n in outputs if n not in ns]
    if missing:
        raise CellError(f"the answer cell did not define {', '.join(missing)}")
    return {name: ns[name] for name in outputs}


class CellRunner:
    """``rerun(outputs, **inputs)``: the learner's answer cells run on other inputs,
    in this process (a notebook's self-check, tests of the checks)."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.sources = [str(s) for s in sources]

    def __call__(self, outputs: Sequence[str], **inputs: Any) -> dict[str, Any]:
        cells = pick_cells(self.sources, list(outputs), given=list(inputs))
        return run_cells(cells, inputs, list(outputs), preamble=imports(self.sources, cells))

    def __repr__(self) -> str:
        return f"<learner cells: {len(self.sources)}>"
