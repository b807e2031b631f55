"""Self-checks for lesson 03, fine-tuning one model: the PePR-optimal epoch and energy saved.

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._byhand import answer_uses, check_cells
from peprkit.checks._common import CheckFailed, answered, close, number, sealed

#: The kit's functions the by-hand exercise refuses (q1).
BY_HAND = ("pepr_curve", "pepr_optimum")


def peak_epoch(history: pd.DataFrame, performance: str, r: np.ndarray) -> int:
    """The epoch where ``performance / (1 + r)`` peaks (``r``: normalised resource)."""
    score = history[performance].to_numpy(dtype=float) / (1.0 + r)
    return int(history["epoch"].to_numpy()[int(np.argmax(score))])


@sealed
def q1(best_epoch_by_hand: Any, *, history: pd.DataFrame, reference_kwh: float) -> None:
    """The epoch of ``P_ePRc*`` chosen on validation accuracy, with the run's cumulative
    energy normalised against a fixed reference: ``val_acc / (1 + energy_kwh / reference)``.

    >>> h = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.5, 0.8, 0.82],
    ...                   "test_acc": [0.5, 0.8, 0.9], "energy_kwh": [1.0, 2.0, 3.0]})
    >>> q1(2, history=h, reference_kwh=10.0)
    """
    answered(best_epoch_by_hand, "best_epoch_by_hand")
    check_cells(["best_epoch_by_hand"], BY_HAND)
    if answer_uses(["best_epoch_by_hand"], "test_acc"):
        raise CheckFailed("That epoch was chosen on the test split (your cell reads test_acc). "
                          "Choose it on val_acc: the test split is kept for the final report.")
    if isinstance(best_epoch_by_hand, (bool, np.bool_)) or not isinstance(
            best_epoch_by_hand, (int, np.integer)):
        raise CheckFailed("`best_epoch_by_hand` should be one epoch number (an int), "
                          "as in the history's `epoch` column.")
    epochs = history["epoch"].to_numpy()
    energy = history["energy_kwh"].to_numpy(dtype=float)
    r = energy / float(reference_kwh)
    best = peak_epoch(history, "val_acc", r)
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
    if got == peak_epoch(history, "val_acc", minmax):
        raise CheckFailed("That is the peak with R min-max normalised within the run. Here R "
                          "is the energy used so far over the fixed reference: "
                          "energy_kwh / REFERENCE_KWH.")
    if "test_acc" in history and got == peak_epoch(history, "test_acc", r):
        raise CheckFailed("That peak was chosen on the test split (test_acc). Choose the epoch on "
                          "the validation split (val_acc): the test split is kept for the "
                          "final report.")
    if got == int(epochs[int(history["val_acc"].to_numpy().argmax())]):
        raise CheckFailed("That is the most accurate epoch. PePR also charges for the "
                          "energy used so far: val_acc / (1 + energy_kwh / REFERENCE_KWH).")
    raise CheckFailed("Not yet: per epoch compute val_acc / (1 + energy_kwh / REFERENCE_KWH) "
                      "and take the epoch of the largest value.")


@sealed
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
