"""Early stopping at the peak of the PePR curve, keeping the weights of that epoch.

After epoch t the score is ``PePR_t = val_acc_t / (1 + R_t)`` with
``R_t = energy_kwh_t / budget_kwh`` (the cumulative energy against a fixed budget, via
:func:`peprkit.metric.pepr_curve` with ``reference=``, so the score of an epoch does not
change when later epochs are added). Training stops when the best epoch is ``patience``
epochs old; the model then gets the best epoch's weights back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peprkit.metric import pepr_curve


class PeprStop:
    """Tracks the PePR-best epoch and its weights.

    Args:
        budget_kwh: the energy budget R is measured against (kWh, > 0).
        patience: epochs without a better score before stopping (>= 1).
    """

    def __init__(self, *, budget_kwh: float, patience: int) -> None:
        self.budget_kwh = budget_kwh
        self.patience = patience
        self.best_epoch: int | None = None
        self.best_state: dict | None = None

    def scores(self, history: list[dict]) -> np.ndarray:
        """``PePR_t`` of every epoch of ``history``."""
        curve = pepr_curve([row["val_acc"] for row in history],
                           [row["energy_kwh"] for row in history], reference=self.budget_kwh)
        return curve["pepr"].to_numpy()

    def update(self, history: list[dict], model: Any) -> bool:
        """Score the last epoch (stored as ``pepr_budget``), keep the weights when it is the
        best so far (ties go to the earlier epoch); True when training should stop."""
        scores = self.scores(history)
        history[-1]["pepr_budget"] = float(scores[-1])
        best = int(history[int(np.argmax(scores))]["epoch"])
        epoch = int(history[-1]["epoch"])
        if best == epoch:
            self.best_state = {k: v.detach().to("cpu", copy=True)
                               for k, v in model.state_dict().items()}
        self.best_epoch = best
        return epoch - best >= self.patience

    def restore(self, model: Any) -> bool:
        """Load the best epoch's weights into ``model``; False when they are not kept."""
        if self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True
