"""Hidden tests and grading hooks of lesson 03 (best epoch, energy saved).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson03`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import lesson03 as checks
from peprkit.checks._common import CheckFailed, answered, close, number
from peprkit.course.hidden import _inputs

#: The master these hooks belong to.
GRADED_LESSON = "03_finetune_one_model"
#: Names the grader rebuilds itself (:func:`grading_context`) from the run's files
#: instead of reading them from the notebook.
CONTEXT = ("history", "early", "REFERENCE_KWH")
#: Where the lesson's runs go (its RUN_DIR).
RUN_DIR = "runs/03_finetune_one_model"
#: The notebook's reference length in epochs (its parameters cell).
_REFERENCE_EPOCHS = 10


def grading_parameters(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: another length of the
    energy reference, so that an epoch or a saving typed in from another run does not fit.

    >>> p = grading_parameters(np.random.default_rng(0))
    >>> 5 <= p["REFERENCE_EPOCHS"] <= 20 and p["REFERENCE_EPOCHS"] != 10
    True
    """
    choices = [n for n in range(5, 21) if n != _REFERENCE_EPOCHS]
    return {"REFERENCE_EPOCHS": int(rng.choice(choices))}


def grading_context(parameters: dict[str, Any], folder: Any) -> dict[str, Any]:
    """The tests' context, rebuilt from the ``history.csv`` files the lesson's three runs
    wrote under ``runs/03_finetune_one_model/`` (``full``, ``early`` and ``reference``)
    and the reference length the grader injected, as the notebook computes it
    (``REFERENCE_KWH = REFERENCE_EPOCHS x the reference run's energy``).

    Raises:
        CheckFailed: a run's history is missing (or there are several).
    """
    full = _inputs.one_run(folder, f"{RUN_DIR}/full")[1]
    early = _inputs.one_run(folder, f"{RUN_DIR}/early")[1]
    reference = _inputs.one_run(folder, f"{RUN_DIR}/reference")[1]
    epochs = int(parameters.get("REFERENCE_EPOCHS", _REFERENCE_EPOCHS))
    return {"history": full, "early": _inputs.run(early),
            "REFERENCE_KWH": epochs * float(reference["energy_kwh"].iloc[-1])}


def _peaked_history(rng: np.random.Generator, avoid: set[int]) -> tuple[pd.DataFrame, float]:
    """A history and a reference whose PePR peak (validation, fixed reference) is one
    clear epoch, not the most accurate one, not the min-max peak, not the test-split
    peak, and none of the epochs in ``avoid``."""
    while True:
        epochs = int(rng.integers(4, 13))
        best = int(rng.integers(2, epochs))
        if best in avoid:
            continue
        frame = _inputs.history(rng, epochs=epochs,
                                energy_per_epoch_kwh=float(10 ** rng.uniform(-6, -3)))
        energy = frame["energy_kwh"].to_numpy()
        reference = float(energy[-1] * rng.uniform(0.3, 5.0))
        r = energy / reference
        margin = np.where(np.arange(1, epochs + 1) < best, rng.uniform(0.02, 0.3, epochs),
                          rng.uniform(0.005, 0.08, epochs))
        margin[best - 1] = 0.0
        score = rng.uniform(0.55, 0.97) / (1.0 + r[-1]) * (1.0 - margin)
        frame["val_acc"] = score * (1.0 + r)
        frame["test_acc"] = np.clip(frame["val_acc"] + rng.uniform(-0.06, 0.04, epochs), 0, 1)
        span = energy - energy[0]
        peaks = (int(np.argmax(frame["val_acc"])) + 1,
                 checks.peak_epoch(frame, "val_acc", span / span[-1]),
                 checks.peak_epoch(frame, "test_acc", r))
        if best not in peaks and _inputs.distinct(frame["val_acc"]):
            return frame, reference


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again on other histories and
    references, each peaking at another epoch; the kit's ``pepr_curve`` and
    ``pepr_optimum`` are refused (the exercise says by hand).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q1(answer_cells([
    ...     'score = history["val_acc"] / (1 + history["energy_kwh"] / REFERENCE_KWH)\\n'
    ...     'best_epoch_by_hand = int(history["epoch"][score.idxmax()])']))
    >>> hidden_q1(answer_cells(["best_epoch_by_hand = 3"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: best_epoch_by_hand is wrong on other runs ...
    """
    rng = _inputs.draws("03", "q1", rng)
    rerun = _inputs.by_hand(rerun, checks.BY_HAND)  # no pepr_curve, pepr_optimum
    seen: set[int] = set()
    for _ in range(3):
        frame, reference = _peaked_history(rng, seen)
        best = checks.peak_epoch(frame, "val_acc", frame["energy_kwh"].to_numpy() / reference)
        seen.add(best)
        got = rerun(["best_epoch_by_hand"], history=frame, REFERENCE_KWH=reference)
        value = got["best_epoch_by_hand"]
        answered(value, "best_epoch_by_hand")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise CheckFailed("`best_epoch_by_hand` should be one epoch number (an int).")
        if int(value) != best:
            raise CheckFailed("best_epoch_by_hand is wrong on other runs (other histories "
                              "and references): compute it from history and REFERENCE_KWH.")


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on other pairs of full and
    early-stopped runs.

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q2(answer_cells([
    ...     'energy_saved_kwh = history["energy_kwh"].iloc[-1] - '
    ...     'early.history["energy_kwh"].iloc[-1]',
    ...     'saved_fraction = energy_saved_kwh / history["energy_kwh"].iloc[-1]']))
    >>> hidden_q2(answer_cells(["energy_saved_kwh = 2.1e-5", "saved_fraction = 0.4"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: energy_saved_kwh is wrong on other runs ...
    """
    rng = _inputs.draws("03", "q2", rng)
    for _ in range(3):
        epochs = int(rng.integers(3, 13))
        per_epoch = float(10 ** rng.uniform(-6, -3))
        full = _inputs.history(rng, epochs=epochs, energy_per_epoch_kwh=per_epoch)
        early = _inputs.history(rng, epochs=int(rng.integers(1, epochs)),
                                energy_per_epoch_kwh=per_epoch)
        got = rerun(["energy_saved_kwh", "saved_fraction"], history=full,
                    early=_inputs.run(early), run=_inputs.run(full))
        total, stopped = float(full["energy_kwh"].iloc[-1]), float(early["energy_kwh"].iloc[-1])
        for name, expected in (("energy_saved_kwh", total - stopped),
                               ("saved_fraction", (total - stopped) / total)):
            if not close(number(got[name], name), expected):
                raise CheckFailed(f"{name} is wrong on other runs (another full and "
                                  "early-stopped history): compute it from both histories.")
