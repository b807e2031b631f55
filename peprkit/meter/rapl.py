"""CPU and DRAM energy from Linux powercap RAPL counters (``/sys/class/powercap``).

Each ``intel-rapl:N`` zone (AMD chips use the same driver) has a ``name`` (``package-0``,
``dram``, ``core``, ``uncore``, ``psys``) and an ``energy_uj`` counter that wraps to 0 after
``max_energy_range_uj``. Package zones are summed for the CPU and dram zones for RAM;
``core``/``uncore`` are parts of a package and ``psys`` covers the whole platform, so they
are skipped. RAPL measures the whole machine, not only this process.

Since the fix for CVE-2020-8694 (Linux 5.10, backported to older kernels in November 2020),
only root may read ``energy_uj``; the meter then falls back to estimates, and the reason
(``peprkit info``) gives the commands that make the counters readable
(:func:`readable_help`). Zones are looked up and opened afresh at every
``EnergyMeter.start()`` and ``probe()``, so counters made readable are used from the next
meter on, without restarting Python.
"""

from __future__ import annotations

import shlex
from pathlib import Path

DEFAULT_ROOT = Path("/sys/class/powercap")
_COMPONENT_OF = {"package": "cpu", "dram": "ram"}
#: The udev rule that makes every RAPL zone's ``energy_uj`` world-readable when the zone
#: appears (at each boot); ``%p`` is the zone's path under ``/sys``.
UDEV_RULE = ('ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl:*", '
             'RUN+="/bin/chmod a+r /sys%p/energy_uj"')
#: Where :func:`readable_help` installs :data:`UDEV_RULE`.
UDEV_RULE_FILE = "/etc/udev/rules.d/99-peprkit-rapl.rules"


class RaplReader:
    """Sum of RAPL ``energy_uj`` counters for one component, wraparound handled.

    ``delta = now - last`` when the counter grew, else ``max_energy_range_uj - last + now``
    (one wrap; the meter reads at least every ``interval_s``, far below the minutes a
    counter takes to wrap).

    Args:
        component: ``"cpu"`` or ``"ram"``.
        zones: zone folders, each holding ``energy_uj`` and ``max_energy_range_uj``.

    Raises:
        OSError: a counter cannot be read at construction (e.g. PermissionError).
    """

    source = "measured:rapl"

    def __init__(self, component: str, zones: list[Path]) -> None:
        self.component = component
        self.zones = list(zones)
        self.error: str | None = None
        self._max_uj = [_read_int(zone / "max_energy_range_uj") for zone in self.zones]
        self._last_uj: list[int] | None = None
        self._read_all()  # fail here, not mid-run, when the counters are not readable
        self._joules = 0.0

    def _read_all(self) -> list[int]:
        return [_read_int(zone / "energy_uj") for zone in self.zones]

    def read_j(self, now_s: float) -> float:
        if self.error is not None:
            return self._joules
        try:
            values = self._read_all()
        except (OSError, ValueError):
            self.error = "rapl-error"
            return self._joules
        if self._last_uj is None:
            self._last_uj = values
        for i, (now_uj, last_uj) in enumerate(zip(values, self._last_uj, strict=True)):
            delta = now_uj - last_uj if now_uj >= last_uj else self._max_uj[i] - last_uj + now_uj
            self._joules += delta / 1e6
            self._last_uj[i] = now_uj
        return self._joules


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def find_zones(root: str | Path = DEFAULT_ROOT) -> dict[str, list[Path]]:
    """RAPL zone folders under ``root`` per component: ``{"cpu": [...], "ram": [...]}``.

    Nested zones (``intel-rapl:0/intel-rapl:0:2``) and flat links
    (``intel-rapl:0:2`` next to ``intel-rapl:0``) are both found, each zone once.
    """
    root = Path(root)
    found: dict[str, list[Path]] = {"cpu": [], "ram": []}
    if not root.is_dir():
        return found
    seen: set[str] = set()
    for zone in sorted(root.glob("intel-rapl:*")) + sorted(root.glob("intel-rapl:*/intel-rapl:*")):
        if zone.name in seen or not (zone / "energy_uj").exists():
            continue
        seen.add(zone.name)
        try:
            name = (zone / "name").read_text().strip()
        except OSError:
            continue
        component = _COMPONENT_OF.get(name.split("-")[0])
        if component:
            found[component].append(zone)
    return found


def open_rapl(
    component: str, root: str | Path = DEFAULT_ROOT
) -> tuple[RaplReader | None, str]:
    """A RaplReader for ``component`` under ``root``, or None and the reason it is not usable.

    >>> open_rapl("cpu", "/nonexistent")
    (None, 'no RAPL package zone under /nonexistent')
    """
    zones = find_zones(root)[component]
    if not zones:
        kind = "package" if component == "cpu" else "dram"
        return None, f"no RAPL {kind} zone under {root}"
    try:
        return RaplReader(component, zones), f"RAPL {', '.join(z.name for z in zones)}"
    except PermissionError:
        return None, (
            f"RAPL energy_uj under {root} is not readable (permission denied: root only "
            "since Linux 5.10, the fix for CVE-2020-8694)\n" + readable_help(root))
    except (OSError, ValueError) as err:
        return None, f"RAPL counters under {root} unreadable: {err}"


def readable_help(root: str | Path = DEFAULT_ROOT) -> str:
    """How an admin makes the RAPL counters under ``root`` readable, and what that costs.

    The commands name the ``energy_uj`` files of every package and dram zone found (what
    the meter reads): a ``chmod`` that lasts until the next reboot, and a udev rule
    (:data:`UDEV_RULE`) that applies it again at every boot. The meter needs no restart:
    the next ``EnergyMeter`` (or ``probe()``) uses the counters.

    >>> print(readable_help("/nonexistent"))  # doctest: +ELLIPSIS
    To measure CPU and RAM energy, an admin can make the RAPL counters readable, either
      until the next reboot:
        sudo chmod a+r /nonexistent/intel-rapl:*/energy_uj
      or at every boot, with a udev rule:
        echo 'ACTION=="add", SUBSYSTEM=="powercap", ...' | sudo tee /etc/udev/rules.d/...
        sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=powercap ...
    Trade-off (CVE-2020-8694): every local user can then read ...
    """
    zones = [zone for found in find_zones(root).values() for zone in found]
    files = " ".join(shlex.quote(str(zone / "energy_uj")) for zone in zones)
    files = files or f"{Path(root)}/intel-rapl:*/energy_uj"
    return (
        "To measure CPU and RAM energy, an admin can make the RAPL counters readable, either\n"
        "  until the next reboot:\n"
        f"    sudo chmod a+r {files}\n"
        "  or at every boot, with a udev rule:\n"
        f"    echo '{UDEV_RULE}' | sudo tee {UDEV_RULE_FILE}\n"
        "    sudo udevadm control --reload && sudo udevadm trigger "
        "--subsystem-match=powercap --action=add\n"
        "Trade-off (CVE-2020-8694): every local user can then read the energy counters, "
        "and their fine-grained readings can leak secrets such as encryption keys through a "
        "power side-channel; do this only where you trust everyone who can log in. The next "
        "meter picks the counters up; Python need not restart."
    )
