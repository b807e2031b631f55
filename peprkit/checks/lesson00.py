"""Self-checks for lesson 00, setup: energy from power and time, and the meter's labels.

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

from typing import Any

from peprkit.checks._common import CheckFailed, answered, close, number, sealed
from peprkit.meter.reading import J_PER_KWH


@sealed
def q1(energy_by_hand_kwh: Any, *, power_w: float, duration_s: float) -> None:
    """Energy in kWh of a workload drawing ``power_w`` watts for ``duration_s`` seconds.

    >>> q1(10 * 36 / 3.6e6, power_w=10, duration_s=36)
    >>> q1(10 * 36, power_w=10, duration_s=36)
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: That is the energy in joules (watt-seconds). ...
    """
    got = number(energy_by_hand_kwh, "energy_by_hand_kwh", "kWh")
    joules = power_w * duration_s
    if close(got, joules / J_PER_KWH):
        return
    if close(got, joules):
        raise CheckFailed(
            "That is the energy in joules (watt-seconds). One kWh is 1000 W for 3600 s: "
            "convert joules to kWh."
        )
    if close(got, joules / 3600) or close(got, joules / 1000):
        raise CheckFailed(
            "Half of the conversion is there: watts x seconds gives joules; divide by 3600 "
            "for watt-hours AND by 1000 for kilowatt-hours."
        )
    if close(got, power_w / duration_s) or close(got, power_w / duration_s / J_PER_KWH):
        raise CheckFailed("Energy is power multiplied by time, not divided by it.")
    raise CheckFailed(
        "Not yet: energy = power (W) x time (s), in joules, then converted to kWh. Use the "
        "duration the meter measured (reading.duration_s)."
    )


@sealed
def q2(cpu_source: Any, *, reading: Any) -> None:
    """The meter's source label for the CPU energy of ``reading``.

    >>> class R: sources = {"cpu": "estimated:cpu-time", "gpu": "unavailable"}
    >>> q2("estimated:cpu-time", reading=R())
    >>> q2("unavailable", reading=R())
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: That is the label of the gpu's energy, another component: ...
    """
    answered(cpu_source, "cpu_source")
    if not isinstance(cpu_source, str):
        raise CheckFailed(
            "`cpu_source` should be the label text (a string), as found in reading.sources."
        )
    others = [k for k, v in reading.sources.items() if k != "cpu" and v == cpu_source]
    if cpu_source != reading.sources["cpu"] and others:
        raise CheckFailed(
            f"That is the label of the {others[0]}'s energy, another component: the exercise "
            "asks for the CPU's, under the key 'cpu' of the reading's `sources` dict."
        )
    if cpu_source != reading.sources["cpu"]:
        raise CheckFailed(
            "That is not the CPU's label: look it up in the reading's `sources` dict under "
            "the key 'cpu' (it starts with measured, estimated or unavailable)."
        )
