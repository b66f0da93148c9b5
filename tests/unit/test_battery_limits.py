"""The battery as users state it: time-varying limits (outages, deratings, SoC windows), wear on
throughput and cycles, battery-side ratings and C-rates, the joint charge-discharge row, idle locks."""
from __future__ import annotations

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
import yaml

import bess_ray
from bess_ray import Locks
from bess_ray.config import Site
from bess_ray.errors import ConfigError, InfeasibleError
from tests.conftest import CONFIGS

SITE = yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text())
BERLIN = ZoneInfo("Europe/Berlin")
WEEK = dict(start="2023-06-01", end="2023-06-08")


def site(**battery) -> dict:
    d = copy.deepcopy(SITE)
    d["assets"][0].update(battery)
    return d


def local(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(local=pl.col("timestamp").dt.convert_time_zone("Europe/Berlin"))


def optimize(d: dict, **kw):
    return bess_ray.optimize(d, "sample:DE_LU_2023", **{**WEEK, **kw})


# ------------------------------------------------------------------------------ time-varying limits
def test_an_outage_fixes_charge_and_discharge_to_zero_and_costs_money():
    free = optimize(site())
    out = optimize(site(limits=[{"start": "2023-06-03T00:00", "end": "2023-06-04T00:00", "available": False,
                                 "reason": "maintenance"}]))
    day = local(out.schedule).filter(pl.col("local").dt.date() == datetime(2023, 6, 3).date())
    assert day.height == 96 and day["charge_mw"].abs().max() == 0 and day["discharge_mw"].abs().max() == 0
    busy = local(free.schedule).filter(pl.col("local").dt.date() == datetime(2023, 6, 3).date())
    assert busy["discharge_mw"].max() > 0.5  # the outage took away a day the battery traded
    assert out.summary["revenue_eur"] < free.summary["revenue_eur"]


def test_an_outage_blocks_every_interval_it_touches():
    out = optimize(site(limits=[{"start": "2023-06-03T12:10", "end": "2023-06-03T12:20", "available": False}]))
    s = local(out.schedule).filter((pl.col("local") >= datetime(2023, 6, 3, 12, tzinfo=BERLIN))
                                   & (pl.col("local") < datetime(2023, 6, 3, 12, 30, tzinfo=BERLIN)))
    assert s.height == 2 and (s["charge_mw"] + s["discharge_mw"]).abs().max() == 0


def test_a_derating_caps_power_within_its_window_only():
    d = site(limits=[{"start": "2023-06-02T00:00+02:00", "end": "2023-06-05T00:00+02:00",
                      "charge_mw": 0.4, "discharge_mw": 0.3}])
    s = local(optimize(d).schedule)
    inside = s.filter((pl.col("local") >= datetime(2023, 6, 2, tzinfo=BERLIN))
                      & (pl.col("local") < datetime(2023, 6, 5, tzinfo=BERLIN)))
    outside = s.filter(pl.col("local") >= datetime(2023, 6, 5, tzinfo=BERLIN))
    assert inside["charge_mw"].max() <= 0.4 + 1e-9 and inside["discharge_mw"].max() <= 0.3 + 1e-9
    assert inside["discharge_mw"].max() == pytest.approx(0.3) and outside["discharge_mw"].max() == pytest.approx(1.0)


def test_a_state_of_charge_at_an_instant_holds_at_that_local_time():
    """'At least 80 % at 07:00': the SoC at the end of the quarter-hour that ends at 07:00 local."""
    s = local(optimize(site(limits=[{"at": "2023-06-05T07:00", "soc_min": 0.8}])).schedule)
    at = s.filter(pl.col("local") == datetime(2023, 6, 5, 6, 45, tzinfo=BERLIN))
    assert at["soc_end_frac"].item() >= 0.8 - 1e-9
    free = local(optimize(site()).schedule).filter(pl.col("local") == datetime(2023, 6, 5, 6, 45, tzinfo=BERLIN))
    assert free["soc_end_frac"].item() < 0.8  # without the limit the plan is elsewhere at 07:00


def test_a_state_of_charge_window_holds_at_every_interval_end_in_it():
    s = local(optimize(site(limits=[{"start": "2023-06-04T10:00", "end": "2023-06-04T14:00", "soc_max": 0.3}])).schedule)
    ends = s.with_columns(end=pl.col("local") + pl.duration(minutes=15)).filter(
        (pl.col("end") >= datetime(2023, 6, 4, 10, tzinfo=BERLIN)) & (pl.col("end") <= datetime(2023, 6, 4, 14, tzinfo=BERLIN)))
    assert ends.height == 17 and ends["soc_end_frac"].max() <= 0.3 + 1e-9


def test_limits_that_cannot_hold_are_named_with_their_time():
    with pytest.raises(InfeasibleError) as e:
        optimize(site(limits=[{"at": "2023-06-01T03:00", "soc_min": 1.0}]))  # 50 % -> 100 % in an hour at 1 MW
    assert e.value.families == ["limits"]
    assert "limit_soc_min[bess1]" in str(e.value) and "interval from 2023-06-01T00:45:00Z" in str(e.value)


def test_an_outage_holds_back_the_reserves_of_its_blocks_too():
    d = site(limits=[{"start": "2023-06-03T09:00", "end": "2023-06-03T10:00", "available": False}])
    d["markets"] = {"products": ["da", "fcr"]}
    r = bess_ray.optimize(d, "sample:DE_LU_2023", reserve_prices=["sample:FCR_2021@2023"], **WEEK)
    s = local(r.schedule)
    block = s.filter((pl.col("local") >= datetime(2023, 6, 3, 8, tzinfo=BERLIN))
                     & (pl.col("local") < datetime(2023, 6, 3, 12, tzinfo=BERLIN)))  # the 08-12 FCR block
    assert block["reserve_fcr_mw"].max() == 0
    assert s["reserve_fcr_mw"].max() > 0.5


def test_limits_from_a_file_of_windows_or_a_series_give_the_inline_schedule(tmp_path):
    inline = [{"start": "2023-06-03T00:00", "end": "2023-06-03T06:00", "available": False},
              {"start": "2023-06-05T00:00", "end": "2023-06-06T00:00", "discharge_mw": 0.5}]
    want = optimize(site(limits=inline)).schedule
    pl.DataFrame({"start": ["2023-06-03T00:00", "2023-06-05T00:00"], "end": ["2023-06-03T06:00", "2023-06-06T00:00"],
                  "available": ["false", ""], "discharge_mw": [None, 0.5]}).write_csv(tmp_path / "windows.csv")
    hours = [datetime(2023, 6, 3, h) for h in range(6)] + [datetime(2023, 6, 3, 6)] \
        + [datetime(2023, 6, 5, h) for h in range(24)] + [datetime(2023, 6, 6)]
    series = pl.DataFrame({"timestamp": [t.isoformat() for t in hours],
                           "available": [False] * 6 + [None] * 25 + [None],
                           "discharge_mw": [None] * 7 + [0.5] * 24 + [None]})
    series.write_parquet(tmp_path / "series.parquet")
    for name in ("windows.csv", "series.parquet"):
        path = tmp_path / f"site_{name}.yaml"
        path.write_text(yaml.safe_dump(site(limits=name)))
        got = optimize(str(path)).schedule
        assert got["net_mw"].to_list() == want["net_mw"].to_list(), name


def test_a_limits_file_is_refused_where_no_site_file_says_where_it_is():
    """Over HTTP a site arrives as data: it must not name files on the server."""
    with pytest.raises(ConfigError, match=r"assets\.0\.limits: .*give the limits inline"):
        Site.from_dict(site(limits="/etc/limits.csv"))


@pytest.mark.parametrize("limit, message", [
    ({"start": "2023-06-03T10:00", "end": "2023-06-03T09:00", "available": False}, "must be after start"),
    ({"start": "2023-06-03T10:00", "available": False}, "give start and end"),
    ({"at": "2023-06-03T10:00", "discharge_mw": 0.5}, "at is an instant"),
    ({"start": "2023-06-03T10:00", "end": "2023-06-03T11:00"}, "a limit needs"),
    ({"start": "2023-06-03T10:00", "end": "2023-06-03T11:00+02:00", "soc_min": 0.2}, "both have an offset"),
    ({"at": "2023-06-03T10:00", "soc_min": 0.7, "soc_max": 0.6}, "is above soc_max"),
    ({"start": "2023-06-03T10:00", "end": "2023-06-03T11:00", "charge_mw": -1}, r"limits\.0\.charge_mw"),
])
def test_a_wrong_limit_names_its_field_and_the_reason(limit, message):
    with pytest.raises(ConfigError, match=message) as e:
        Site.from_dict(site(limits=[limit]))
    assert "assets.0.limits.0" in str(e.value)


def test_an_soc_limit_outside_the_battery_range_is_refused():
    with pytest.raises(ConfigError, match=r"limits\[0\]\.soc_min \(0.05\) lies outside"):
        Site.from_dict(site(soc_min=0.1, soc_initial=0.5, limits=[{"at": "2023-06-03T10:00", "soc_min": 0.05}]))


def test_a_long_window_with_limits_is_solved_by_weeks_to_the_one_lps_optimum():
    d = site(limits=[{"start": "2023-03-10T00:00", "end": "2023-03-12T00:00", "available": False},
                     {"at": "2023-04-02T07:00", "soc_min": 0.9}])  # across the DST change of 26 March
    kw = dict(start="2023-03-01", end="2023-04-05")
    weeks, one = optimize(d, **kw), optimize(d, one_lp=True, **kw)
    assert "weeks joined" in weeks.summary["solved_as"] and weeks.summary["solved_as"] != one.summary["solved_as"]
    assert weeks.summary["revenue_eur"] == pytest.approx(one.summary["revenue_eur"], abs=0.01)


def test_a_backtest_keeps_the_limits_day_by_day():
    from bess_ray.backtesting.config import BacktestConfig

    d = site(limits=[{"start": "2023-06-06T00:00", "end": "2023-06-07T00:00", "available": False}])
    cfg = BacktestConfig.model_validate(dict(
        name="t", site=d, prices={"day_ahead": "sample:DE_LU_2023"}, window={"start": "2023-06-05", "end": "2023-06-08"},
        workflow="da_only", forecast={"type": "persistence", "lags_days": [1]}, baselines=[]))
    s = local(bess_ray.backtest(cfg).realised)
    day = s.filter(pl.col("local").dt.date() == datetime(2023, 6, 6).date())
    assert day.height == 96 and (day["charge_mw"].abs() + day["discharge_mw"].abs()).max() == 0
    assert s["discharge_mw"].max() > 0.5


# ------------------------------------------------------------------------------------------- wear
def test_throughput_and_cycle_costs_are_charged_in_the_lp_and_reported():
    base = optimize(site())
    thr = optimize(site(throughput_cost_eur_mwh=8.0))
    s, dt = thr.schedule, 0.25
    moved = float((s["charge_mw"].sum() + s["discharge_mw"].sum()) * dt)
    assert thr.summary["degradation_cost_eur"] == pytest.approx(8.0 * moved, abs=0.01)
    assert thr.summary["profit_eur"] == pytest.approx(thr.summary["revenue_eur"] - 8.0 * moved, abs=0.01)
    assert moved < float((base.schedule["charge_mw"].sum() + base.schedule["discharge_mw"].sum()) * dt)
    # a cost per full cycle is a cost per MWh discharged of usable energy: the same plan
    per_cycle = optimize(site(cycle_cost_eur=40.0, soc_min=0.1, soc_max=0.9))
    per_mwh = optimize(site(degradation_cost_eur_mwh=40.0 / 1.6, soc_min=0.1, soc_max=0.9))
    assert per_cycle.schedule["net_mw"].to_list() == per_mwh.schedule["net_mw"].to_list()
    assert per_cycle.summary["degradation_cost_eur"] == pytest.approx(per_mwh.summary["degradation_cost_eur"], abs=0.01)


# ------------------------------------------------------------------------------ battery-side ratings
def test_a_battery_side_rating_is_converted_through_the_efficiencies():
    b = Site.from_dict(site(power_side="dc", charge_mw=1.0, discharge_mw=1.0, charge_efficiency=0.95,
                            discharge_efficiency=0.9)).batteries[0]
    assert b.charge_mw == pytest.approx(1.0 / 0.95) and b.discharge_mw == pytest.approx(0.9)
    assert b.power_side == "ac"  # converted once: the dumped site reads back the same
    assert Site.from_dict(Site.from_dict(site(power_side="dc")).model_dump()).batteries[0] == \
        Site.from_dict(site(power_side="dc")).batteries[0]


def test_a_c_rate_gives_battery_side_power_from_the_energy():
    d = site(c_rate=0.5, energy_mwh=4.0)
    del d["assets"][0]["charge_mw"], d["assets"][0]["discharge_mw"]
    b = Site.from_dict(d).batteries[0]
    assert b.charge_mw == pytest.approx(2.0 / 0.95) and b.discharge_mw == pytest.approx(2.0 * 0.95)
    with pytest.raises(ConfigError, match="give c_rate or charge_mw"):
        Site.from_dict(site(c_rate=0.5))
    with pytest.raises(ConfigError, match=r"assets\.0\.power_side"):
        Site.from_dict(site(power_side="grid"))
    d["assets"][0]["c_rate"] = -1
    with pytest.raises(ConfigError, match="c_rate"):
        Site.from_dict(d)


# ------------------------------------------------------------------------------- joint power row
def test_the_joint_row_keeps_charge_and_discharge_from_running_together_at_full_power():
    """Negative prices make a lossy battery burn energy by charging and discharging at once."""
    kw = dict(start="2023-07-01", end="2023-07-04")
    free = optimize(site(), **kw).schedule
    joint = optimize(site(joint_power_limit=True), **kw).schedule
    assert (free["charge_mw"] + free["discharge_mw"]).max() == pytest.approx(2.0)
    assert (joint["charge_mw"] / 1.0 + joint["discharge_mw"] / 1.0).max() <= 1.0 + 1e-9
    mip = optimize(site(), binaries=True, **kw).schedule  # the binaries stay available
    assert int(((mip["charge_mw"] > 1e-6) & (mip["discharge_mw"] > 1e-6)).sum()) == 0


# ---------------------------------------------------------------------------------------- idle locks
def test_an_idle_lock_fixes_both_directions_where_a_net_lock_of_zero_does_not():
    """A full battery facing negative prices at noon would rather be empty: under a lock of net 0
    it burns its energy by charging and discharging at once; idle, it cannot."""
    kw = dict(start="2023-07-02", end="2023-07-03")
    d = site(soc_initial=1.0, final_soc="free")
    morning = np.zeros(96, bool)
    morning[:36] = True  # until 09:00 UTC, before the negative prices
    burnt = optimize(d, locks=Locks(net_mw={"bess1": np.where(morning, 0.0, np.nan)}), **kw).schedule[:36]
    still = optimize(d, locks=Locks(idle={"bess1": morning}), **kw).schedule[:36]
    assert burnt["charge_mw"].max() == pytest.approx(1.0) and burnt["discharge_mw"].max() == pytest.approx(1.0)
    assert burnt["net_mw"].abs().max() < 1e-9
    assert still["charge_mw"].abs().max() == 0 and still["discharge_mw"].abs().max() == 0
    with pytest.raises(ConfigError, match=r"locks\.idle\['bess1'\]: 95 values, but the window has 96"):
        optimize(d, locks=Locks(idle={"bess1": np.ones(95, bool)}), **kw)
    with pytest.raises(ConfigError, match="unknown battery 'nope'"):
        optimize(d, locks=Locks(idle={"nope": morning}), **kw)


def test_a_sweep_sizing_by_c_rate_takes_the_power_from_the_sized_energy():
    from bess_ray.sweeps.spec import Sizing, _sized

    dumped = Site.from_dict(site()).model_dump(mode="json")
    sized = Site.from_dict(_sized(dumped, Sizing(energy_mwh=4.0, battery={"c_rate": 0.25})))
    assert sized.batteries[0].discharge_mw == pytest.approx(1.0 * 0.95)
    assert sized.batteries[0].charge_mw == pytest.approx(1.0 / 0.95)
