"""The learner's submit check: reruns the saved notebook as the grader will, changes nothing."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("IPython")

from peprkit.checks import _submit  # noqa: E402
from peprkit.cli import main  # noqa: E402

GOOD_NORMALIZE = ("def normalize_by_hand(values):\n    lo, hi = min(values), max(values)\n"
                  "    return [(v - lo) / (hi - lo) for v in values]")
GOOD_PEPR = "def pepr_by_hand(p, r):\n    return p / (1 + r)"


def _notebook(path, *, pepr=GOOD_PEPR, extra=()):
    sources = ["from peprkit import checks", GOOD_NORMALIZE,
               "checks.lesson01.q1(normalize_by_hand)", pepr,
               "checks.lesson01.q2(pepr_by_hand)", *extra,
               "from peprkit.checks._submit import ready_to_submit\n\nready_to_submit()"]
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [],
              "execution_count": None, "source": s} for i, s in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def test_a_ready_notebook_passes_and_nothing_changes(tmp_path, capsys):
    nb = _notebook(tmp_path / "mine.ipynb")
    before = (nb.read_bytes(), os.stat(nb).st_mtime_ns, sorted(os.listdir(tmp_path)))
    assert main(["check-submission", str(nb)]) == 0
    out = capsys.readouterr().out
    assert "q1: pass" in out and "q2: pass" in out and "Ready to submit: yes" in out
    assert "Cells that raised: none" in out and "of the grader's 1200 s limit" in out
    assert "could not tell" in out
    assert (nb.read_bytes(), os.stat(nb).st_mtime_ns, sorted(os.listdir(tmp_path))) == before


def test_failing_checks_and_raising_cells_are_named(tmp_path, capsys):
    nb = _notebook(tmp_path / "mine.ipynb", pepr="def pepr_by_hand(p, r):\n    return p",
                   extra=["1 / 0"])
    found = _submit.ready_to_submit(nb, show=True)
    out = capsys.readouterr().out
    assert not found.ok and found.checks["q1"] == "pass"
    assert found.checks["q2"].startswith("CheckFailed") or "q2: FAIL" in out
    assert any(r.startswith("cell 6: ZeroDivisionError") for r in found.raised)
    assert "Ready to submit: not yet" in out
    assert main(["check-submission", str(nb)]) == 1


def test_a_notebook_past_the_time_limit_is_not_ready(tmp_path):
    nb = _notebook(tmp_path / "slow.ipynb", extra=["import time\ntime.sleep(60)"])
    found = _submit.ready_to_submit(nb, timeout_s=8, show=False)
    assert not found.finished and not found.ok and "limit of 8 s" in found.notes[0]


def test_it_does_nothing_inside_the_grader(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".grading").mkdir()
    assert _submit.ready_to_submit(_notebook(tmp_path / "x.ipynb")) is None


def test_a_missing_notebook_is_explained(tmp_path, capsys):
    found = _submit.ready_to_submit(tmp_path / "nope.ipynb")
    assert found.notebook is None and "Colab" in capsys.readouterr().out
    assert main(["check-submission", str(tmp_path / "nope.ipynb")]) == 2
