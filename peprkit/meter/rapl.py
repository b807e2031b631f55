"""CPU and DRAM energy from Linux powercap RAPL counters (``/sys/class/powercap``).

Each ``intel-rapl:N`` zone (AMD chips use the same driver) has a ``name`` (``package-0``,
``dram``, ``core``, ``uncore``, ``psys``) and an ``energy_uj`` counter that wraps to 0 after
``max_energy_range_uj``. Package zones are summed for the CPU and dram zones for RAM;
``core``/``uncore`` are parts of a package and ``psys`` covers the whole platform, so they
are skipped. RAPL measures the whole machine, not only this process. Since 2020 most
kernels let only root read ``energy_uj``; then the meter falls back to estimates.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_ROOT = Path("/sys/class/powercap")
_COMPONENT_OF = {"package": "cpu", "dram": "ram"}


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
            f"RAPL energy_uj under {root} is not readable (permission denied; root only on most "
            f"kernels since 2020). To measure, an admin can run "
            f"`sudo chmod a+r {root}/intel-rapl:*/energy_uj`."
        )
    except (OSError, ValueError) as err:
        return None, f"RAPL counters under {root} unreadable: {err}"
