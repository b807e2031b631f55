"""The import graph of peprkit: no cycles, and dependencies that point down the floors.

Every module under ``peprkit/`` is parsed with ``ast``; every ``import peprkit...`` and
``from peprkit... import`` (at the top or inside a function, relative ones too) is an
edge. :data:`FLOORS` says which floor each module lives on, lowest first; a module may
import its own floor and the ones below, never one above. A new module gets a line in
:data:`FLOORS` (a package's line covers its submodules; ``peprkit`` itself, whose
``__init__`` imports only the metric functions and loads the rest lazily, stands for the
top-level ``__init__`` alone).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "peprkit"

#: Floors of the house, lowest first: a module imports only its own floor and lower ones.
FLOORS: dict[str, tuple[str, ...]] = {
    "ground": ("peprkit", "peprkit.metric", "peprkit.schema", "peprkit._validation",
               "peprkit._paths", "peprkit._manifest", "peprkit._util", "peprkit._release",
               "peprkit._performance", "peprkit._sizes", "peprkit._synthetic",
               "peprkit._compare"),
    "measurement, inputs": ("peprkit.meter", "peprkit.data", "peprkit.models", "peprkit.paper",
                            "peprkit.examples", "peprkit.pool"),
    "runs": ("peprkit.train", "peprkit.sweep"),
    "showing": ("peprkit.plot", "peprkit.widgets", "peprkit.demo", "peprkit.conclude"),
    "offline workshops": ("peprkit.bundle",),
    "self-checks": ("peprkit.checks",),
    "teacher tools": ("peprkit.course",),
    "roof": ("peprkit.cli", "peprkit.__main__"),
}
#: Teacher code: no module outside it imports it, but the roof's command line
#: (:data:`TEACHER_USERS`); the self-checks (``peprkit.checks``) are learner code.
TEACHER = ("peprkit.course",)
#: The only modules outside :data:`TEACHER` that may import it.
TEACHER_USERS = ("peprkit.cli",)
#: Modules nothing imports (the roof's command line, and the notebook-only widgets).
NOT_IMPORTED = ("peprkit.cli", "peprkit.widgets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` refers to: itself, or the nearest enclosing package that exists."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names = [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "peprkit" or name.startswith("peprkit."):
                target = _resolve(name, modules)
                if target and target != module:
                    found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _floor(module: str) -> tuple[int, str] | None:
    best = None
    for level, (floor, prefixes) in enumerate(FLOORS.items()):
        for prefix in prefixes:
            covers_submodules = prefix != "peprkit"
            if module == prefix or (covers_submodules and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), level, floor)
    return None if best is None else best[1:]


def _floor_map(graph: dict[str, set[str]]) -> str:
    lines = ["Floors (lowest first) and what each module imports:"]
    for level, floor in enumerate(FLOORS):
        lines.append(f"  {level} {floor}:")
        for module in sorted(graph):
            where = _floor(module)
            if where is not None and where[0] == level:
                deps = ", ".join(sorted(graph[module])) or "-"
                lines.append(f"      {module} -> {deps}")
    unplaced = sorted(m for m in graph if _floor(m) is None)
    if unplaced:
        lines.append(f"  not on any floor: {', '.join(unplaced)}")
    return "\n".join(lines)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph.get(node, ()):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph()


def test_the_walk_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "peprkit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from peprkit.sub import high\n")
    (pkg / "sub" / "__init__.py").write_text("from . import high\n")
    (pkg / "sub" / "high.py").write_text("from .. import low\nimport peprkit.low as x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    graph = _graph()
    assert graph == {"peprkit": set(), "peprkit.low": {"peprkit.sub.high"},
                     "peprkit.sub": {"peprkit.sub.high"}, "peprkit.sub.high": {"peprkit.low"}}
    assert _cycles(graph) == [["peprkit.low", "peprkit.sub.high"]]


def test_every_module_is_on_a_floor(graph):
    unplaced = sorted(m for m in graph if _floor(m) is None)
    assert not unplaced, (f"Add these modules to FLOORS in {Path(__file__).name}: "
                          f"{', '.join(unplaced)}\n{_floor_map(graph)}")


def test_no_import_cycles(graph):
    cycles = _cycles(graph)
    assert not cycles, ("Import cycles (each line: modules that reach each other):\n"
                        + "\n".join("  " + " <-> ".join(c) for c in cycles)
                        + "\n" + _floor_map(graph))


def test_no_module_imports_a_higher_floor(graph):
    upward = []
    for module, deps in sorted(graph.items()):
        here = _floor(module)
        for dep in sorted(deps):
            there = _floor(dep)
            if here is not None and there is not None and there[0] > here[0]:
                upward.append(f"  {module} ({here[1]}) imports {dep} ({there[1]})")
    assert not upward, "Upward imports:\n" + "\n".join(upward) + "\n" + _floor_map(graph)


def test_ground_floor_imports_only_the_ground_floor(graph):
    ground = [m for m in graph if (_floor(m) or (None,))[0] == 0]
    assert "peprkit._paths" in ground and "peprkit._manifest" in ground
    bad = [f"  {m} imports {d}" for m in sorted(ground) for d in sorted(graph[m])
           if (_floor(d) or (None,))[0] != 0]
    assert not bad, "The ground floor climbs:\n" + "\n".join(bad) + "\n" + _floor_map(graph)


def _teacher(module: str) -> bool:
    return any(module == t or module.startswith(t + ".") for t in TEACHER)


def test_learner_code_never_imports_teacher_code(graph):
    learner = [m for m in graph if not _teacher(m) and m not in TEACHER_USERS]
    assert "peprkit.checks" in learner and "peprkit.checks.lesson03" in learner
    bad = [f"  {m} imports {d}" for m in sorted(learner) for d in sorted(graph[m]) if _teacher(d)]
    assert not bad, ("Modules outside peprkit.course import it (only "
                     f"{', '.join(TEACHER_USERS)} may):\n" + "\n".join(bad))


def test_the_teacher_rule_sees_a_learner_module_importing_course(tmp_path, monkeypatch):
    pkg = tmp_path / "peprkit"
    (pkg / "checks").mkdir(parents=True)
    (pkg / "course").mkdir()
    for init in (pkg, pkg / "checks", pkg / "course"):
        (init / "__init__.py").write_text("")
    (pkg / "checks" / "lesson01.py").write_text("def q1():\n    from peprkit.course import x\n")
    (pkg / "course" / "x.py").write_text("from peprkit.checks import lesson01\n")
    (pkg / "cli.py").write_text("import peprkit.course.x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    graph = _graph()
    bad = {m for m in graph if not _teacher(m) and m not in TEACHER_USERS
           and any(_teacher(d) for d in graph[m])}
    assert bad == {"peprkit.checks.lesson01"}


def test_nothing_imports_cli_or_widgets(graph):
    bad = [f"  {m} imports {d}" for m, deps in sorted(graph.items()) for d in sorted(deps)
           if d in NOT_IMPORTED and not m.startswith(d + ".")]
    assert not bad, "\n".join(bad) + "\n" + _floor_map(graph)


def test_import_peprkit_and_the_file_lookup_load_no_bundle_or_course():
    code = ("import sys, peprkit, peprkit._paths, peprkit.data, peprkit.models\n"
            "print(sorted(m for m in sys.modules if m.startswith('peprkit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = ast.literal_eval(out)
    assert "peprkit._manifest" in loaded
    assert not [m for m in loaded if m.startswith(("peprkit.bundle", "peprkit.course"))], loaded
