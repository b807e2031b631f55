"""Hidden tests and grading hooks of lessons 00, 02 and 03: the solutions' answer cells pass
on every draw, typed-in numbers and the usual slips fail, and the grader rebuilds the
tests' context from the files the lesson's runs wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peprkit.checks import CheckFailed
from peprkit.checks import lesson02 as checks02
from peprkit.checks import lesson03 as checks03
from peprkit.course._cells import CellRunner, imports, pick_cells
from peprkit.course._codec import decode, encode
from peprkit.course.hidden import _inputs, answer_cells, lesson00, lesson02, lesson03

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "source"


def _master_cells(stem: str) -> list[str]:
    """Every code cell of a master, as the grader sees a solved notebook."""
    nb = json.loads((SOURCE / f"{stem}.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


class _ThroughCodec(CellRunner):
    """A runner whose inputs and results cross plain data (JSON) as they do between the
    scorer and its sandboxed worker."""

    def __call__(self, outputs, **inputs):
        inputs = decode(json.loads(json.dumps(encode(inputs))))
        return decode(json.loads(json.dumps(encode(super().__call__(outputs, **inputs)))))


HIDDEN = {
    ("00_setup", "q1"): lesson00.hidden_q1,
    ("00_setup", "q2"): lesson00.hidden_q2,
    ("02_measuring_energy", "q1"): lesson02.hidden_q1,
    ("02_measuring_energy", "q2"): lesson02.hidden_q2,
    ("03_finetune_one_model", "q1"): lesson03.hidden_q1,
    ("03_finetune_one_model", "q2"): lesson03.hidden_q2,
}
ANSWERS = {
    ("00_setup", "q1"): ["energy_by_hand_kwh"],
    ("00_setup", "q2"): ["cpu_source"],
    ("02_measuring_energy", "q1"): ["co2_by_hand_g"],
    ("02_measuring_energy", "q2"): ["per_image_small", "per_image_large"],
    ("03_finetune_one_model", "q1"): ["best_epoch_by_hand"],
    ("03_finetune_one_model", "q2"): ["energy_saved_kwh", "saved_fraction"],
}


@pytest.mark.parametrize(("stem", "question"), list(HIDDEN))
def test_the_solution_passes_every_draw(stem, question, drawn_seeds):
    everything = _master_cells(stem)
    # what the runner picks from the whole master: its import lines and the answer cells
    cells = imports(everything) + pick_cells(everything, ANSWERS[stem, question])
    assert any("# SOLUTION" in c for c in cells)
    hidden = HIDDEN[stem, question]
    hidden(answer_cells(everything), rng=np.random.default_rng(100))
    for seed in drawn_seeds:
        hidden(answer_cells(cells), rng=np.random.default_rng(seed))
    hidden(_ThroughCodec(cells), rng=np.random.default_rng(99))


WRONG = {
    ("00_setup", "q1"): [
        "energy_by_hand_kwh = ...",
        "energy_by_hand_kwh = 2.7e-05",  # a number the public run printed
        "energy_by_hand_kwh = 15.0 * reading.duration_s / 3.6e6",  # the notebook's power
        "energy_by_hand_kwh = POWER_W * reading.duration_s",  # joules
        "energy_by_hand_kwh = POWER_W * reading.duration_s / 3600",  # Wh
        "energy_by_hand_kwh = POWER_W / reading.duration_s / 3.6e6",
        "energy_by_hand_kwh = reading.energy_kwh",  # the meter's, not by hand
    ],
    ("00_setup", "q2"): [
        "cpu_source = ...",
        "cpu_source = 'estimated:cpu-time'",
        "cpu_source = 'measured:rapl'",
        "cpu_source = reading.sources['gpu']",
        "cpu_source = str(reading.sources)",
        "cpu_source = reading.sources['cpu'].split(':')[0]",
    ],
    ("02_measuring_energy", "q1"): [
        "co2_by_hand_g = ...",
        "co2_by_hand_g = 0.0021",
        "co2_by_hand_g = BUSY_KWH * INTENSITY",  # PUE forgotten
        "co2_by_hand_g = BUSY_KWH * INTENSITY / PUE",
        "co2_by_hand_g = BUSY_KWH * 1.5 * INTENSITY",  # the notebook's PUE typed in
        "co2_by_hand_g = BUSY_KWH * PUE * 151.0",  # one grid's intensity typed in
    ],
    ("02_measuring_energy", "q2"): [
        "per_image_small = ...\nper_image_large = ...",
        "per_image_small = 3.1e-09\nper_image_large = 1.2e-09",
        # the whole run's energy
        "per_image_small = run_small.history['energy_kwh'].iloc[-1]\n"
        "per_image_large = run_large.history['energy_kwh'].iloc[-1]",
        # the first epoch of a cumulative column
        "per_image_small = run_small.history['energy_kwh'].iloc[0] / n_images\n"
        "per_image_large = run_large.history['energy_kwh'].iloc[0] / n_images",
        # a cumulative column summed
        "per_image_small = run_small.history['energy_kwh'].sum() / n_images\n"
        "per_image_large = run_large.history['energy_kwh'].sum() / n_images",
        # swapped
        "per_image_small = run_large.history['energy_kwh'].iloc[-1] / n_images\n"
        "per_image_large = run_small.history['energy_kwh'].iloc[-1] / n_images",
    ],
    ("03_finetune_one_model", "q1"): [
        "best_epoch_by_hand = ...",
        "best_epoch_by_hand = 3",
        # the most accurate epoch
        "best_epoch_by_hand = int(history['epoch'][history['val_acc'].idxmax()])",
        # the 0-based row, not the epoch
        "score = history['val_acc'] / (1 + history['energy_kwh'] / REFERENCE_KWH)\n"
        "best_epoch_by_hand = int(score.idxmax())",
        # min-max R within the run
        "e = history['energy_kwh']\nr = (e - e.min()) / (e.max() - e.min())\n"
        "best_epoch_by_hand = int(history['epoch'][(history['val_acc'] / (1 + r)).idxmax()])",
        # on the test split
        "score = history['test_acc'] / (1 + history['energy_kwh'] / REFERENCE_KWH)\n"
        "best_epoch_by_hand = int(history['epoch'][score.idxmax()])",
    ],
    ("03_finetune_one_model", "q2"): [
        "energy_saved_kwh = ...\nsaved_fraction = ...",
        "energy_saved_kwh = 2.2e-05\nsaved_fraction = 0.35",
        # sign flipped
        "energy_saved_kwh = early.history['energy_kwh'].iloc[-1] - history['energy_kwh'].iloc[-1]\n"
        "saved_fraction = energy_saved_kwh / history['energy_kwh'].iloc[-1]",
        # a percentage
        "energy_saved_kwh = history['energy_kwh'].iloc[-1] - early.history['energy_kwh'].iloc[-1]\n"
        "saved_fraction = 100 * energy_saved_kwh / history['energy_kwh'].iloc[-1]",
        # the first epochs
        "energy_saved_kwh = history['energy_kwh'].iloc[0] - early.history['energy_kwh'].iloc[0]\n"
        "saved_fraction = energy_saved_kwh / history['energy_kwh'].iloc[0]",
        # divided by the early run's energy
        "energy_saved_kwh = history['energy_kwh'].iloc[-1] - early.history['energy_kwh'].iloc[-1]\n"
        "saved_fraction = energy_saved_kwh / early.history['energy_kwh'].iloc[-1]",
    ],
}


@pytest.mark.parametrize(("stem", "question", "answer"),
                         [(s, q, a) for (s, q), answers in WRONG.items() for a in answers])
def test_typed_in_answers_and_slips_fail_every_draw(stem, question, answer):
    hidden = HIDDEN[stem, question]
    for seed in range(5):
        with pytest.raises(CheckFailed):
            hidden(answer_cells([answer]), rng=np.random.default_rng(seed))


def test_the_hidden_messages_reveal_no_input():
    with pytest.raises(CheckFailed) as err:
        lesson03.hidden_q1(answer_cells(["best_epoch_by_hand = 3"]),
                           rng=np.random.default_rng(0))
    assert not any(ch.isdigit() for ch in str(err.value))


def test_drawn_histories_peak_at_distinct_clear_epochs():
    rng = np.random.default_rng(1)
    seen: set[int] = set()
    for _ in range(3):
        frame, reference = lesson03._peaked_history(rng, seen)
        score = frame["val_acc"] / (1 + frame["energy_kwh"] / reference)
        best = int(frame["epoch"][score.idxmax()])
        assert best not in seen and 1 < best < len(frame)
        assert (score.max() - score.drop(score.idxmax()).max()) / score.max() > 1e-3
        assert list(frame.columns) == list(_inputs.HISTORY_COLUMNS)
        assert frame["val_acc"].between(0, 1).all()
        seen.add(best)


# --- grading_context: the tests' context rebuilt from the run's files ------------------
def _write_run(folder: Path, root: str, name: str, frame: pd.DataFrame) -> None:
    run = folder / root / name
    run.mkdir(parents=True)
    frame.to_csv(run / "history.csv", index=False)  # as peprkit.train writes it


def _name(batch: int, *, dataset: str = "breastmnist-synthetic", fraction: float = 0.1,
          epochs: int = 1) -> str:
    return (f"mobilenetv3_small_050_{dataset}28_scratch_f{fraction:g}_s0_e{epochs}"
            f"_lr0.0005_b{batch}_adam")


def test_lesson00_context_is_the_injected_power():
    params = lesson00.grading_parameters(np.random.default_rng(3))
    assert lesson00.grading_context(params, None) == {"POWER_W": params["POWER_W"]}
    assert lesson00.grading_context({}, None) == {"POWER_W": 15.0}


def test_lesson02_context_comes_from_the_runs_files(tmp_path):
    from peprkit.data import make_synthetic
    from peprkit.meter import lookup_country

    rng = np.random.default_rng(0)
    small = _inputs.history(rng, epochs=2, energy_per_epoch_kwh=2e-5)
    large = _inputs.history(rng, epochs=2, energy_per_epoch_kwh=1e-5)
    _write_run(tmp_path, "runs/02_measuring_energy/batch8", _name(8, epochs=2), small)
    _write_run(tmp_path, "runs/02_measuring_energy/batch64", _name(64, epochs=2), large)
    # the stand-in load_or_synthetic(..., folder=RUN_DIR) writes: 600 images, two classes
    make_synthetic(tmp_path / "runs/02_measuring_energy/breastmnist-synthetic_28px_600_seed0.npz",
                   n_train=600)
    ctx = lesson02.grading_context({"PUE": 1.7, "COUNTRY": "FR"}, tmp_path)
    assert ctx["PUE"] == 1.7
    assert ctx["INTENSITY"] == lookup_country("FR").intensity_g_per_kwh
    pd.testing.assert_frame_equal(ctx["run_small"].history, small)
    pd.testing.assert_frame_equal(ctx["run_large"].history, large)
    assert ctx["n_images"] == 60 * 2  # 10 % of 300 + 300 per class, two epochs
    checks02.q2(ctx["run_small"].history["energy_kwh"].iloc[-1] / ctx["n_images"],
                ctx["run_large"].history["energy_kwh"].iloc[-1] / ctx["n_images"],
                run_small=ctx["run_small"], run_large=ctx["run_large"],
                n_images=ctx["n_images"])
    # without the stand-in's file the count is left to the notebook
    (tmp_path / "runs/02_measuring_energy/breastmnist-synthetic_28px_600_seed0.npz").unlink()
    assert "n_images" not in lesson02.grading_context({}, tmp_path)


def test_lesson02_counts_the_real_training_split(tmp_path, monkeypatch):
    data = Path("/work/shared/data")
    if not (data / "breastmnist.npz").is_file():
        import os

        data = Path(os.environ.get("PEPRKIT_DATA_DIR", "/nonexistent"))
    if not (data / "breastmnist.npz").is_file():
        pytest.skip("the real BreastMNIST is not here")
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(data))
    from peprkit.data import stratified_indices

    with np.load(data / "breastmnist.npz") as npz:
        expected = stratified_indices(npz["train_labels"], 0.1, seed=0).size
    rng = np.random.default_rng(0)
    for batch in (8, 64):
        _write_run(tmp_path, f"runs/02_measuring_energy/batch{batch}",
                   _name(batch, dataset="breastmnist"),
                   _inputs.history(rng, epochs=1, energy_per_epoch_kwh=1e-5))
    assert lesson02.grading_context({}, tmp_path)["n_images"] == expected


def test_lesson02_context_needs_the_runs(tmp_path):
    with pytest.raises(CheckFailed, match="no training run"):
        lesson02.grading_context({}, tmp_path)
    rng = np.random.default_rng(0)
    _write_run(tmp_path, "runs/02_measuring_energy/batch8", _name(8),
               _inputs.history(rng, epochs=1, energy_per_epoch_kwh=1e-5))
    with pytest.raises(CheckFailed, match="batch64"):
        lesson02.grading_context({}, tmp_path)
    _write_run(tmp_path, "runs/02_measuring_energy/batch64", _name(64),
               _inputs.history(rng, epochs=1, energy_per_epoch_kwh=1e-5))
    _write_run(tmp_path, "runs/02_measuring_energy/batch64", _name(64, fraction=1.0),
               _inputs.history(rng, epochs=1, energy_per_epoch_kwh=1e-5))
    with pytest.raises(CheckFailed, match="holds 2 training runs"):
        lesson02.grading_context({}, tmp_path)


def _lesson03_folder(folder: Path, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    runs = {"full": _inputs.history(rng, epochs=3, energy_per_epoch_kwh=1e-5),
            "early": _inputs.history(rng, epochs=2, energy_per_epoch_kwh=1e-5),
            "reference": _inputs.history(rng, epochs=1, energy_per_epoch_kwh=8e-5)}
    for kind, frame in runs.items():
        _write_run(folder, f"runs/03_finetune_one_model/{kind}",
                   _name(16, epochs=len(frame)), frame)
    return runs


def test_lesson03_context_comes_from_the_runs_files(tmp_path):
    runs = _lesson03_folder(tmp_path, np.random.default_rng(0))
    ctx = lesson03.grading_context({"REFERENCE_EPOCHS": 7}, tmp_path)
    pd.testing.assert_frame_equal(ctx["history"], runs["full"])
    pd.testing.assert_frame_equal(ctx["early"].history, runs["early"])
    assert ctx["REFERENCE_KWH"] == 7 * runs["reference"]["energy_kwh"].iloc[-1]
    default = lesson03.grading_context({}, tmp_path)["REFERENCE_KWH"]
    assert default == 10 * runs["reference"]["energy_kwh"].iloc[-1]
    # the solution's cells on the rebuilt context pass the public checks
    got = answer_cells(_master_cells("03_finetune_one_model"))(
        ["best_epoch_by_hand", "energy_saved_kwh", "saved_fraction"], **ctx)
    checks03.q1(got["best_epoch_by_hand"], history=ctx["history"],
                reference_kwh=ctx["REFERENCE_KWH"])
    checks03.q2(got["energy_saved_kwh"], got["saved_fraction"], full=ctx["history"],
                early=ctx["early"].history)


def test_lesson03_context_ignores_the_notebooks_tables_and_needs_every_run(tmp_path):
    _lesson03_folder(tmp_path, np.random.default_rng(1))
    # the context is read from the files alone: a notebook that emptied its tables
    # before the checks is graded on the runs' histories
    ctx = lesson03.grading_context({}, tmp_path)
    assert len(ctx["history"]) == 3 and len(ctx["early"].history) == 2
    for run in (tmp_path / "runs/03_finetune_one_model/early").iterdir():
        (run / "history.csv").unlink()
    with pytest.raises(CheckFailed, match="early"):
        lesson03.grading_context({}, tmp_path)


def test_a_history_linked_outside_the_folder_is_refused(tmp_path):
    runs = _lesson03_folder(tmp_path / "sub", np.random.default_rng(2))
    outside = tmp_path / "planted.csv"
    runs["reference"].to_csv(outside, index=False)
    ref = next((tmp_path / "sub/runs/03_finetune_one_model/reference").iterdir())
    (ref / "history.csv").unlink()
    (ref / "history.csv").symlink_to(outside)
    with pytest.raises(CheckFailed, match="missing"):
        lesson03.grading_context({}, tmp_path / "sub")


def _within(seconds, fn, *args):
    """``fn(*args)`` run in a thread: its result or exception, failing the test when it
    has not returned after ``seconds`` (it blocks)."""
    import threading

    box = {}

    def run():
        try:
            box["result"] = fn(*args)
        except BaseException as err:  # noqa: BLE001
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} blocked on a planted file"
    return box


def test_a_fifo_or_a_symlink_planted_as_a_run_artifact_is_refused_without_blocking(tmp_path):
    import os

    rng = np.random.default_rng(3)
    for batch in (8, 64):
        _write_run(tmp_path, f"runs/02_measuring_energy/batch{batch}", _name(batch, epochs=2),
                   _inputs.history(rng, epochs=2, energy_per_epoch_kwh=1e-5))
    history = next((tmp_path / "runs/02_measuring_energy/batch8").iterdir()) / "history.csv"
    relative = str(history.relative_to(tmp_path))
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text(history.read_text())
    history.unlink()
    os.mkfifo(history)  # nobody writes it: opening it to read would block
    got = _within(10, _inputs.read_artifact, tmp_path, relative)
    assert isinstance(got.get("error"), CheckFailed) and "missing" in str(got["error"])
    got = _within(10, lesson02.grading_context, {}, tmp_path)
    assert isinstance(got.get("error"), CheckFailed), got  # batch8's run has no history
    history.unlink()
    history.symlink_to(outside)
    got = _within(10, _inputs.read_artifact, tmp_path, relative)
    assert isinstance(got.get("error"), CheckFailed) and "missing" in str(got["error"])
    history.unlink()
    history.write_text(outside.read_text())
    # the stand-in dataset lesson 02 counts images from, planted as a FIFO or a link
    npz = tmp_path / "runs/02_measuring_energy/breastmnist-synthetic_28px_600_seed0.npz"
    os.mkfifo(npz)
    got = _within(10, lesson02.grading_context, {}, tmp_path)
    assert "n_images" not in got["result"], "a FIFO was read as the training data"
    npz.unlink()
    from peprkit.data import make_synthetic

    make_synthetic(outside.with_suffix(".npz"), n_train=600)
    npz.symlink_to(outside.with_suffix(".npz"))
    got = _within(10, lesson02.grading_context, {}, tmp_path)
    assert "n_images" not in got["result"], "a link out of the folder was followed"


@pytest.mark.parametrize("module", [lesson00, lesson02, lesson03])
def test_hooks_belong_to_their_master(module):
    assert (SOURCE / f"{module.GRADED_LESSON}.ipynb").is_file()
    params = module.grading_parameters(np.random.default_rng(0))
    assert set(params) <= set(_parameters_cell(module.GRADED_LESSON))


def _parameters_cell(stem: str) -> set[str]:
    from peprkit.course._cells import assigned_names

    nb = json.loads((SOURCE / f"{stem}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    return assigned_names("".join(cell["source"]))
