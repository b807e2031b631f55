"""Self-checks for lesson 00, setup: energy from power and time, and the meter's labels.

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from peprkit.course.checks import _hidden
from peprkit.course.checks._common import CheckFailed, answered, close, number
from peprkit.meter.reading import J_PER_KWH, Reading


def q1(energy_by_hand_kwh: Any, *, power_w: float, duration_s: float) -> None:
    """Energy in kWh of a workload drawing ``power_w`` watts for ``duration_s`` seconds.

    >>> q1(10 * 36 / 3.6e6, power_w=10, duration_s=36)
    >>> q1(10 * 36, power_w=10, duration_s=36)
    Traceback (most recent call last):
    ...
    peprkit.course.checks.CheckFailed: That is the energy in joules (watt-seconds). ...
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


def q2(cpu_source: Any, *, reading: Any) -> None:
    """The meter's source label for the CPU energy of ``reading``.

    >>> class R: sources = {"cpu": "estimated:cpu-utilisation"}
    >>> q2("estimated:cpu-utilisation", reading=R())
    """
    answered(cpu_source, "cpu_source")
    if not isinstance(cpu_source, str):
        raise CheckFailed(
            "`cpu_source` should be the label text (a string), as found in reading.sources."
        )
    if cpu_source != reading.sources["cpu"]:
        raise CheckFailed(
            "That is not the CPU's label: look it up in the reading's `sources` dict under "
            "the key 'cpu' (it starts with measured, estimated or unavailable)."
        )


# --- grading (used by `peprkit grade`; learners never need these) ---------------------
#: The master these hooks belong to.
GRADED_LESSON = "00_setup"
#: Names the grader rebuilds itself (:func:`grading_context`) instead of reading them
#: from the notebook. ``reading`` is not among them: the meter's reading lives in the
#: notebook's memory only (no file), so the public tests take the notebook's; the hidden
#: tests draw their own.
CONTEXT = ("POWER_W",)
#: The notebook's assumed power (its parameters cell).
_POWER_W = 15.0


def grading_parameters(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: another assumed power,
    so that an energy typed in from another run of the notebook does not fit.

    >>> p = grading_parameters(np.random.default_rng(0))
    >>> 5.0 <= p["POWER_W"] <= 250.0 and p["POWER_W"] != 15.0
    True
    """
    return {"POWER_W": _power(rng)}


def grading_context(parameters: dict[str, Any], folder: Any = None) -> dict[str, Any]:
    """The tests' context: the power the grader injected (the notebook's is not trusted).

    >>> grading_context({"POWER_W": 42.5})
    {'POWER_W': 42.5}
    """
    return {"POWER_W": float(parameters.get("POWER_W", _POWER_W))}


def _power(rng: np.random.Generator) -> float:
    while True:  # never the notebook's own value, so that a typed-in 15 W fails
        power = round(float(rng.uniform(5.0, 250.0)), 1)
        if abs(power - _POWER_W) > 1.0:
            return power


def _reading(rng: np.random.Generator, cpu_label: str | None = None) -> Reading:
    """A meter reading of a short workload, labelled like the meter labels it."""
    cpu = cpu_label or str(rng.choice(_hidden.CPU_LABELS))
    gpu = str(rng.choice([g for g in _hidden.GPU_LABELS if g != cpu]))
    ram = str(rng.choice([r for r in _hidden.RAM_LABELS if r not in (cpu, gpu)]))
    duration = float(10 ** rng.uniform(-0.5, 2.5))

    def kwh(label: str, watts: float) -> float | None:
        return None if label.startswith("unavailable") else watts * duration / J_PER_KWH

    labels = {"gpu": gpu, "cpu": cpu, "ram": ram,
              "gpu_memory": "unavailable" if gpu.startswith("unavailable")
              else "measured:torch-max-memory-reserved", "rss": "measured:rss-sampled"}
    order = [str(k) for k in rng.permutation(list(labels))]
    return Reading(
        "total", duration, kwh(gpu, rng.uniform(30, 300)), kwh(cpu, rng.uniform(5, 120)),
        kwh(ram, rng.uniform(1, 10)), {k: labels[k] for k in order},
        float(rng.uniform(20, 800)), "table", peak_rss_gb=float(rng.uniform(0.1, 4.0)),
        assumptions={"cpu_watts_per_core": 10.0, "ram_watts_per_gb": 0.375})


def _inputs(reading: Reading, **more: Any) -> dict[str, Any]:
    # the names the lesson's answer cells read, the reading also as the meter's total
    return {"reading": reading, "meter": SimpleNamespace(total=reading), **more}


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again with other assumed powers
    and other measured durations.

    >>> from peprkit.course.checks import answer_cells
    >>> hidden_q1(answer_cells(["energy_by_hand_kwh = POWER_W * reading.duration_s / 3.6e6"]))
    >>> hidden_q1(answer_cells(["energy_by_hand_kwh = 15.0 * 3.2 / 3.6e6"]))
    Traceback (most recent call last):
    ...
    peprkit.course.checks.CheckFailed: energy_by_hand_kwh is wrong on other inputs ...
    """
    rng = _hidden.draws("00", "q1", rng)
    for _ in range(3):
        reading = _reading(rng)
        power = _power(rng)
        got = rerun(["energy_by_hand_kwh"], **_inputs(reading, POWER_W=power))
        value = number(got["energy_by_hand_kwh"], "energy_by_hand_kwh", "kWh")
        if not close(value, power * reading.duration_s / J_PER_KWH):
            raise CheckFailed("energy_by_hand_kwh is wrong on other inputs (another assumed "
                              "power POWER_W, another reading): compute it from both.")


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on readings whose CPU was
    measured, estimated or unavailable.

    >>> from peprkit.course.checks import answer_cells
    >>> hidden_q2(answer_cells(['cpu_source = reading.sources["cpu"]']))
    >>> hidden_q2(answer_cells(['cpu_source = "estimated:cpu-utilisation"']))
    Traceback (most recent call last):
    ...
    peprkit.course.checks.CheckFailed: cpu_source is wrong on other readings: ...
    """
    rng = _hidden.draws("00", "q2", rng)
    for label in rng.choice(_hidden.CPU_LABELS, size=3, replace=False):
        reading = _reading(rng, cpu_label=str(label))
        got = rerun(["cpu_source"], **_inputs(reading))["cpu_source"]
        answered(got, "cpu_source")
        if not isinstance(got, str) or got != reading.sources["cpu"]:
            raise CheckFailed("cpu_source is wrong on other readings: take the label the "
                              "reading itself gives the CPU.")
