import numpy as np
import pytest

from bess_ray.errors import ConfigError
from bess_ray.markets import KERNELS, ZONES, get_zone, parse_products
from bess_ray.timegrid import TimeGrid, parse_resolution


def test_kernels_and_parse():
    assert parse_products("da_plus_fcrn_fcrd") == ("da", "fcr_n", "fcr_d_up", "fcr_d_down")
    assert parse_products("fcr,da") == ("da", "fcr")
    with pytest.raises(ConfigError, match="must include 'da'"):
        parse_products("fcr")
    assert set(KERNELS) == {"da_only", "da_plus_fcr", "da_plus_afrr", "da_plus_fcr_afrr", "da_plus_fcrn_fcrd"}


@pytest.mark.parametrize("zone", ["DE-LU", "BE", "NL", "SE3", "FI", "DK1", "DK2"])
def test_required_zones_exist(zone):
    z = get_zone(zone)
    assert "da" in z.products
    nordic = zone in ("SE3", "FI", "DK2")
    assert ("fcr_n" in z.products) == nordic and ("fcr" in z.products) == (not nordic)


def test_zone_spellings():
    assert get_zone("se_3").code == "SE3" and get_zone("DE").code == "DE-LU" and len(ZONES) >= 7


def test_fcr_blocks_follow_cet_across_dst():
    # spring forward: the local 00-04 block on 2023-03-26 lasts 3 hours
    g = TimeGrid.from_range("2023-03-25T23:00Z", "2023-03-26T22:00Z", "60min")
    blocks = g.blocks("Europe/Berlin", 4)
    assert np.bincount(blocks).tolist() == [3, 4, 4, 4, 4, 4]
    # fall back: the 00-04 block on 2023-10-29 lasts 5 hours
    g = TimeGrid.from_range("2023-10-28T22:00Z", "2023-10-29T23:00Z", "15min")
    assert (np.bincount(g.blocks("Europe/Berlin", 4)) / 4).tolist() == [5, 4, 4, 4, 4, 4]


def test_grid_and_resolution():
    assert parse_resolution("15min") == 15 and parse_resolution("1h") == 60 and parse_resolution("PT15M") == 15
    with pytest.raises(ValueError):
        parse_resolution("7min")
    g = TimeGrid.from_range("2023-01-01", "2023-01-02", "15min")
    assert g.periods == 96 and g.dt_hours == 0.25
    with pytest.raises(ValueError, match="not aligned"):
        TimeGrid.from_range("2023-01-01T00:10Z", "2023-01-02", "15min")


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Europe/Stockholm", "Europe/London"])
@pytest.mark.parametrize("start, periods", [("2023-03-25T23:00", 96), ("2023-10-28T22:00", 100),
                                            ("2023-06-01T00:00", 96), ("2023-03-20T00:15", 672),
                                            ("2023-10-29T00:45", 700), ("2023-01-01T00:00", 35040)])
def test_local_blocks_and_days_match_the_zone_database_across_dst(tz, start, periods):
    # the short-window shortcut (a fixed offset) must agree with a full time-zone conversion
    grid = TimeGrid(np.datetime64(start, "us"), periods, 15)
    local = grid.series().dt.convert_time_zone(tz)
    day = np.unique(local.dt.date().to_numpy(), return_inverse=True)[1]
    minutes = local.dt.hour().to_numpy().astype(int) * 60 + local.dt.minute().to_numpy()
    key = day * 7 + minutes // 240
    blocks = np.concatenate([[0], np.cumsum(key[1:] != key[:-1])])
    assert (grid.local_days(tz) == day).all() and (grid.blocks(tz, 4) == blocks).all()
