"""Hidden tests and grading hooks of lesson 02 (carbon with PUE, energy per image).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson02`.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import numpy as np

from peprkit.checks._common import CheckFailed, close, number
from peprkit.checks.lesson02 import BY_HAND
from peprkit.course.hidden import _inputs
from peprkit.meter.carbon import co2_g

#: The master these hooks belong to.
GRADED_LESSON = "02_measuring_energy"
#: Names the grader rebuilds itself (:func:`grading_context`) instead of reading them
#: from the notebook. ``BUSY_KWH`` is not among them: the busy lap's energy lives in the
#: notebook's memory only (no file), so the public test takes the notebook's; the hidden
#: test draws its own.
CONTEXT = ("PUE", "INTENSITY", "run_small", "run_large", "n_images")
#: Where the lesson's runs go (its RUN_DIR).
RUN_DIR = "runs/02_measuring_energy"
#: The notebook's parameters the hooks fall back to when the grader injected none.
_DEFAULTS = {"PUE": 1.5, "COUNTRY": "DK", "BATCH_SIZES": (8, 64)}
_COUNTRIES = ("NO", "FR", "SE", "BR", "DK", "GB", "NL", "US", "DE", "CN", "PL", "IN")
#: A run folder's name (peprkit.train._checkpoint.run_folder): the settings of the run.
_RUN_NAME = re.compile(r"^(?P<model>.+)_(?P<dataset>[a-z0-9-]+?)(?P<size>28|64|128|224)_"
                       r"(?:pt|scratch)_f(?P<fraction>[0-9.e+-]+)_s(?P<seed>-?[0-9]+)_"
                       r"e(?P<epochs>[0-9]+)_lr[^_]+_b(?P<batch>[0-9]+)_[^_]+$")


def grading_parameters(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: another data-centre
    overhead and another country, so that carbon typed in from another run does not fit.

    >>> p = grading_parameters(np.random.default_rng(0))
    >>> 1.1 <= p["PUE"] <= 2.0 and p["COUNTRY"] in _COUNTRIES
    True
    """
    return {"PUE": round(float(rng.uniform(1.1, 2.0)), 2),
            "COUNTRY": str(rng.choice(_COUNTRIES))}


def grading_context(parameters: dict[str, Any], folder: Any) -> dict[str, Any]:
    """The tests' context, rebuilt by the grader: PUE and grid intensity from the
    parameters it injected, both runs from the ``history.csv`` the two fine-tunings
    wrote under ``runs/02_measuring_energy/batch<size>/``, and ``n_images`` from the
    training split those runs used (the dataset and fraction their folder names spell,
    counted in the stand-in file the lesson wrote, or in the real file where the grader
    finds it; left to the notebook when neither can be read).

    Raises:
        CheckFailed: a run's history is missing (or there are several).
    """
    from peprkit.meter.carbon import lookup_country

    country = str(parameters.get("COUNTRY", _DEFAULTS["COUNTRY"]))
    context: dict[str, Any] = {
        "PUE": float(parameters.get("PUE", _DEFAULTS["PUE"])),
        "INTENSITY": float(lookup_country(country).intensity_g_per_kwh)}
    sizes = [int(b) for b in parameters.get("BATCH_SIZES", _DEFAULTS["BATCH_SIZES"])]
    small_name, small = _inputs.one_run(folder, f"{RUN_DIR}/batch{min(sizes)}")
    context["run_small"] = _inputs.run(small)
    context["run_large"] = _inputs.run(_inputs.one_run(folder, f"{RUN_DIR}/batch{max(sizes)}")[1])
    n_train = _train_images(folder, small_name)
    if n_train is not None:  # images per epoch x epochs run, as the lesson counts them
        context["n_images"] = n_train * len(small)
    return context


