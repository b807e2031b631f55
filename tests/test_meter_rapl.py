"""RAPL counters that only root may read (CVE-2020-8694): the help the reason gives, and
counters made readable picked up by the next meter without restarting Python; the short
energy-sources summary the notebooks' setup cell prints.

The powercap trees are temporary folders (``rapl_root`` is injectable). Tests often run as
root, who reads any file whatever its mode, so reads go through a stand-in that refuses
files without the world-read bit, as the kernel refuses an ordinary user.
"""

from __future__ import annotations

import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from peprkit.meter import EnergyMeter, _readers, probe
from peprkit.meter import rapl as rapl_module
from peprkit.meter.probe import ComponentProbe, Probe, describe_sources
from peprkit.meter.rapl import UDEV_RULE, open_rapl

KWH = 3.6e6  # joules


def make_zone(root: Path, folder: str, name: str, energy_uj: int) -> Path:
    """A powercap zone whose energy_uj is root-only (mode 0400), as since Linux 5.10."""
    zone = root / folder
    zone.mkdir(parents=True)
    (zone / "name").write_text(f"{name}\n")
    (zone / "max_energy_range_uj").write_text(f"{10**12}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "energy_uj").chmod(0o400)
    return zone


@pytest.fixture
def as_user(monkeypatch):
    """Read powercap files as a user who is not root: no world-read bit, no reading."""
    real = rapl_module._read_int

    def read(path: Path) -> int:
        if not path.stat().st_mode & stat.S_IROTH:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl_module, "_read_int", read)


@pytest.fixture
def powercap(tmp_path, as_user) -> tuple[Path, Path, Path]:
    """A powercap tree with one package zone and its dram subzone, both root-only."""
    root = tmp_path / "powercap"
    package = make_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    dram = make_zone(root, "intel-rapl:0/intel-rapl:0:2", "dram", 0)
    return root, package, dram


def meter(root: Path) -> EnergyMeter:
    return EnergyMeter(intensity_g_per_kwh=100.0, interval_s=3600, gpu=False, rapl_root=root,
                       cpu_seconds=lambda: 0.0, rss_bytes=lambda: 10**9)


def command_after(reason: str, first_words: str) -> str:
    """The line of ``reason`` that starts with ``first_words`` (indentation stripped)."""
    return next(line.strip() for line in reason.splitlines()
                if line.strip().startswith(first_words))


def test_unreadable_rapl_names_the_commands_and_the_trade_off(powercap):
    root, package, dram = powercap
    reader, reason = open_rapl("cpu", root)
    assert reader is None
    first = reason.splitlines()[0]
    assert "permission denied" in first and "CVE-2020-8694" in first and "5.10" in first
    files = " ".join(shlex.quote(str(z / "energy_uj")) for z in (package, dram))
    assert command_after(reason, "sudo chmod") == f"sudo chmod a+r {files}"
    assert "until the next reboot" in reason and "at every boot, with a udev rule" in reason
    udev = command_after(reason, "echo ")
    assert udev == f"echo '{UDEV_RULE}' | sudo tee /etc/udev/rules.d/99-peprkit-rapl.rules"
    assert 'SUBSYSTEM=="powercap"' in UDEV_RULE and "chmod a+r /sys%p/energy_uj" in UDEV_RULE
    assert command_after(reason, "sudo udevadm") == (
        "sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=powercap "
        "--action=add")
    trade_off = command_after(reason, "Trade-off")
    assert "CVE-2020-8694" in trade_off and "side-channel" in trade_off
    assert "secrets" in trade_off and "Python need not restart" in trade_off
    assert open_rapl("ram", root)[1] == reason  # one help covers both components


def test_counters_made_readable_are_used_by_the_next_meter_without_restarting(powercap):
    root, package, _ = powercap
    before = meter(root).start()
    assert before.readers["cpu"].source == "estimated:cpu-time"
    assert "sudo chmod a+r" in before.reasons["cpu"]
    before.stop()
    # the admin runs the command from the reason (here without sudo: the files are ours)
    chmod = command_after(before.reasons["cpu"], "sudo chmod").removeprefix("sudo ")
    subprocess.run(chmod, shell=True, check=True)
    assert all((z / "energy_uj").stat().st_mode & stat.S_IROTH
               for z in (package, package / "intel-rapl:0:2"))
    after = meter(root).start()  # same process, no re-import
    assert after.reasons["cpu"] == "RAPL intel-rapl:0"
    (package / "energy_uj").write_text("4600000\n")  # 3.6 J later
    total = after.stop()
    assert total.sources["cpu"] == total.sources["ram"] == "measured:rapl"
    assert total.cpu_kwh == pytest.approx(3.6 / KWH)
    assert probe(gpu=False, rapl_root=root)["cpu"].source == "measured:rapl"


def test_info_shows_the_help_once_for_cpu_and_ram(powercap, monkeypatch):
    root, _, _ = powercap
    result = probe(gpu=False, rapl_root=root)
    assert result["cpu"].source == "estimated:cpu-time"
    assert result["ram"].source == "estimated:ram-per-gb"
    # the estimate's assumption follows the short reason, the help comes below
    first = result["cpu"].reason.splitlines()[0]
    assert "permission denied" in first and "10 W per busy core" in first
    text = str(result)
    assert text.count("sudo chmod a+r") == 1 and text.count("Trade-off") == 1
    assert "(what to do: as for cpu above)" in text
    rows = [line for line in text.splitlines() if line.startswith("  ram ")]
    assert len(rows) == 1 and "0.375 W per GB" in rows[0]

    # a further note (psutil missing) joins the first line, not the help below it
    monkeypatch.setattr(_readers, "_psutil", lambda: None)
    lines = probe(gpu=False, rapl_root=root)["cpu"].reason.splitlines()
    assert "psutil not installed" in lines[0] and lines[-1].endswith("need not restart.")


def test_describe_sources_says_what_is_measured_and_what_estimated(powercap):
    root, _, _ = powercap
    text = describe_sources(gpu=False, rapl_root=root)
    lines = text.splitlines()
    assert lines[0].startswith("Energy in this session") and "peprkit info" in lines[0]
    assert lines[1].split() == ["GPU", "not", "metered", "switched", "off", "(gpu=False)"]
    assert lines[2].startswith("  CPU  estimated    CPU time x assumed watts per core (RAPL")
    assert "is not readable" in lines[2] and "sudo" not in text  # the fix is in peprkit info
    assert lines[3].startswith("  RAM  estimated    memory size x assumed watts per GB")
    measured = Probe({
        "gpu": ComponentProbe("gpu", True, "measured:nvml-energy-counter", "Tesla T4: ..."),
        "cpu": ComponentProbe("cpu", True, "measured:rapl", "RAPL intel-rapl:0"),
        "ram": ComponentProbe("ram", False, "unavailable", "switched off (ram=False)"),
    })
    assert describe_sources(measured).splitlines()[1:] == [
        "  GPU  measured     NVML energy counter",
        "  CPU  measured     RAPL counters",
        "  RAM  not metered  switched off (ram=False)",
    ]


def test_describe_sources_does_not_import_torch():
    code = ("import sys\nfrom peprkit.meter.probe import describe_sources\n"
            "describe_sources()\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
