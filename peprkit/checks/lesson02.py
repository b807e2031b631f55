"""Self-checks for lesson 02, measuring energy: carbon with PUE (q1), energy per image (q2).

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

from typing import Any

from peprkit.checks._byhand import check_cells
from peprkit.checks._common import CheckFailed, close, number, sealed
from peprkit.meter.carbon import co2_g

#: The kit's functions the by-hand exercise refuses (q1).
BY_HAND = ("co2_g",)


def _run_energy(run: Any) -> float:
    return float(run.history["energy_kwh"].iloc[-1])


@sealed
def q1(co2_by_hand_g: Any, *, energy_kwh: float, intensity_g_per_kwh: float, pue: float
       ) -> None:
    """CO2 (g) of ``energy_kwh`` on a grid of ``intensity_g_per_kwh`` in a data centre of ``pue``.

    >>> q1(1.5, energy_kwh=0.01, intensity_g_per_kwh=100, pue=1.5)
    >>> q1(0.0015, energy_kwh=0.01, intensity_g_per_kwh=100, pue=1.5)
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: That is kilograms: ...
    """
    got = number(co2_by_hand_g, "co2_by_hand_g", "g")
    check_cells(["co2_by_hand_g"], BY_HAND)
    expected = co2_g(energy_kwh, intensity_g_per_kwh=intensity_g_per_kwh, pue=pue)
    if close(got, expected):
        return
    if close(got, energy_kwh * intensity_g_per_kwh):
        raise CheckFailed("Close: the data centre's overhead is missing. PUE multiplies "
                             "the energy the computer drew.")
    if close(got, expected / 1000):
        raise CheckFailed("That is kilograms: the exercise asks for grams of CO2 (the grid "
                          "intensity is in g per kWh), so do not divide by 1000.")
    if close(got, energy_kwh * intensity_g_per_kwh / pue):
        raise CheckFailed("PUE (>= 1) is total facility energy over IT energy: multiply "
                             "by it, do not divide.")
    raise CheckFailed("Not yet: grams of CO2 = energy (kWh) x PUE x grid intensity "
                         "(g per kWh).")


@sealed
def q2(per_image_small: Any, per_image_large: Any, *, run_small: Any, run_large: Any,
       n_images: int) -> None:
    """Energy per training image (kWh) of two runs that differ only in batch size.

    >>> import pandas as pd
    >>> class R:
    ...     def __init__(self, e): self.history = pd.DataFrame({"energy_kwh": [e / 2, e]})
    >>> q2(0.02 / 100, 0.01 / 100, run_small=R(0.02), run_large=R(0.01), n_images=100)
    """
    pair = (number(per_image_small, "per_image_small", "kWh per image"),
            number(per_image_large, "per_image_large", "kWh per image"))
    expected = (_run_energy(run_small) / n_images, _run_energy(run_large) / n_images)
    if (not close(expected[0], expected[1]) and close(pair[0], expected[1])
            and close(pair[1], expected[0])):
        raise CheckFailed("Your two values are swapped: `per_image_small` belongs to the run "
                          "with the small batch (`run_small`), `per_image_large` to `run_large`.")
    for value, name, run in ((per_image_small, "per_image_small", run_small),
                             (per_image_large, "per_image_large", run_large)):
        got = number(value, name, "kWh per image")
        total = _run_energy(run)
        if close(got, total / n_images):
            continue
        if close(got, total):
            raise CheckFailed(f"`{name}` is the energy of the whole run: divide by the "
                                 "number of training images it processed.")
        if close(got, float(run.history["energy_kwh"].iloc[0]) / n_images):
            raise CheckFailed(f"`{name}` uses the first epoch's energy; history is "
                                 "cumulative, so take the last row.")
        raise CheckFailed(f"`{name}` is off: take the run's cumulative energy_kwh at its "
                             "last epoch and divide by the number of training images.")
