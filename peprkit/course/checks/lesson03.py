"""Self-checks for lesson 03, fine-tuning one model: the PePR-optimal epoch and energy saved.

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.course.checks import _hidden
from peprkit.course.checks._common import CheckFailed, answered, close, number


def _peak_epoch(history: pd.DataFrame, performance: str, r: np.ndarray) -> int:
    score = history[performance].to_numpy(dtype=float) / (1.0 + r)
    return int(history["epoch"].to_numpy()[int(np.argmax(score))])


def q1(best_epoch_by_hand: Any, *, history: pd.DataFrame, reference_kwh: float) -> None:
    """The epoch of ``P_ePRc*`` chosen on validation accuracy, with the run's cumulative
    energy normalised against a fixed reference: ``val_acc / (1 + energy_kwh / reference)``.

    >>> h = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.5, 0.8, 0.82],
    ...                   "test_acc": [0.5, 0.8, 0.9], "energy_kwh": [1.0, 2.0, 3.0]})
    >>> q1(2, history=h, reference_kwh=10.0)
    """
    answered(best_epoch_by_hand, "best_epoch_by_hand")
    if isinstance(best_epoch_by_hand, (bool, np.bool_)) or not isinstance(
            best_epoch_by_hand, (int, np.integer)):
        raise CheckFailed("`best_epoch_by_hand` should be one epoch number (an int), "
                          "as in the history's `epoch` column.")
    epochs = history["epoch"].to_numpy()
    energy = history["energy_kwh"].to_numpy(dtype=float)
    r = energy / float(reference_kwh)
    best = _peak_epoch(history, "val_acc", r)
    got = int(best_epoch_by_hand)
    if got == best:
        return
    if got not in set(epochs.tolist()):
        if 0 <= got < len(epochs) and int(epochs[got]) == best:
            raise CheckFailed("That is a 0-based row position; answer with the value of the "
                              "`epoch` column in that row.")
        raise CheckFailed("That epoch is not in the history; pick a value of its "
                          "`epoch` column.")
    span = energy.max() - energy.min()
    minmax = (energy - energy.min()) / span if span > 0 else np.zeros_like(energy)
    if got == _peak_epoch(history, "val_acc", minmax):
        raise CheckFailed("That is the peak with R min-max normalised within the run. Here R "
                          "is the energy used so far over the fixed reference: "
                          "energy_kwh / REFERENCE_KWH.")
    if "test_acc" in history and got == _peak_epoch(history, "test_acc", r):
        raise CheckFailed("That peak uses test_acc. Choose the epoch on the validation split "
                          "(val_acc): the test split is kept for the final report.")
    if got == int(epochs[int(history["val_acc"].to_numpy().argmax())]):
        raise CheckFailed("That is the most accurate epoch. PePR also charges for the "
                          "energy used so far: val_acc / (1 + energy_kwh / REFERENCE_KWH).")
    raise CheckFailed("Not yet: per epoch compute val_acc / (1 + energy_kwh / REFERENCE_KWH) "
                      "and take the epoch of the largest value.")


def q2(energy_saved_kwh: Any, saved_fraction: Any, *, full: pd.DataFrame,
       early: pd.DataFrame) -> None:
    """Energy (kWh) and share of the full run's energy saved by stopping early.

    >>> f = pd.DataFrame({"energy_kwh": [1.0, 2.0, 4.0]})
    >>> e = pd.DataFrame({"energy_kwh": [1.0, 2.0]})
    >>> q2(2.0, 0.5, full=f, early=e)
    """
    saved = number(energy_saved_kwh, "energy_saved_kwh", "kWh")
    share = number(saved_fraction, "saved_fraction")
    total, stopped = float(full["energy_kwh"].iloc[-1]), float(early["energy_kwh"].iloc[-1])
    if not close(saved, total - stopped):
        if close(saved, stopped - total):
            raise CheckFailed("The sign is flipped: saved = full run's energy minus the "
                                 "early-stopped run's energy.")
        raise CheckFailed("`energy_saved_kwh` is off: compare the cumulative energy_kwh of "
                             "the LAST epoch of each run.")
    if not close(share, (total - stopped) / total):
        if close(share, 100 * (total - stopped) / total):
            raise CheckFailed("`saved_fraction` should be a fraction in [0, 1], not a "
                                 "percentage.")
        raise CheckFailed("`saved_fraction` is off: divide the energy saved by the full "
                             "run's energy.")


# --- grading (used by `peprkit grade`; learners never need these) ---------------------
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
    full = _hidden.one_run(folder, f"{RUN_DIR}/full")[1]
    early = _hidden.one_run(folder, f"{RUN_DIR}/early")[1]
    reference = _hidden.one_run(folder, f"{RUN_DIR}/reference")[1]
    epochs = int(parameters.get("REFERENCE_EPOCHS", _REFERENCE_EPOCHS))
    return {"history": full, "early": _hidden.run(early),
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
        frame = _hidden.history(rng, epochs=epochs,
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
                 _peak_epoch(frame, "val_acc", span / span[-1]),
                 _peak_epoch(frame, "test_acc", r))
        if best not in peaks and _hidden.distinct(frame["val_acc"]):
            return frame, reference


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again on other histories and
    references, each peaking at another epoch.

    >>> from peprkit.course.checks import answer_cells
    >>> hidden_q1(answer_cells([
    ...     'score = history["val_acc"] / (1 + history["energy_kwh"] / REFERENCE_KWH)\\n'
    ...     'best_epoch_by_hand = int(history["epoch"][score.idxmax()])']))
    >>> hidden_q1(answer_cells(["best_epoch_by_hand = 3"]))
    Traceback (most recent call last):
    ...
    peprkit.course.checks.CheckFailed: best_epoch_by_hand is wrong on other runs ...
    """
    rng = _hidden.draws("03", "q1", rng)
    seen: set[int] = set()
    for _ in range(3):
        frame, reference = _peaked_history(rng, seen)
        best = _peak_epoch(frame, "val_acc", frame["energy_kwh"].to_numpy() / reference)
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

    >>> from peprkit.course.checks import answer_cells
    >>> hidden_q2(answer_cells([
    ...     'energy_saved_kwh = history["energy_kwh"].iloc[-1] - '
    ...     'early.history["energy_kwh"].iloc[-1]',
    ...     'saved_fraction = energy_saved_kwh / history["energy_kwh"].iloc[-1]']))
    >>> hidden_q2(answer_cells(["energy_saved_kwh = 2.1e-5", "saved_fraction = 0.4"]))
    Traceback (most recent call last):
    ...
    peprkit.course.checks.CheckFailed: energy_saved_kwh is wrong on other runs ...
    """
    rng = _hidden.draws("03", "q2", rng)
    for _ in range(3):
        epochs = int(rng.integers(3, 13))
        per_epoch = float(10 ** rng.uniform(-6, -3))
        full = _hidden.history(rng, epochs=epochs, energy_per_epoch_kwh=per_epoch)
        early = _hidden.history(rng, epochs=int(rng.integers(1, epochs)),
                                energy_per_epoch_kwh=per_epoch)
        got = rerun(["energy_saved_kwh", "saved_fraction"], history=full,
                    early=_hidden.run(early), run=_hidden.run(full))
        total, stopped = float(full["energy_kwh"].iloc[-1]), float(early["energy_kwh"].iloc[-1])
        for name, expected in (("energy_saved_kwh", total - stopped),
                               ("saved_fraction", (total - stopped) / total)):
            if not close(number(got[name], name), expected):
                raise CheckFailed(f"{name} is wrong on other runs (another full and "
                                  "early-stopped history): compute it from both histories.")
