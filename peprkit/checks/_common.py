"""Small helpers shared by the lessons' self-checks (hints, never answers)."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


class CheckFailed(AssertionError):
    """A self-check that did not pass: its message is the hint.

    It is an ``AssertionError``, so otter, pytest and ``peprkit grade`` record a failure;
    in Jupyter, IPython and Colab it shows the hint alone, without a traceback through
    the kit's code (IPython calls ``_render_traceback_`` when it is there).

    >>> err = CheckFailed("divide by the range")
    >>> isinstance(err, AssertionError), err._render_traceback_()[-1]
    (True, 'divide by the range')
    """

    def _render_traceback_(self) -> list[str]:
        return ["\x1b[0;31mNot yet:\x1b[0m (self-check)", *str(self).splitlines()]


CheckFailed.__module__ = "peprkit.checks"


class ByHand(CheckFailed):
    """An exercise that asks for a computation by hand got the kit's own function for it
    (``peprkit.normalize`` for min-max normalisation, ...). Its message names only that
    function and the exercise, never an input or a value, so a grader may show it to the
    learner even when a hidden test raised it."""


ByHand.__module__ = "peprkit.checks"


def _library_dirs() -> tuple[str, ...]:
    import peprkit

    dirs = {os.path.dirname(os.path.abspath(peprkit.__file__)), sys.prefix, sys.base_prefix,
            sys.exec_prefix}
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)


def _scrub(err: BaseException) -> None:
    """Clear the local variables of every finished frame of library code (the kit's,
    numpy's, pandas' ...) in the tracebacks of ``err`` and of the exceptions chained to
    it: what a check computed (the expected answer) cannot be read back from them. The
    learner's own frames keep theirs (a debugger still shows where their code failed)."""
    library, seen, stack = _library_dirs(), set(), [err]
    while stack:
        exc = stack.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if os.path.realpath(name).startswith(library):
                try:
                    tb.tb_frame.clear()
                except RuntimeError:  # still running: the check's own wrapper
                    pass
            tb = tb.tb_next
        stack += [exc.__cause__, exc.__context__]


def sealed(check):
    """Decorate a self-check so that a failure leaves nothing of its computation behind:
    the exception it raises (a hint, or the learner's own error) carries no frame with
    the values the check computed, so an answer cell cannot read the expected answer off
    a failed check's traceback (``err.__traceback__``, ``sys.last_traceback``).

    >>> from peprkit.checks import lesson00
    >>> try:
    ...     lesson00.q1(1.0, power_w=10, duration_s=36)
    ... except CheckFailed as err:
    ...     tb, found = err.__traceback__, []
    ...     while tb:
    ...         found += list(tb.tb_frame.f_locals)
    ...         tb = tb.tb_next
    >>> "joules" in found
    False
    """
    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except BaseException as err:
            _scrub(err)
            raise
    return run


def answered(value: Any, name: str) -> None:
    """Fail with a hint when ``value`` is still the notebook's ``...`` placeholder (or None)."""
    if value is Ellipsis or value is None:
        raise CheckFailed(
            f"`{name}` is still empty: replace the `...` with your answer and run the cell again."
        )


