"""Self-checks for lesson 03, fine-tuning one model: the PePR-optimal epoch and energy saved.

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._common import answered, close, number
from peprkit.metric import pepr_optimum


def q1(best_epoch_by_hand: Any, history: pd.DataFrame) -> None:
    """The epoch of ``P_ePRc*`` (test accuracy over cumulative energy, min-max in the run).

    >>> h = pd.DataFrame({"epoch": [1, 2, 3], "test_acc": [0.5, 0.8, 0.82],
    ...                   "energy_kwh": [0.0, 1.0, 4.0]})
    >>> q1(2, h)
    """
    answered(best_epoch_by_hand, "best_epoch_by_hand")
    if isinstance(best_epoch_by_hand, (bool, np.bool_)) or not isinstance(
            best_epoch_by_hand, (int, np.integer)):
        raise AssertionError("`best_epoch_by_hand` should be one epoch number (an int), "
                             "as in the history's `epoch` column.")
    epochs = history["epoch"].to_numpy()
    best = pepr_optimum(history["test_acc"], history["energy_kwh"], steps=epochs)
    got = int(best_epoch_by_hand)
    if got == best.step:
        return
    if got == best.position:
        raise AssertionError("That is a 0-based row position; answer with the value of the "
                             "`epoch` column in that row.")
    if got == int(epochs[int(history["test_acc"].to_numpy().argmax())]):
        raise AssertionError("That is the most accurate epoch. PePR also charges for the "
                             "energy used so far: P / (1 + R), R normalised within the run.")
    if got not in set(epochs.tolist()):
        raise AssertionError("That epoch is not in the history; pick a value of its "
                             "`epoch` column.")
    raise AssertionError("Not yet: normalise cumulative energy_kwh to [0, 1] within this run "
                         "(min-max), compute test_acc / (1 + R) per epoch, take the epoch of "
                         "the largest value.")


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
            raise AssertionError("The sign is flipped: saved = full run's energy minus the "
                                 "early-stopped run's energy.")
        raise AssertionError("`energy_saved_kwh` is off: compare the cumulative energy_kwh of "
                             "the LAST epoch of each run.")
    if not close(share, (total - stopped) / total):
        if close(share, 100 * (total - stopped) / total):
            raise AssertionError("`saved_fraction` should be a fraction in [0, 1], not a "
                                 "percentage.")
        raise AssertionError("`saved_fraction` is off: divide the energy saved by the full "
                             "run's energy.")
