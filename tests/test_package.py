"""Packaging: the import stays light; environment*.yml and the README match pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "torch", "timm", "medmnist", "matplotlib", "scipy", "pynvml", "ipywidgets",
         "otter")


def test_import_peprkit_is_light():
    code = (
        "import sys, peprkit; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import peprkit pulled in: {out.stdout.strip()}"


def _requirements(pyproject: dict, extra: str) -> set[str]:
    reqs: set[str] = set()
    for req in pyproject["project"]["optional-dependencies"][extra]:
        match = re.fullmatch(r"peprkit\[(.+)\]", req)
        if match:
            for sub in match.group(1).split(","):
                reqs |= _requirements(pyproject, sub.strip())
        else:
            reqs.add(req)
    return reqs


ENV_FILES = ("environment.yml", "environment-cpu.yml")


@pytest.mark.parametrize("name", ENV_FILES)
def test_environment_yml_lists_the_all_extra(name):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    expected = set(pyproject["project"]["dependencies"]) | _requirements(pyproject, "all")
    env_lines = (ROOT / name).read_text().splitlines()
    start = next(i for i, line in enumerate(env_lines) if line.strip() == "- pip:")
    listed = {
        line.strip()[2:]
        for line in env_lines[start + 1 :]
        if line.strip().startswith("- ") and not line.strip().startswith("- -")
    }
    assert listed == expected, (
        f"only in environment.yml: {sorted(listed - expected)}; "
        f"only in pyproject: {sorted(expected - listed)}"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make release-check" in readme and "make release-check" in ci
    assert "release-check:" in (ROOT / "Makefile").read_text()


def _supported(spec: str, minors=range(6, 17)) -> list[str]:
    """The Python 3.x versions (x in ``minors``) that the specifier ``spec`` allows."""
    specifiers = pytest.importorskip("packaging.specifiers")
    allowed = specifiers.SpecifierSet(spec)
    return [f"3.{m}" for m in minors if allowed.contains(f"3.{m}.0")]


@pytest.mark.parametrize("name", ENV_FILES)
def test_environment_yml_and_pyproject_agree_on_python(name):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    classified = [c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                  if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    supported = [v for v in _supported(project["requires-python"]) if v in classified]
    assert supported == classified, "a classifier names a version requires-python excludes"
    line = next(x.strip()[2:] for x in (ROOT / name).read_text().splitlines()
                if re.match(r"\s*- python\b", x))
    assert _supported(line.removeprefix("python")) == supported, (name, line, supported)
    readme = (ROOT / "README.md").read_text()
    assert f"Python {supported[0]}–{supported[-1]}" in readme, "README states another range"


def test_cpu_environment_takes_torch_from_the_cpu_index():
    text = (ROOT / "environment-cpu.yml").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    makefile = (ROOT / "Makefile").read_text()
    assert "https://download.pytorch.org/whl/cpu" in makefile and "TORCH" in makefile
