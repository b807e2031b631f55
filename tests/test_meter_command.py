"""``peprkit meter -- CMD`` and the ``%%meter`` cell magic: exit codes, the CSV row, labels."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys

import pandas as pd
import pytest

from peprkit import cli
from peprkit._util import append_csv_row as append_row
from peprkit.meter import command
from peprkit.meter.command import (
    INTERVAL_S,
    TOO_SHORT,
    MeteredRun,
    mark_too_short,
    meter_command,
    summary,
    update_period_s,
)
from peprkit.meter.reading import J_PER_KWH, Reading
from peprkit.schema import COLUMNS

PY = sys.executable
#: The command line as a learner runs it, in a fresh process.
PEPRKIT = [PY, "-c", "import sys; from peprkit.cli import main; sys.exit(main())"]


def quiet(**kwargs):
    """Meter options that read no hardware (estimates only) and need no country."""
    return dict(intensity_g_per_kwh=100.0, gpu=False, **kwargs)


def test_exit_code_row_and_units_through_main(tmp_path, capsys):
    out = tmp_path / "runs.csv"
    code = "import sys; sum(i * i for i in range(200_000)); sys.exit(3)"
    assert cli.main(["meter", "--csv", str(out), "--country", "DK", "--", PY, "-c", code]) == 3
    err = capsys.readouterr().err
    assert "peprkit meter:" in err and "exit code      3 (failed)" in err
    assert "energy_kwh" in err and "[table:DK-2023]" in err and f"appended to    {out}" in err
    row = pd.read_csv(out).iloc[0]
    assert row["exit_code"] == 3 and row["status"] == "failed" and row["metered"] == "command"
    assert row["command"].endswith("sys.exit(3)'")
    for col in ("train_time_s", "train_cpu_s", "energy_kwh", "co2_g"):
        assert col in COLUMNS and row[col] > 0, col  # schema names and units
    if row["memory_source"].startswith("measured:"):  # a short run may end before a reading
        assert row["memory_gb"] > 0
    else:
        assert row["memory_source"].startswith("unavailable") and pd.isna(row["memory_gb"])
    parts = [row[c] for c in ("gpu_kwh", "cpu_kwh", "ram_kwh") if row[c] == row[c]]
    assert row["energy_kwh"] == pytest.approx(sum(parts))
    assert row["co2_g"] == pytest.approx(row["energy_kwh"] * 143.0 * row["pue"])
    assert row["intensity_source"] == "table:DK-2023"
    if row["cpu_source"].startswith("estimated:cpu-time"):  # the process tree's CPU time
        assert row["cpu_kwh"] * J_PER_KWH == pytest.approx(row["train_cpu_s"] * 10.0)


def test_rows_are_appended_and_keep_the_files_columns(tmp_path):
    out = tmp_path / "runs.csv"
    out.write_text("note,energy_kwh\nmine,1.0\n")
    for _ in range(2):
        assert cli.main(["meter", "--csv", str(out), "--country", "SE", "--", PY, "-c",
                         "pass"]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["note"] for r in rows] == ["mine", "", ""]
    assert list(rows[0])[:2] == ["note", "energy_kwh"]
    assert not list(tmp_path.glob("*.tmp*"))  # written through a renamed temporary


def test_as_a_subprocess_the_exit_code_passes_through(tmp_path):
    done = subprocess.run([*PEPRKIT, "meter", "--country", "NO", "--", PY, "-c",
                           "print('hello'); raise SystemExit(7)"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 7
    assert done.stdout == "hello\n"  # the command's output, untouched
    assert "exit code      7" in done.stderr and "co2_g" in done.stderr


def test_a_signal_exits_like_a_shell_and_a_missing_program_is_127(capsys):
    assert cli.main(["meter", "--country", "DK", "--", PY, "-c",
                     "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]) == (
        128 + signal.SIGTERM)
    assert cli.main(["meter", "--country", "DK", "--", "no-such-program-xyz"]) == 127
    assert "'no-such-program-xyz' could not be started" in capsys.readouterr().err
    assert cli.main(["meter", "--country", "DK"]) == 2
    assert "give the command after --" in capsys.readouterr().err


def test_the_cpu_estimate_counts_the_whole_process_tree(tmp_path):
    spent = tmp_path / "grandchild_cpu_s"
    grandchild = (f"import time; sum(i * i for i in range(2_000_000)); "
                  f"open({str(spent)!r}, 'w').write(str(time.process_time()))")
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    run = meter_command([PY, "-c", child], **quiet(rapl_root=tmp_path))
    assert run.exit_code == 0 and run.reading.sources["cpu"] == "estimated:cpu-time"
    assert run.cpu_s >= float(spent.read_text())
    assert run.reading.cpu_kwh * J_PER_KWH == pytest.approx(run.cpu_s * 10.0)


def test_a_command_shorter_than_its_sources_update_is_labelled_too_short(tmp_path):
    run = meter_command([PY, "-c", "pass"], interval_s=5.0, **quiet(rapl_root=tmp_path))
    assert run.reading.sources["ram"] == "estimated:ram-per-gb" + TOO_SHORT  # needs 10 s
    assert run.too_short == ("ram",) and run.row()["too_short"] is True
    assert "too short      ram" in summary(run)
    reading = Reading("total", 0.0005, 1e-9, 1e-9, None, {
        "gpu": "measured:nvml-energy-counter", "cpu": "measured:rapl;shared=40%",
        "ram": "unavailable"}, 100.0, "override")
    marked, short = mark_too_short(reading)
    assert short == ("gpu", "cpu")
    assert marked.sources["cpu"] == "measured:rapl;shared=40%;too-short"
    assert marked.sources["ram"] == "unavailable" and marked.shared_device
    assert update_period_s("measured:nvml-power-sampling", INTERVAL_S) == 1.0


def test_summary_fits_one_screen_and_shows_labels():
    reading = Reading("total", 12.0, None, 3.6e-5, 1e-7, {
        "gpu": "unavailable", "cpu": "measured:rapl;shared=38%",
        "ram": "estimated:ram-per-gb"}, 143.0, "table:DK-2023", cpu_others_share=0.38)
    run = MeteredRun("python train.py", "command", reading, 0, 11.5, 0.25,
                     "measured:kernel-peak-rss-largest-process", (), "2025-01-01T00:00:00+00:00")
    text = summary(run, "runs.csv")
    assert len(text.splitlines()) <= 20 and max(map(len, text.splitlines())) <= 100
    assert "[measured:rapl;shared=38%]" in text and "38% of the machine's CPU time" in text
    assert "shared device" in text
    assert "[table:DK-2023]" in text and "0.25 GB" in text


def test_cell_magic_meters_one_cell(tmp_path, capsys):
    interactive = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactive.InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "peprkit")
        out = tmp_path / "cells.csv"
        result = shell.run_cell(f"%%meter --csv {out} --country DK\n"
                                "total = sum(i * i for i in range(100_000))\n")
        assert result.success and shell.user_ns["total"] == sum(i * i for i in range(100_000))
        text = capsys.readouterr().out
        assert "peprkit meter: %%meter cell: total = sum(" in text and "[table:DK-2023]" in text
        shell.run_cell(f"%%meter --csv {out} --country DK\nraise KeyError('x')\n")
        rows = pd.read_csv(out)
        assert rows["metered"].tolist() == ["cell", "cell"]
        assert rows["status"].tolist() == ["completed", "failed"]
        assert rows["memory_source"].iloc[0].startswith(("process-rss-increase:", "gpu:"))
        bad = shell.run_cell("%%meter --bogus\nx = 1\n")
        assert not bad.success and "--bogus" in capsys.readouterr().err
    finally:
        interactive.InteractiveShell.clear_instance()


def test_import_peprkit_stays_light():
    code = ("import sys, peprkit; print(callable(peprkit.load_ipython_extension), "
            "sorted(m for m in ('IPython', 'torch', 'psutil', 'peprkit.meter') "
            "if m in sys.modules))")
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True []"


def test_peak_memory_ignores_the_copy_of_this_process_a_child_starts_as():
    tree = command._Tree()
    tree.final_peak_bytes, tree.sampled_peak_bytes = 70_000_000, 30_000_000  # ru_maxrss inherited
    assert command._command_memory(tree, 70_000_000) == (0.03, "measured:kernel-peak-rss-sampled")
    tree.final_peak_bytes = 300_000_000  # grew past the copy: the kernel's exact peak
    assert command._command_memory(tree, 70_000_000) == (0.3, "measured:kernel-peak-rss")
    tree.final_peak_bytes, tree.sampled_peak_bytes = 1_000, None  # ended before a reading
    assert command._command_memory(tree, 70_000_000) == (None, "unavailable:too-short")


def test_a_file_that_is_not_a_csv_with_a_header_is_refused(tmp_path):
    bad = tmp_path / "runs.csv"
    bad.write_text("\nmodel,test_acc\n")  # the first row is not a header
    with pytest.raises(ValueError, match=r"csv='.*runs.csv' has no header row"):
        append_row(bad, {"a": 1})
