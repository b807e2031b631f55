"""Packaging: the import stays light, and environment.yml matches pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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


def test_environment_yml_lists_the_all_extra():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    expected = set(pyproject["project"]["dependencies"]) | _requirements(pyproject, "all")
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(env_lines) if line.strip() == "- pip:")
    listed = {
        line.strip()[2:]
        for line in env_lines[start + 1 :]
        if line.strip().startswith("- ") and not line.strip().startswith("- -e")
    }
    assert listed == expected, (
        f"only in environment.yml: {sorted(listed - expected)}; "
        f"only in pyproject: {sorted(expected - listed)}"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
