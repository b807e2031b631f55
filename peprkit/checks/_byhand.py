"""By hand means without the kit's own function: how checks and hidden tests tell.

Some exercises ask for a computation by hand that the kit also offers (min-max
normalisation is ``peprkit.normalize``, PePR is ``peprkit.pepr``, CO2 is
``peprkit.meter.co2_g`` ...). An answer that calls the kit's function learns nothing, so
such an exercise refuses it, with a :class:`~peprkit.checks._common.ByHand` hint:

- :func:`kit_calls` reads an answer's source and names the kit functions it refers to,
  through any import or alias of ``peprkit``, ``getattr`` on it, or ``importlib``;
- :func:`refusing` makes the kit's functions raise :class:`ByHand` while an answer runs
  (a check calls a learner's function under it; the kit's own modules calling them
  count too);
- :func:`check_function` and :func:`check_cells` do both for a self-check, on a
  learner's function or on the notebook cell that assigns an answer.

Hidden tests do the same on the answer cells the grader runs again
(:mod:`peprkit.course.hidden`). This module holds no answer.

>>> kit_calls("import peprkit as pk\\nr = pk.normalize(x)", ["normalize"])
['normalize']
>>> kit_calls("lo, hi = min(v), max(v)\\nr = [(x - lo) / (hi - lo) for x in v]", ["normalize"])
[]
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import types
from collections.abc import Iterable, Iterator
from typing import Any

from peprkit.checks._common import ByHand

#: The kit's functions an exercise may refuse, and the module defining each.
KIT_FUNCTIONS = {
    "normalize": "peprkit.metric", "pepr": "peprkit.metric", "add_pepr": "peprkit.metric",
    "pepr_curve": "peprkit.metric", "pepr_optimum": "peprkit.metric",
    "co2_g": "peprkit.meter.carbon", "paper_pepr": "peprkit.paper",
}
_IMPORTERS = ("import_module", "__import__")
#: What :func:`kit_calls` reports for code that looks functions up by name (``getattr``
#: on the kit, ``importlib``, ``exec`` ...), which a by-hand answer has no use for.
DYNAMIC = "<a lookup by name>"
_DYNAMIC_CALLS = ("exec", "eval", "compile", "__import__", "import_module", "reload",
                  "vars", "globals", "__getattribute__")
_active: list[set[str]] = []


def _parse(source: str) -> ast.Module | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001, S110  (no IPython, or a cell it cannot read)
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _kit(path: str | None) -> bool:
    return bool(path) and (path == "peprkit" or path.startswith("peprkit."))


def _resolve(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dotted path of the kit object ``node`` stands for, or None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call) and node.args:
        func, first = node.func, node.args[0]
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        text = first.value if isinstance(first, ast.Constant) else None
        if name in _IMPORTERS and isinstance(text, str) and _kit(text):
            return text
        if name == "getattr" and len(node.args) >= 2:
            base = _resolve(first, aliases)
            attr = node.args[1]
            if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                return f"{base}.{attr.value}"
            if base:
                return f"{base}.<getattr>"
    return None


def kit_calls(source: str, names: Iterable[str], aliases: dict[str, str] | None = None
              ) -> list[str]:
    """Which of the kit functions ``names`` the code ``source`` refers to (sorted).

    ``aliases`` maps names bound elsewhere (another cell's imports) to what they stand
    for, e.g. ``{"pk": "peprkit"}``; ``peprkit`` itself always stands for the kit (every
    rerun of an answer cell imports it). Looking functions up by name (``getattr`` on the
    kit, ``importlib``, ``__import__``, ``exec``, ``eval``, ``sys.modules`` ...) is reported
    as :data:`DYNAMIC`.

    >>> kit_calls("from peprkit.metric import normalize as n\\ny = n(x)", ["normalize"])
    ['normalize']
    >>> kit_calls("y = getattr(peprkit, 'pe' + 'pr')(p, r)", ["pepr"])
    ['<a lookup by name>']
    """
    wanted = set(names)
    tree = _parse(source)
    if tree is None:
        return []
    known = {"peprkit": "peprkit", **(aliases or {})}
    star = False
    for _ in range(3):  # imports, then assignments of kit objects to other names
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if _kit(a.name):
                        known[a.asname or a.name.split(".")[0]] = a.name if a.asname else "peprkit"
            elif isinstance(node, ast.ImportFrom) and _kit(node.module):
                for a in node.names:
                    star |= a.name == "*"
                    known[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name):
                path = _resolve(node.value, known)
                if _kit(path):
                    known[node.targets[0].id] = path
    found = set()
    for node in ast.walk(tree):
        path = _resolve(node, known)
        if _kit(path):
            last = path.rsplit(".", 1)[-1]
            if last in wanted:
                found.add(last)
            elif last in ("<getattr>", "__dict__"):
                found.add(DYNAMIC)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) and func.attr in _IMPORTERS
                + ("reload",) else "")
            if name in _DYNAMIC_CALLS:
                found.add(DYNAMIC)
        elif isinstance(node, ast.Attribute) and node.attr == "modules" and isinstance(
                node.value, ast.Name) and node.value.id == "sys":
            found.add(DYNAMIC)
        elif star and isinstance(node, ast.Name) and node.id in wanted:
            found.add(node.id)
    return sorted(found)


def _refused(name: str) -> None:
    for called in _active:
        called.add(name)
    if name == DYNAMIC:
        raise ByHand("This exercise asks you to compute it by hand, and your answer looks "
                     "code up by name (getattr, importlib, exec, eval, sys.modules): write "
                     "the formula yourself (plain Python, numpy or pandas).")
    raise ByHand(f"peprkit.{name} is the kit's own function, and this exercise asks you "
                 "to compute it by hand: write the formula yourself (plain Python, numpy "
                 "or pandas).")


def _stub(name: str, code: types.CodeType) -> types.CodeType:
    """A code object that calls :func:`_refused` (run with the kit function's globals,
    it reaches this module by import)."""
    text = (f"def {name}(*args, **kwargs):\n"
            f"    import peprkit.checks._byhand as by_hand\n"
            f"    by_hand._refused({name!r})\n")
    scope: dict[str, Any] = {}
    exec(compile(text, "<peprkit: by hand>", "exec"), scope)  # noqa: S102  (fixed text)
    return scope[name].__code__


@contextlib.contextmanager
def refusing(names: Iterable[str]) -> Iterator[set[str]]:
    """While it lasts, the kit functions ``names`` raise :class:`ByHand` when called, by
    whatever name and from wherever (the kit's own modules too); yields the set of the
    names that were called (also when the learner's code caught the error).

    >>> import peprkit
    >>> with refusing(["normalize"]) as called:
    ...     try:
    ...         peprkit.normalize([1.0, 2.0])
    ...     except ByHand:
    ...         pass
    >>> called, peprkit.normalize([1.0, 3.0]).tolist()
    ({'normalize'}, [0.0, 1.0])
    """
    swapped = []
    called: set[str] = set()
    try:
        for name in names:
            func = getattr(importlib.import_module(KIT_FUNCTIONS[name]), name)
            if isinstance(func, types.FunctionType) and not func.__code__.co_freevars:
                swapped.append((func, func.__code__))
                func.__code__ = _stub(name, func.__code__)
        _active.append(called)
        yield called
    finally:
        for func, code in swapped:
            func.__code__ = code
        if called in _active:
            _active.remove(called)


def _function_text(func: Any) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def check_function(func: Any, names: Iterable[str]) -> None:
    """Fail with :class:`ByHand` when the learner's function ``func`` (one defined in this
    process; the grader checks its own copies) refers to the kit functions ``names``."""
    if not isinstance(func, types.FunctionType):
        return
    aliases = {k: getattr(v, "__name__", "") for k, v in func.__globals__.items()
               if isinstance(v, types.ModuleType)}
    aliases.update({k: f"{v.__module__}.{v.__name__}" for k, v in func.__globals__.items()
                    if isinstance(v, types.FunctionType) and _kit(v.__module__)})
    used = kit_calls(_function_text(func), names, aliases)
    if used:
        _refused(used[0])


def local(func: Any) -> bool:
    """True for a learner's function that runs in this process (not the grader's
    stand-in for a function that runs in a sandbox)."""
    return isinstance(func, types.FunctionType)


def answer_source(outputs: Iterable[str]) -> tuple[str, list[str]] | None:
    """The notebook cell that last assigned one of ``outputs`` in this IPython session,
    with the imports of every cell run so far; None outside IPython or when no cell did.

    >>> answer_source(["x"]) is None  # not in a notebook
    True
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    history = list(shell.user_ns.get("In", [])) if shell is not None else []
    wanted, imports, cell = set(outputs), [], None
    for source in history:
        tree = _parse(str(source))
        if tree is None:
            continue
        imports += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import,
                                                                        ast.ImportFrom))]
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)}
        if stored & wanted:
            cell = str(source)
    return None if cell is None else (cell, imports)


def check_cells(outputs: Iterable[str], names: Iterable[str]) -> None:
    """Fail with :class:`ByHand` when the notebook cell that last assigned one of
    ``outputs`` (in this IPython session; nothing to do elsewhere) refers to the kit
    functions ``names``, through the notebook's imports."""
    found = answer_source(outputs)
    if found is not None:
        cell, imports = found
        used = kit_calls("\n".join([*imports, cell]), names)
        if used:
            _refused(used[0])


def answer_uses(outputs: Iterable[str], column: str) -> bool:
    """Whether the notebook cell that last assigned one of ``outputs`` reads the column
    ``column`` (as ``frame["column"]``, ``frame.column`` or the name in a list); False
    outside IPython. Checks use it to tell a slip that happens to give the right value on
    the learner's own run, e.g. a choice made on ``test_acc`` instead of ``val_acc``.

    >>> answer_uses(["best"], "test_acc")  # not in a notebook
    False
    """
    found = answer_source(outputs)
    tree = _parse(found[0]) if found is not None else None
    return tree is not None and any(
        (isinstance(node, ast.Constant) and node.value == column)
        or (isinstance(node, ast.Attribute) and node.attr == column)
        for node in ast.walk(tree))
