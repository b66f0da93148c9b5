"""PV profiles from a location with pvlib: the sun's geometry holds (night, solar noon, seasons,
orientation), a weather file drives them, bad weather files are named, and a generated profile is
stored and used by a site like an imported one."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bess_ray.config import PVLocation, Site
from bess_ray.data.pv import pv_profile
from bess_ray.errors import ConfigError, DataError
from bess_ray.timegrid import TimeGrid
from tests.conftest import battery

BERLIN = PVLocation(latitude=52.52, longitude=13.40, tilt=30, azimuth=180)
YEAR = TimeGrid.from_range("2024-01-01", "2025-01-01", "60min")


def weather(location: PVLocation, ref: str) -> PVLocation:
    return location.model_copy(update={"weather": ref})


@pytest.fixture(scope="module")
def clear_year():
    return pv_profile(BERLIN, YEAR).values("profile").reshape(-1, 24)  # day x UTC hour


def test_clear_sky_follows_the_sun(clear_year):
    assert clear_year.min() >= 0 and clear_year.max() <= 1
    assert np.all(clear_year[:, [0, 1, 22, 23]] == 0)  # night in Berlin, all year
    noon = clear_year.argmax(axis=1)
    assert set(noon.tolist()) <= {10, 11}  # solar noon at 13.4 E is about 11:06 UTC (10:44-11:21)
    june, december = clear_year[152:182].sum(), clear_year[335:365].sum()
    assert june > 3 * december
    assert 0.12 < clear_year.mean() < 0.25  # a clear sky all year: above a real array's ~11 %


def test_a_south_facing_array_makes_more_than_a_north_facing_one(clear_year):
    north = pv_profile(PVLocation(latitude=52.52, longitude=13.40, tilt=30, azimuth=0), YEAR).values("profile").sum()
    flat = pv_profile(PVLocation(latitude=52.52, longitude=13.40, tilt=0), YEAR).values("profile").sum()
    assert clear_year.sum() > flat > north


def test_a_weather_file_drives_the_profile(tmp_path):
    grid = TimeGrid.from_range("2024-06-01", "2024-06-03", "15min")
    clear = pv_profile(BERLIN, grid).values("profile")
    hours = pl.datetime_range(pl.datetime(2024, 6, 1, time_zone="UTC"), pl.datetime(2024, 6, 3, time_zone="UTC"),
                              "1h", eager=True)
    h = hours.dt.hour().to_numpy() + 0.5
    ghi = np.clip(850.0 * np.sin(np.pi * (h - 3.0) / 16.0), 0.0, None)  # a sunny June day, 03:00-19:00 UTC
    ghi[24:] *= 0.2  # and an overcast one
    pl.DataFrame({"timestamp": hours, "ghi": ghi, "temp_air": np.full(hours.len(), 22.0)}).write_csv(tmp_path / "w.csv")
    s = pv_profile(weather(BERLIN, "w.csv"), grid, base_dir=tmp_path)
    v = s.values("profile")
    assert "w.csv" in s.source and v.max() <= 1.0
    sunny, cloudy = v[:96].sum(), v[96:].sum()
    assert 0.6 * clear[:96].sum() < sunny < 1.2 * clear[:96].sum()
    assert cloudy < 0.35 * sunny
    pl.DataFrame({"timestamp": hours, "ghi": np.zeros(hours.len())}).write_csv(tmp_path / "dark.csv")
    assert pv_profile(weather(BERLIN, str(tmp_path / "dark.csv")), grid).values("profile").max() == 0.0


@pytest.mark.parametrize("frame, message", [
    ({"timestamp": ["2024-06-01T00:00:00Z"] * 2, "dni": [0.0, 0.0]}, "needs columns timestamp and ghi"),
    ({"timestamp": ["2024-06-01T00:00:00Z", "2024-06-01T01:00:00Z"], "ghi": [0.0, -5.0]}, "column ghi: 1 missing or impossible"),
    ({"timestamp": ["2024-06-01T00:00:00Z", "2024-06-01T01:00:00Z"], "ghi": [0.0, 5.0]}, "not the window"),
])
def test_a_bad_weather_file_is_named(tmp_path, frame, message):
    pl.DataFrame(frame).write_csv(tmp_path / "w.csv")
    with pytest.raises(DataError, match=message):
        pv_profile(weather(BERLIN, str(tmp_path / "w.csv")), TimeGrid.from_range("2024-06-01", "2024-06-02", "15min"))
    with pytest.raises(DataError, match="no such file"):
        pv_profile(weather(BERLIN, str(tmp_path / "none.csv")), YEAR)


def site(pv: dict) -> dict:
    return {"id": "s", "zone": "DE-LU", "poi": {"import_mw": 2, "export_mw": 2},
            "assets": [battery(), {"type": "pv", "id": "pv1", "capacity_mw": 2.0, **pv}]}


def test_a_site_generates_its_pv_from_its_location_or_reads_the_stored_profile(tmp_path):
    from bess_ray.cli import main
    from bess_ray.data.generation import site_generation as generation

    grid = TimeGrid.from_range("2024-03-01", "2024-03-08", "15min")
    located = Site.from_dict(site({"location": {"latitude": 52.52, "longitude": 13.4, "tilt": 30}}))
    from_location = generation(located, grid).available_mw[0]
    assert from_location.max() > 0.5 and np.allclose(from_location, 2.0 * pv_profile(BERLIN, grid).values("profile"))
    assert main(["data", "pv-profile", "--name", "berlin", "--latitude", "52.52", "--longitude", "13.4",
                 "--start", "2024-01-01", "--end", "2025-01-01"]) == 0
    stored = Site.from_dict(site({"profile": "scenario:berlin"}))
    assert np.allclose(generation(stored, grid).available_mw[0], from_location, atol=1e-5)


def test_a_pv_asset_takes_exactly_one_source_and_a_checked_location():
    with pytest.raises(ConfigError, match="exactly one of profile or location"):
        Site.from_dict(site({"profile": "sample:DE_SOLAR_2024", "location": {"latitude": 1, "longitude": 2}}))
    with pytest.raises(ConfigError, match="exactly one of profile or location"):
        Site.from_dict(site({}))
    with pytest.raises(ConfigError, match="location.latitude"):
        Site.from_dict(site({"location": {"latitude": 95, "longitude": 2}}))
    assert PVLocation(latitude=1, longitude=2).azimuth == 180
