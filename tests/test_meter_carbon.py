"""peprkit.meter carbon: the shipped table, lookups, errors, the world-average warning."""

from __future__ import annotations

import warnings

import pytest

from peprkit.meter import EnergyMeter, carbon_table, co2_g, lookup_country, resolve_intensity

REQUIRED_FIGURES = {  # gCO2eq/kWh, 2023, OWID / Ember: the figures the table must hold
    "US": 384, "GB": 211, "DE": 344, "FR": 44, "DK": 143, "NO": 31, "SE": 36, "PL": 615,
    "IT": 288, "ES": 146, "NL": 253, "CH": 37, "CN": 560, "IN": 708, "JP": 482, "KR": 414,
    "AU": 552, "CA": 175, "BR": 103, "MX": 485, "AR": 359, "CL": 266, "CO": 286, "PE": 263,
    "ZA": 709, "NG": 508, "KE": 85, "GH": 453, "ET": 24, "EG": 572, "MA": 578, "TZ": 372,
    "UG": 57, "RW": 302, "SN": 535, "CM": 286, "ZW": 298, "ZM": 111, "BD": 695, "PK": 399,
    "LK": 510, "NP": 23, "ID": 682, "PH": 613, "VN": 471, "TH": 554, "MY": 604, "SG": 499,
    "IR": 642, "IQ": 689, "SA": 696, "AE": 493, "TR": 470, "RU": 449, "UA": 256,
}


def test_table_holds_every_figure_with_provenance():
    table = carbon_table()
    assert list(table.columns) == ["country", "code", "intensity_g_per_kwh", "year", "source"]
    by_code = table.set_index("code")
    for code, value in REQUIRED_FIGURES.items():
        assert by_code.loc[code, "intensity_g_per_kwh"] == value, code
    assert len(table) == len(REQUIRED_FIGURES) + 1  # + World
    assert by_code.loc["WORLD", "intensity_g_per_kwh"] == 481
    assert table["year"].eq(2023).all() and table["source"].str.len().gt(10).all()
    assert table["code"].is_unique and table["country"].is_unique


@pytest.mark.parametrize("key", ["DK", "dk", " Denmark ", "DENMARK"])
def test_lookup_by_code_or_name(key):
    row = lookup_country(key)
    assert (row.code, row.intensity_g_per_kwh, row.label) == ("DK", 143.0, "table:DK-2023")


def test_common_aliases():
    assert lookup_country("UK").code == "GB"
    assert lookup_country("usa").code == "US"


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("Denmrak", r"country='Denmrak' is not in .* Did you mean: Denmark\?"),
        ("DNK", r"country='DNK' .* Did you mean: DK\? Use an ISO alpha-2 code"),
        ("south corea", r"Did you mean: South Korea\b"),
        ("ZZ", r"country='ZZ' is not in peprkit's carbon table\. Use an ISO alpha-2 code"),
    ],
)
def test_unknown_country_lists_close_matches(key, match):
    with pytest.raises(ValueError, match=match):
        lookup_country(key)
    with pytest.raises(ValueError, match=match):
        EnergyMeter(country=key)


def test_no_country_warns_and_uses_world_average():
    with pytest.warns(UserWarning, match=r"world average 481 .*country='DK'.*intensity_g_per_kwh"):
        grid = resolve_intensity()
    assert grid.code == "WORLD" and grid.intensity_g_per_kwh == 481.0
    with pytest.warns(UserWarning, match="world average"):
        meter = EnergyMeter(gpu=False, rapl_root="/nonexistent")
    assert meter.grid.label == "table:WORLD-2023"


def test_override_wins_and_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = resolve_intensity("PL", 12.5)
        meter = EnergyMeter(country="FR", intensity_g_per_kwh=0, gpu=False)
    assert (grid.intensity_g_per_kwh, grid.label) == (12.5, "override")
    assert meter.grid.intensity_g_per_kwh == 0.0


@pytest.mark.parametrize("bad", [-1, "lots", float("nan")])
def test_bad_intensity(bad):
    with pytest.raises(ValueError, match=r"intensity_g_per_kwh=.* must be a number >= 0"):
        resolve_intensity(intensity_g_per_kwh=bad)


def test_co2_formula_and_pue():
    assert co2_g(0.5, intensity_g_per_kwh=200) == 100.0
    assert co2_g(0.5, intensity_g_per_kwh=200, pue=1.5) == pytest.approx(150.0)
    with pytest.raises(ValueError, match=r"pue=0.5 must be a number >= 1.0"):
        co2_g(1.0, intensity_g_per_kwh=100, pue=0.5)
    with pytest.raises(ValueError, match=r"energy_kwh=-1 must be a number >= 0"):
        co2_g(-1, intensity_g_per_kwh=100)


def test_meter_reading_uses_pue_and_country(tmp_path):
    meter = EnergyMeter(country="NO", pue=1.2, gpu=False, rapl_root=tmp_path,
                        cpu_seconds=iter([0.0, 360.0]).__next__, interval_s=3600)
    with meter:
        pass
    total = meter.total
    assert total.cpu_kwh == pytest.approx(1e-3)  # 360 s x 10 W
    assert total.co2_g == pytest.approx(total.energy_kwh * 1.2 * 31.0)
    assert total.to_dict()["intensity_source"] == "table:NO-2023"
