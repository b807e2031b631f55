"""Hidden tests and grading hooks of lesson 00 (setup: energy, meter labels).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson00`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from peprkit.checks._common import CheckFailed, answered, close, number
from peprkit.course.hidden import _inputs
from peprkit.meter.reading import J_PER_KWH, Reading

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
    cpu = cpu_label or str(rng.choice(_inputs.CPU_LABELS))
    gpu = str(rng.choice([g for g in _inputs.GPU_LABELS if g != cpu]))
    ram = str(rng.choice([r for r in _inputs.RAM_LABELS if r not in (cpu, gpu)]))
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


def _cell_inputs(reading: Reading, **more: Any) -> dict[str, Any]:
    # the names the lesson's answer cells read, the reading also as the meter's total
    return {"reading": reading, "meter": SimpleNamespace(total=reading), **more}


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again with other assumed powers
    and other measured durations.

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q1(answer_cells(["energy_by_hand_kwh = POWER_W * reading.duration_s / 3.6e6"]))
    >>> hidden_q1(answer_cells(["energy_by_hand_kwh = 15.0 * 3.2 / 3.6e6"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: energy_by_hand_kwh is wrong on other inputs ...
    """
    rng = _inputs.draws("00", "q1", rng)
    for _ in range(3):
        reading = _reading(rng)
        power = _power(rng)
        got = rerun(["energy_by_hand_kwh"], **_cell_inputs(reading, POWER_W=power))
        value = number(got["energy_by_hand_kwh"], "energy_by_hand_kwh", "kWh")
        if not close(value, power * reading.duration_s / J_PER_KWH):
            raise CheckFailed("energy_by_hand_kwh is wrong on other inputs (another assumed "
                              "power POWER_W, another reading): compute it from both.")


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on readings whose CPU was
    measured, estimated or unavailable.

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q2(answer_cells(['cpu_source = reading.sources["cpu"]']))
    >>> hidden_q2(answer_cells(['cpu_source = "estimated:cpu-time"']))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: cpu_source is wrong on other readings: ...
    """
    rng = _inputs.draws("00", "q2", rng)
    for label in rng.choice(_inputs.CPU_LABELS, size=3, replace=False):
        reading = _reading(rng, cpu_label=str(label))
        got = rerun(["cpu_source"], **_cell_inputs(reading))["cpu_source"]
        answered(got, "cpu_source")
        if not isinstance(got, str) or got != reading.sources["cpu"]:
            raise CheckFailed("cpu_source is wrong on other readings: take the label the "
                              "reading itself gives the CPU.")