def number(value: Any, name: str, unit: str = "") -> float:
    """``value`` as a float, or a hint that one number was expected."""
    answered(value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise CheckFailed(
            f"`{name}` should be a single number{f' in {unit}' if unit else ''}, got "
            f"{type(value).__name__}. If you have a one-row Series, take `.item()` or `float(...)`."
        )
    return float(value)


def result_of(func: Any, name: str, *args: Any,
              slips: Mapping[type[BaseException], str] | None = None) -> Any:
    """What the learner's function ``name`` returns for ``args``, or a hint when it is not a
    function yet, still returns the placeholder, or raises.

    A learner's slip must never crash the check: any exception the function raises (but
    a :class:`CheckFailed` of the kit's own, and ``KeyboardInterrupt``) becomes a
    :class:`CheckFailed` whose message is the hint of ``slips`` for that kind of error
    (the first whose class matches), else a hint naming the error. The learner's error
    stays chained (``__cause__``) for a debugger.

    >>> result_of(lambda x: x + 1, "inc", 1)
    2
    >>> result_of(lambda p, r: p / r, "pepr_by_hand", 0.9, 0.0,
    ...           slips={ZeroDivisionError: "did you forget the 1 + in the denominator?"})
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: did you forget the 1 + in the denominator?
    """
    answered(func, name)
    if not callable(func):
        raise CheckFailed(f"`{name}` should be a function (def {name}(...): ...).")
    try:
        result = func(*args)
    except CheckFailed:
        raise
    except Exception as err:  # the learner's code may raise anything: a hint, never a crash
        hint = next((text for kind, text in (slips or {}).items() if isinstance(err, kind)),
                    None)
        if hint is None:
            hint = (f"`{name}` raised {type(err).__name__} ({str(err)[:120] or 'no message'})"
                    " when the check called it: run it yourself on a small example, e.g. "
                    "the numbers in the exercise, and fix the line the error points to.")
        raise CheckFailed(hint) from err
    if result is None or result is Ellipsis:
        raise CheckFailed(
            f"`{name}` returned {result!r}: replace the `...` in its body and end it with "
            "`return <your result>`."
        )
    return result


#: A run learned something when its accuracy beats the majority-class baseline by more
#: than this (one point: about 2 of BreastMNIST's 156 test images); at or under it, the
#: run scores what always answering the commonest class scores.
LEARNED_MARGIN = 0.01


def learned(accuracy: Any, majority: Any, margin: float = LEARNED_MARGIN) -> np.ndarray:
    """Which runs learned something: ``accuracy - majority > margin``, element-wise.

    >>> learned([0.90, 0.737, 0.731], 0.731).tolist()
    [True, False, False]
    """
    acc = np.asarray(accuracy, dtype=float)
    return (acc - np.asarray(majority, dtype=float)) > margin


def never_learned(name: str, model: str, majority: float) -> str:
    """The hint for a chosen model that never beat the majority-class baseline.

    >>> never_learned("choice", "lcnet_050", 0.731)[:60]
    "`choice` = 'lcnet_050': this run never beat always answering"
    """
    return (f"`{name}` = {model!r}: this run never beat always answering the majority class "
            f"(majority_acc = {majority:.3f}) by more than one point, so it learned nothing, "
            "however cheap it is. Choose only among the runs with test_acc - majority_acc > "
            "0.01 (and answer None when there is none).")


def on_test_split(name: str, score: str) -> str:
    """The hint for a model chosen on the test split instead of the validation split.

    >>> "chosen on the test split" in on_test_split("deploy['e']", "pepr_e")
    True
    """
    return (f"`{name}` looks chosen on the test split (the best {score} with P = test_acc). "
            "Choose on validation (P = val_acc) and keep the test accuracy for reporting the "
            "chosen model: a model picked for its test score carries that luck into the "
            "number you report.")


def close(a: float, b: float, rtol: float = 1e-6) -> bool:
    """True when ``a`` and ``b`` agree (both infinite counts as equal)."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def values(answer: Any, name: str, n: int) -> np.ndarray:
    """``answer`` as a float array of length ``n``, or a hint about its shape."""
    answered(answer, name)
    try:
        arr = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        raise CheckFailed(
            f"`{name}` should hold numbers (a Series, array or list), got "
            f"{type(answer).__name__}."
        ) from None
    if arr.size != n:
        raise CheckFailed(f"`{name}` should hold {n} values (one per model), got {arr.size}.")
    return arr


def same(arr: np.ndarray, expected: Any) -> bool:
    """True when two arrays agree to floating-point precision."""
    return bool(np.allclose(arr, np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9))


def model_name(answer: Any, name: str, table: pd.DataFrame) -> str:
    """``answer`` as one of the table's model names, or a hint."""
    answered(answer, name)
    if not isinstance(answer, str):
        raise CheckFailed(
            f"`{name}` should be a model name (a string such as the ones in the `model` "
            f"column), got {type(answer).__name__}."
        )
    if answer not in set(table["model"].astype(str)):
        raise CheckFailed(
            f"`{name}`={answer!r} is not a model of your table; copy a name from its "
            "`model` column."
        )
    return answer


def columns(table: Any, name: str, required: list[str]) -> pd.DataFrame:
    """``table`` as a DataFrame holding ``required`` columns, or a hint naming the missing ones."""
    answered(table, name)
    if not isinstance(table, pd.DataFrame):
        raise CheckFailed(f"`{name}` should be a pandas DataFrame, got {type(table).__name__}.")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CheckFailed(f"`{name}` lacks the column(s) {missing}.")
    return table


def minmax_slips(got: np.ndarray, performance: Any, resource: Any, *, symbol: str, what: str,
                 unit: str, largest: str, cheapest: str) -> None:
    """Raise the hint for the two usual slips of a PePR computed by hand with min-max R.

    ``got`` is the learner's scores, ``performance`` and ``resource`` the raw columns:
    forgetting to normalise (``P / (1 + x)``) and dividing by the maximum only
    (``P / (1 + x / max)``). Returns when neither slip matches.

    >>> minmax_slips(np.array([0.5, 0.25]), [1.0, 1.0], [1.0, 3.0], symbol="t", what="time",
    ...              unit="seconds", largest="longest time", cheapest="fastest run")
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: PePR takes the normalised time, ...
    """
    p = np.asarray(performance, dtype=float)
    x = np.asarray(resource, dtype=float)
    if same(got, p / (1 + x)):
        raise CheckFailed(
            f"PePR takes the normalised {what}, R = ({symbol} - {symbol}_min) / "
            f"({symbol}_max - {symbol}_min), not {unit} as measured."
        )
    if x.max() > 0 and same(got, p / (1 + x / x.max())):
        raise CheckFailed(
            f"R looks divided by the {largest} only; min-max also subtracts the smallest, "
            f"so the {cheapest} gets R = 0."
        )
