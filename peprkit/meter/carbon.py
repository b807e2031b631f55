"""Carbon, offline: grid carbon intensity from a table shipped with the package.

``co2_g = energy_kwh * pue * intensity_g_per_kwh``. No network call is ever made: the
intensity comes from ``intensity_g_per_kwh=`` (an override), else from ``country=``
looked up in ``carbon_intensity.csv`` (2023 figures, Our World in Data / Ember), else
the world average with a warning.

World average: 481 gCO2eq/kWh, Ember's 2023 world figure (Global Electricity Review
2024). Published world figures range from about 445 to 481 g/kWh depending on source,
year and whether life-cycle emissions are counted; Ember's is used because the country
rows come from the same Ember series (via Our World in Data), so a learner who does not
set a country is compared on the same basis as one who does.
"""

from __future__ import annotations

import csv
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from peprkit._util import did_you_mean
from peprkit._validation import check_number

if TYPE_CHECKING:
    import pandas as pd

_TABLE = Path(__file__).with_name("carbon_intensity.csv")
WORLD_CODE = "WORLD"
_ALIASES = {"uk": "gb", "usa": "us"}  # common non-ISO spellings


@dataclass(frozen=True)
class GridIntensity:
    """One row of the carbon table: where, how much, and from whom."""

    country: str
    code: str
    intensity_g_per_kwh: float
    year: int
    source: str

    @property
    def label(self) -> str:
        """Short provenance label, e.g. ``'table:DK-2023'`` or ``'override'``."""
        return "override" if self.code == "" else f"table:{self.code}-{self.year}"


@functools.cache
def _rows() -> tuple[GridIntensity, ...]:
    with open(_TABLE, newline="", encoding="utf-8") as fh:
        return tuple(
            GridIntensity(
                row["country"], row["code"], float(row["intensity_g_per_kwh"]),
                int(row["year"]), row["source"],
            )
            for row in csv.DictReader(fh)
        )


def carbon_table() -> pd.DataFrame:
    """The shipped carbon table as a pandas DataFrame (one row per country, plus World).

    >>> float(carbon_table().set_index("code").loc["DK", "intensity_g_per_kwh"])
    143.0
    """
    import pandas as pd

    return pd.DataFrame([vars(row) for row in _rows()])


def lookup_country(country: str) -> GridIntensity:
    """The table row for an ISO alpha-2 code or a country name (case-insensitive).

    Args:
        country: e.g. ``"DK"``, ``"dk"`` or ``"Denmark"`` (``"UK"`` and ``"USA"`` are accepted
            too); ``"WORLD"`` gives the world average.

    Returns:
        The matching ``GridIntensity``.

    Raises:
        ValueError: unknown code or name; the message lists close matches.

    >>> lookup_country("no").intensity_g_per_kwh
    31.0
    """
    key = str(country).strip().casefold()
    key = _ALIASES.get(key, key)
    for row in _rows():
        if key in (row.code.casefold(), row.country.casefold()):
            return row
    codes = [row.code for row in _rows()]
    names = [row.country for row in _rows()]
    hint = did_you_mean(str(country).strip().upper(), codes) or did_you_mean(
        str(country).strip().title(), names
    )
    raise ValueError(
        f"country={country!r} is not in peprkit's carbon table.{hint} Use an ISO alpha-2 code "
        f"such as 'DK' (see peprkit.meter.carbon_table()), or pass intensity_g_per_kwh= "
        f"with your grid's figure."
    )


def resolve_intensity(
    country: str | None = None, intensity_g_per_kwh: float | None = None
) -> GridIntensity:
    """Pick the grid intensity: the override, else the country, else the world average.

    Args:
        country: ISO alpha-2 code or name looked up in the shipped table.
        intensity_g_per_kwh: your own figure in gCO2eq/kWh; wins over ``country``.

    Returns:
        A ``GridIntensity`` whose ``label`` says where the figure came from.

    Raises:
        ValueError: negative or non-numeric intensity, or unknown country.

    Warns:
        UserWarning: neither argument given (the world average is used).

    >>> resolve_intensity(intensity_g_per_kwh=100).label
    'override'
    """
    if intensity_g_per_kwh is not None:
        value = check_number(
            "intensity_g_per_kwh", intensity_g_per_kwh, low=0, strict=False,
            hint="(grams CO2eq per kWh, e.g. 143 for Denmark in 2023)",
        )
        return GridIntensity("override", "", value, 0, "given by intensity_g_per_kwh=")
    if country is not None:
        return lookup_country(country)
    world = lookup_country(WORLD_CODE)
    warnings.warn(
        f"No country or intensity given: using the world average "
        f"{world.intensity_g_per_kwh:g} gCO2eq/kWh ({world.year}). Set country='DK' (ISO code) "
        f"or intensity_g_per_kwh=... on EnergyMeter for your grid.",
        UserWarning,
        stacklevel=3,
    )
    return world


def co2_g(energy_kwh: float, *, intensity_g_per_kwh: float, pue: float = 1.0) -> float:
    """Grams of CO2eq for an energy use: ``co2_g = energy_kwh * pue * intensity_g_per_kwh``.

    Args:
        energy_kwh: energy drawn by the hardware, in kWh.
        intensity_g_per_kwh: grid carbon intensity in gCO2eq/kWh.
        pue: power usage effectiveness, >= 1. Keep 1.0 on a laptop or a cloud notebook VM
            (no data-centre overhead is billed to you); use 1.1-1.6 for a data-centre machine
            you own or rent whole (1.1 hyperscale, ~1.6 typical enterprise).

    Returns:
        Grams of CO2-equivalent.

    Raises:
        ValueError: ``pue`` below 1 or ``energy_kwh`` negative.

    >>> co2_g(2.0, intensity_g_per_kwh=100, pue=1.5)
    300.0
    """
    energy = check_number("energy_kwh", energy_kwh, low=0, strict=False, hint="(kWh drawn)")
    return energy * check_pue(pue) * float(intensity_g_per_kwh)


def check_pue(pue: float) -> float:
    """Return ``pue`` as a float, or raise ValueError when it is not a number >= 1."""
    return check_number(
        "pue", pue, low=1.0, strict=False,
        hint="(1.0 for a laptop or notebook VM, 1.1-1.6 for a data centre)",
    )