def _train_images(folder: Any, run_name: str) -> int | None:
    """Training images per epoch of the run named ``run_name``: the dataset and fraction
    its name spells, the split counted from the labels alone (numpy, no pickle)."""
    import fnmatch
    import io
    import os

    from peprkit._paths import find_file
    from peprkit.course import _exchange
    from peprkit.data import dataset_filename, stratified_indices

    match = _RUN_NAME.match(run_name)
    if match is None:
        return None
    dataset, size = match["dataset"], int(match["size"])
    try:
        fraction = float(match["fraction"])
        if dataset.endswith("-synthetic"):  # the stand-in load_or_synthetic wrote in RUN_DIR
            # the run's folder is untrusted: read through _exchange (no link, no FIFO, capped)
            found = fnmatch.filter(os.listdir(os.path.join(folder, RUN_DIR)),
                                   f"{dataset}_{size}px_*_seed0.npz")
            if len(found) != 1:
                return None
            raw = _exchange.read_bytes(f"{RUN_DIR}/{found[0]}", _inputs.MAX_ARTIFACT_BYTES,
                                       root=folder)
            path = io.BytesIO(raw)
        else:  # the grader's own data folder
            path, _ = find_file(dataset_filename(dataset, size), "datasets")
            if path is None:
                return None
        with np.load(path, allow_pickle=False) as npz:
            labels = np.asarray(npz["train_labels"])
        return int(stratified_indices(labels, fraction, seed=0).size)
    except Exception:  # noqa: BLE001  (an unreadable file: the notebook's count stands)
        return None


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again on other energies, overheads
    and grids; the kit's own ``co2_g`` is refused (the exercise says by hand).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q1(answer_cells(["co2_by_hand_g = BUSY_KWH * PUE * INTENSITY"]))
    >>> hidden_q1(answer_cells(["co2_by_hand_g = BUSY_KWH * INTENSITY"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: co2_by_hand_g is wrong on other inputs ...
    """
    import pandas as pd

    from peprkit.meter.carbon import carbon_table

    rng = _inputs.draws("02", "q1", rng)
    rerun = _inputs.by_hand(rerun, BY_HAND)  # by hand: the kit's co2_g is refused
    table = carbon_table()
    table = table[table["intensity_g_per_kwh"] > 0]
    for i in rng.choice(len(table), size=3, replace=False):
        country, intensity = table.iloc[int(i)][["code", "intensity_g_per_kwh"]]
        busy = float(10 ** rng.uniform(-7, -3))
        pue = round(float(rng.uniform(1.05, 2.5)), 2)
        durations = rng.uniform(0.5, 10.0, 2)
        energies = np.array([busy * rng.uniform(0.05, 0.5), busy])
        laps = pd.DataFrame({
            "label": ["idle (sleep)", "busy (matrix products)"], "duration_s": durations,
            "energy_kwh": energies, "power_w": energies * 3.6e6 / durations,
            "cpu_source": "estimated:cpu-time", "gpu_source": "unavailable",
            "ram_source": "estimated:ram-per-gb"})
        got = rerun(["co2_by_hand_g"], BUSY_KWH=busy, PUE=pue, INTENSITY=float(intensity),
                    COUNTRY=str(country), laps=laps)["co2_by_hand_g"]
        value = number(got, "co2_by_hand_g", "g")
        if not close(value, co2_g(busy, intensity_g_per_kwh=float(intensity), pue=pue)):
            raise CheckFailed("co2_by_hand_g is wrong on other inputs (another energy, PUE "
                              "and grid): compute it from BUSY_KWH, PUE and INTENSITY.")


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on other pairs of runs
    (other energies, numbers of epochs and images).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q2(answer_cells([
    ...     'per_image_small = run_small.history["energy_kwh"].iloc[-1] / n_images',
    ...     'per_image_large = run_large.history["energy_kwh"].iloc[-1] / n_images']))
    >>> hidden_q2(answer_cells(["per_image_small = 1.2e-8", "per_image_large = 4.1e-9"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: per_image_small is wrong on other runs ...
    """
    rng = _inputs.draws("02", "q2", rng)
    for case in range(3):
        epochs = int(rng.integers(2, 4)) if case == 0 else int(rng.integers(1, 4))
        n_train = int(rng.integers(40, 700))
        small_kwh = float(10 ** rng.uniform(-6, -3))
        small = _inputs.history(rng, epochs=epochs, energy_per_epoch_kwh=small_kwh)
        large = _inputs.history(rng, epochs=epochs,
                                energy_per_epoch_kwh=small_kwh * rng.uniform(0.3, 0.8))
        batch = (int(rng.choice([4, 8, 16])), int(rng.choice([32, 64, 128, 256])))
        run_small, run_large = _inputs.run(small), _inputs.run(large)
        got = rerun(["per_image_small", "per_image_large"], run_small=run_small,
                    run_large=run_large, n_images=n_train * epochs,
                    runs={batch[0]: run_small, batch[1]: run_large}, BATCH_SIZES=batch,
                    EPOCHS=epochs, data=SimpleNamespace(train=list(range(n_train))))
        for name, frame in (("per_image_small", small), ("per_image_large", large)):
            value = number(got[name], name, "kWh per image")
            if not close(value, float(frame["energy_kwh"].iloc[-1]) / (n_train * epochs)):
                raise CheckFailed(f"{name} is wrong on other runs (other energies, epochs "
                                  "and numbers of images): compute it from the run's "
                                  "history and n_images.")
