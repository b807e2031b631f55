"""Self-checks of lessons 00-03: right answers pass; wrong ones get a hint, never the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peprkit import checks
from peprkit.examples import example_results
from peprkit.metric import add_pepr


def _fails(check, *args, hint: str, secret=None, **kwargs) -> str:
    with pytest.raises(AssertionError, match=hint) as info:
        check(*args, **kwargs)
    message = str(info.value)
    if secret is not None:
        assert f"{secret:.4g}" not in message and repr(secret) not in message
    return message


def test_lessons_load_lazily_and_unknown_names_fail():
    assert {"lesson00", "lesson01", "lesson02", "lesson03"} <= set(checks.__all__)
    with pytest.raises(AttributeError, match="lesson99"):
        checks.lesson99  # noqa: B018


# --- lesson 01 ----------------------------------------------------------------------
def test_l01_q1_accepts_lists_and_arrays():
    checks.lesson01.q1(lambda v: [(x - min(v)) / (max(v) - min(v)) for x in v])
    checks.lesson01.q1(lambda v: (np.asarray(v) - np.min(v)) / np.ptp(v))


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda v: None, r"returned None: replace the `\.\.\.`"),
        (lambda v: np.asarray(v) / max(v), "smallest value should become 0"),
        (lambda v: np.asarray(v) - min(v), "largest value should become 1"),
        (lambda v: np.sort((np.asarray(v) - min(v)) / np.ptp(v)), "order changed"),
        (lambda v: ((np.asarray(v) - min(v)) / np.ptp(v)) ** 2, "values in between"),
        (lambda v: [0.0, 1.0], "one value per input"),
        (..., "still empty"),
    ],
)
def test_l01_q1_hints(answer, hint):
    _fails(checks.lesson01.q1, answer, hint=hint)


def test_l01_q2():
    checks.lesson01.q2(lambda p, r: p / (1 + r))
    _fails(checks.lesson01.q2, lambda p, r: p / r if r else p, hint="one plus the resource")
    _fails(checks.lesson01.q2, lambda p, r: p * (1 - r), hint="ratio, not a difference")
    _fails(checks.lesson01.q2, lambda p, r: p / (2 + r), hint="with R = 0 the score equals P")
    _fails(checks.lesson01.q2, lambda p, r: "0.9", hint="single number")


def test_l01_q3():
    table = example_results()
    scored = add_pepr(table, performance="test_acc", resources={"e": "energy_kwh"})
    by_acc = list(scored.sort_values("test_acc", ascending=False)["model"])
    by_pepr = list(scored.sort_values("pepr_e", ascending=False)["model"])
    checks.lesson01.q3(by_acc, by_pepr, table=table)
    checks.lesson01.q3(pd.Series(by_acc), np.array(by_pepr), table=table)
    _fails(checks.lesson01.q3, by_acc[::-1], by_pepr, table=table, hint="reversed")
    _fails(checks.lesson01.q3, by_acc, by_acc, table=table, hint="not ordered by 'pepr_e'")
    _fails(checks.lesson01.q3, by_acc[:3], by_pepr, table=table, hint="every model")
    _fails(checks.lesson01.q3, "resnet18", by_pepr, table=table, hint="list of model names")


def test_l01_q4():
    t = pd.DataFrame({"model": ["a", "b", "c"], "test_acc": [0.8, 0.9, 0.9],
                      "energy_kwh": [1.0, 2.0, 4.0]})
    opts = {"table": t, "model": "b", "drop": "c", "budget_kwh": 2.0}
    checks.lesson01.q4(0.675, 0.45, 0.45, 0.45, **opts)
    _fails(checks.lesson01.q4, 0.45, 0.675, 0.45, 0.45, hint="other set", **opts)
    _fails(checks.lesson01.q4, 0.675, 0.5, 0.45, 0.45, hint="`minmax_without` is off",
           secret=0.45, **opts)
    _fails(checks.lesson01.q4, 0.675, 0.45, 0.675, 0.45, hint="fixed budget", **opts)
    _fails(checks.lesson01.q4, 0.675, 0.45, ..., 0.45, hint="still empty", **opts)


# --- lesson 00 ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (15 * 20, "joules"),
        (15 * 20 / 3600, "divide by 3600"),
        (15 * 20 / 1000, "divide by 3600"),
        (15 / 20 / 3.6e6, "not divided"),
        (1.0, "Use the duration the meter measured"),
        ("1e-4", "single number"),
    ],
)
def test_l00_q1_hints(answer, hint):
    _fails(checks.lesson00.q1, answer, power_w=15, duration_s=20, hint=hint, secret=300 / 3.6e6)


def test_l00_q1_and_q2_pass():
    checks.lesson00.q1(15 * 20 / 3.6e6, power_w=15, duration_s=20)

    class Reading:
        sources = {"cpu": "estimated:cpu-time", "gpu": "unavailable"}

    checks.lesson00.q2("estimated:cpu-time", reading=Reading())
    _fails(checks.lesson00.q2, "unavailable", reading=Reading(), hint="key 'cpu'")
    _fails(checks.lesson00.q2, 3, reading=Reading(), hint="label text")


# --- lesson 02 ----------------------------------------------------------------------
class _Run:
    def __init__(self, energies):
        self.history = pd.DataFrame({"energy_kwh": energies})


def test_l02_q1():
    opts = {"energy_kwh": 0.01, "intensity_g_per_kwh": 100.0, "pue": 1.5}
    checks.lesson02.q1(1.5, **opts)
    _fails(checks.lesson02.q1, 1.0, hint="overhead is missing", secret=1.5, **opts)
    _fails(checks.lesson02.q1, 1.0 / 1.5, hint="do not divide", **opts)
    _fails(checks.lesson02.q1, 7.0, hint="energy \\(kWh\\) x PUE x grid intensity", **opts)


def test_l02_q2():
    small, large = _Run([0.01, 0.02]), _Run([0.005, 0.01])
    checks.lesson02.q2(0.02 / 50, 0.01 / 50, run_small=small, run_large=large, n_images=50)
    opts = {"run_small": small, "run_large": large, "n_images": 50}
    _fails(checks.lesson02.q2, 0.02, 0.01 / 50, hint="whole run", **opts)
    _fails(checks.lesson02.q2, 0.01 / 50, 0.01 / 50, hint="first epoch", **opts)
    _fails(checks.lesson02.q2, 0.02 / 50, 0.3, hint="`per_image_large` is off", **opts)


# --- lesson 03 ----------------------------------------------------------------------
HISTORY = pd.DataFrame({"epoch": [1, 2, 3, 4], "test_acc": [0.5, 0.8, 0.82, 0.83],
                        "energy_kwh": [1.0, 2.0, 3.0, 4.0]})


def test_l03_q1():
    # P on validation, R = energy / reference: epoch 2; min-max R: 1; test_acc: 4; top val: 5
    h = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "val_acc": [0.60, 0.75, 0.80, 0.82, 0.83],
                      "test_acc": [0.60, 0.70, 0.75, 0.90, 0.91],
                      "energy_kwh": [1.0, 2.0, 3.0, 4.0, 5.0]})
    ref = {"history": h, "reference_kwh": 10.0}
    checks.lesson03.q1(2, **ref)
    checks.lesson03.q1(np.int64(2), **ref)
    _fails(checks.lesson03.q1, 1, hint="min-max normalised within the run", **ref)
    _fails(checks.lesson03.q1, 4, hint="chosen on the test split", **ref)
    _fails(checks.lesson03.q1, 5, hint="most accurate epoch", **ref)
    _fails(checks.lesson03.q1, 3, hint="val_acc / \\(1 \\+ energy_kwh / REFERENCE_KWH\\)", **ref)
    _fails(checks.lesson03.q1, 2.0, hint="one epoch number", **ref)
    _fails(checks.lesson03.q1, ..., hint="still empty", **ref)
    shifted = {"history": h.assign(epoch=h["epoch"] + 10), "reference_kwh": 10.0}
    checks.lesson03.q1(12, **shifted)
    _fails(checks.lesson03.q1, 1, hint="0-based row position", **shifted)
    _fails(checks.lesson03.q1, 99, hint="not in the history", **shifted)


def test_l03_q2():
    early = HISTORY.iloc[:2]
    checks.lesson03.q2(2.0, 0.5, full=HISTORY, early=early)
    _fails(checks.lesson03.q2, -2.0, 0.5, full=HISTORY, early=early, hint="sign is flipped")
    _fails(checks.lesson03.q2, 1.0, 0.5, full=HISTORY, early=early, hint="LAST epoch")
    _fails(checks.lesson03.q2, 2.0, 50.0, full=HISTORY, early=early, hint="not a percentage")
    _fails(checks.lesson03.q2, 2.0, 0.2, full=HISTORY, early=early, hint="divide the energy")


def test_a_failed_check_shows_the_hint_alone_in_ipython_and_still_fails_graded_runs():
    from IPython.core.interactiveshell import InteractiveShell

    with pytest.raises(AssertionError):  # otter, pytest and peprkit grade see a failure
        checks.lesson01.q2(lambda p, r: p * (1 - r))
    shell = InteractiveShell.instance()
    shell.user_ns["checks"] = checks
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = shell.run_cell("checks.lesson01.q2(lambda p, r: p * (1 - r))")
    assert not result.success and isinstance(result.error_in_exec, checks.CheckFailed)
    text = out.getvalue()
    assert "ratio, not a difference" in text
    assert "Traceback" not in text and "peprkit/checks" not in text


def test_checks_are_a_learner_package_loaded_lazily_without_the_teacher_tools():
    import subprocess
    import sys

    code = ("import sys, peprkit; assert 'peprkit.checks' not in sys.modules; "
            "from peprkit import checks; import peprkit.checks as again; "
            "assert checks is again and checks.__name__ == 'peprkit.checks'; "
            "assert checks.lesson01 is sys.modules['peprkit.checks.lesson01']; "
            f"[__import__('peprkit.checks.' + name) for name in {checks.LESSONS!r}]; "
            "loaded = [m for m in sys.modules if m.startswith('peprkit.course')]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("lesson", ["lesson01", "lesson03"])
def test_a_lesson_imports_in_a_fresh_interpreter(lesson):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", f"import peprkit.checks.{lesson}"], check=True)
