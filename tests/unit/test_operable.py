"""Plan versus operable: a plan delivered second by second through the control pipeline against the
field simulator's plant, on real measured frequency (backtesting/operable.py, data/frequency.py)."""
from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from bess_ray.backtesting import operable
from bess_ray.backtesting.config import BacktestConfig, ThroughControl
from bess_ray.backtesting.run import backtest
from bess_ray.config import Site
from bess_ray.control.reserves import DROOPS
from bess_ray.data.frequency import load_frequency
from bess_ray.dispatch.engine import Trace
from bess_ray.errors import DataError
from bess_ray.markets import get_zone
from tests.conftest import CONFIGS, battery, site_dict

DAY0 = np.datetime64("2023-06-05T00:00:00")
START_S = int(DAY0.astype("datetime64[s]").astype(np.int64))
# a plant equal to the LP's model: no response delay, no BMS taper, no ramp worth the name
LP_PLANT = dict(ramp_mw_per_s=1000.0, plant={"response_delay_s": 0.0, "ramp_mw_per_s": 1000.0, "bms_taper": 0.0})


def flat_trace(site: Site, intervals: int, net: float = 0.0, reserves: dict | None = None) -> Trace:
    """A plan by hand: `net` MW every interval (the SoC path it implies), reserves held throughout."""
    b = site.batteries[0]
    n = np.full((1, intervals), net)
    h = 0.25 * np.arange(1, intervals + 1)
    stored = b.soc_initial * b.energy_mwh - (h * net / b.discharge_efficiency if net > 0 else h * net * b.charge_efficiency)
    return Trace(DAY0 + np.arange(intervals) * np.timedelta64(15, "m"), [b.id], np.maximum(-n, 0), np.maximum(n, 0),
                 stored[None, :], n.copy(), n.copy(), stored[None, :],
                 {p: np.full((1, intervals), mw) for p, mw in (reserves or {}).items()})


def site_of(**kw) -> Site:
    products = kw.pop("products", ("da", "fcr"))
    zone = kw.pop("zone", "DE-LU")
    return Site.from_dict(site_dict(battery(charge_efficiency=0.95, discharge_efficiency=0.95, **kw),
                                    zone=zone, products=products))


def run(site, trace, hz, **tc):
    cfg = ThroughControl(**tc)
    seconds = cfg.warmup_s + trace.timestamps.size * 900
    if np.isscalar(hz):
        hz = np.full(seconds, float(hz))
    return operable.deliver(site, trace, hz[:seconds], START_S, 0.25, cfg)


def ce_day() -> np.ndarray:
    f = load_frequency("sample:CE_2022-09-17")
    return f.over(START_S - 10, 10 + 86400)[0]


# ------------------------------------------------------------------------------------- the plan as planned

@pytest.fixture(scope="module")
def lp_backtest():
    """Two real days of DE-LU day-ahead + FCR + aFRR, delivered on nominal frequency by an LP-equal plant."""
    cfg = BacktestConfig.from_yaml(CONFIGS / "backtests" / "de_lu_2023_fcr_afrr.yaml")
    cfg = cfg.model_copy(update={"window": cfg.window.model_copy(update={"start": date(2023, 2, 6), "end": date(2023, 2, 8)}),
                                 "baselines": [], "through_control": ThroughControl(frequency="nominal", **LP_PLANT)})
    return backtest(cfg, base_dir=CONFIGS / "backtests")


def test_with_zero_deviation_and_the_lps_plant_delivered_equals_planned_and_the_money_too(lp_backtest):
    r = lp_backtest
    o, op, trace = r.summary["operable"], r.operable, r.trace
    assert o["plan_simultaneous_intervals"] == 0      # a plan a plant can follow
    assert any(v.max() > 0.1 for v in trace.reserves.values())  # reserves were held
    assert np.abs(op.delivered - trace.net).max() < 1e-5
    assert np.abs(op.soc - trace.soc).max() < 1e-5
    assert o["revenue_eur"] == pytest.approx(r.summary["revenue_eur"], abs=0.01)
    assert o["non_delivery_intervals"] == 0 and "reserve_penalty" not in o["revenue_by_stream_eur"]
    assert o["soc_recovery"]["intervals"] == 0
    assert sum(v["seconds"] for v in o["limiter_interventions"].values()) <= 2  # rounding at an SoC limit at most
    for key in ("revenue_eur", "planned_mwh", "delivered_mwh", "reserve_activation_mwh", "limiter_interventions",
                "non_delivery_intervals"):
        assert key in o


# ------------------------------------------------------------------------------------- real frequency

def test_on_the_real_ce_day_fcr_activation_is_the_integral_of_the_droop_and_the_soc_stays_in_its_band():
    site = site_of(energy_mwh=2.0)
    hz = ce_day()
    trace = flat_trace(site, 96, reserves={"fcr": 0.5})
    op = run(site, trace, hz)
    # the droop's ask, integrated here independently of the run
    window = hz[10:]
    asked_mwh = 0.5 * sum(DROOPS["fcr"].activation(float(f)) for f in window) / 3600
    assert op.activation["fcr"].sum() * 0.25 == pytest.approx(asked_mwh, rel=1e-6)
    assert abs(asked_mwh) > 0.01 and np.abs(op.activation["fcr"]).max() > 0.02   # a day with real activation
    # what the plant delivered, less the SoC-recovery trades, is that activation interval by interval
    delivered = op.delivered[0] - op.recovery
    assert np.abs(delivered - op.activation["fcr"][0]).max() < 0.01
    assert (delivered * 0.25).sum() == pytest.approx(asked_mwh, abs=0.005)
    # 0.5 MW for 15 min each way stays available: inside the band all day, every interval delivered
    assert op.band_exits == []
    assert (op.soc[0] > 0.125 / 0.95).all() and (op.soc[0] < 2.0 - 0.125 * 0.95).all()
    assert not op.non_delivery["fcr"].any()


def test_a_commitment_the_battery_cannot_hold_is_reported_and_costs_its_capacity_and_the_penalty():
    # a 1 MWh battery nearly empty with 1 MW FCR: the energy for 15 min of discharge is not there
    site = site_of(energy_mwh=1.0, soc_initial=0.2)
    trace = flat_trace(site, 8, reserves={"fcr": 1.0})
    op = run(site, trace, ce_day()[:10 + 8 * 900] - 0.15)  # a low frequency: the droop discharges
    assert op.non_delivery["fcr"].any()
    assert op.band_exits and all(end > start for _, start, end in op.band_exits)
    reasons = {why for _, why, _, _ in op.interventions}
    assert "reserve_headroom_short" in reasons
    prices = {"da": np.full(8, 50.0), "fcr": np.full(8, 20.0)}
    streams = operable.settle(trace, op, site, prices, prices["da"], 0.0, 0.25, penalty_multiple=2.0)
    lost = 20.0 * 1.0 * 0.25 * op.non_delivery["fcr"].sum()
    assert streams["fcr"].sum() == pytest.approx(20.0 * 0.25 * 8 - lost)
    assert streams["reserve_penalty"].sum() == pytest.approx(-2.0 * lost)


def test_the_bms_taper_cuts_a_plan_that_charges_to_full_and_every_cut_is_counted():
    site = site_of(soc_initial=0.8, products=("da",))
    trace = flat_trace(site, 4, net=-1.0)  # 1 MW into a 2 MWh battery at 80 %: into the BMS's taper
    op = run(site, trace, 50.0, soc_recovery=None)
    assert op.delivered[0].sum() > trace.net[0].sum() + 0.1   # less was charged than planned
    reasons = {why for _, why, _, _ in op.interventions}
    assert reasons & {"bms", "soc_max"}, reasons
    assert all(end > start for _, _, start, end in op.interventions)


def test_soc_recovery_trades_a_drift_back_within_the_free_power():
    site = site_of(soc_initial=0.5)
    trace = flat_trace(site, 16, reserves={"fcr": 0.5})
    low = np.full(10 + 16 * 900, 49.9)  # a long low frequency drains the battery: half the FCR, 4 h
    low += np.where(np.arange(low.size) % 2, 1e-4, -1e-4)  # a measured signal moves
    op = run(site, trace, low)
    assert op.recovery.max() > 0 or op.recovery.min() < 0
    assert (op.recovery <= 0).all()  # it buys back what the activation discharged
    assert np.abs(op.recovery).max() <= 0.5 * (1.0 - 0.5) + 1e-9   # max_share of what FCR leaves free


def test_the_same_run_twice_gives_the_same_result_to_the_last_bit():
    site = site_of()
    trace = flat_trace(site, 8, net=0.2, reserves={"fcr": 0.3})
    hz = ce_day()
    a, b = run(site, trace, hz), run(site, trace, hz)
    for x, y in ((a.delivered, b.delivered), (a.soc, b.soc), (a.discharge, b.discharge), (a.recovery, b.recovery),
                 (a.activation["fcr"], b.activation["fcr"])):
        assert np.array_equal(x, y)
    assert a.interventions == b.interventions and a.band_exits == b.band_exits


# ------------------------------------------------------------------------------------- the frequency

def test_the_nordic_week_fills_its_real_gaps_by_interpolation_and_counts_them():
    f = load_frequency("auto", get_zone("DK2"))
    assert f.source == "sample:NORDIC_2015-01-01_07" and f.hz.size == 7 * 86400
    assert int(f.filled.sum()) == 420 and np.isfinite(f.hz).all()
    assert f.hz.min() == pytest.approx(49.691, abs=1e-3)  # the real disturbance is kept
    k = int(np.flatnonzero(f.filled)[0])
    lo, hi = sorted((f.hz[k - 1], f.hz[k + np.argmin(f.filled[k:])]))
    assert lo - 1e-12 <= f.hz[k] <= hi + 1e-12


def test_a_sample_is_repeated_over_a_backtest_keeping_its_utc_time_of_day():
    f = load_frequency("auto", get_zone("DE-LU"))
    assert f.source == "sample:CE_2022-09-17"
    later = START_S + 37 * 86400 + 3600 * 13 + 17   # any day, 13:00:17 UTC
    values, filled = f.over(later, 5)
    assert filled == 0
    assert np.array_equal(values, f.hz[13 * 3600 + 17:13 * 3600 + 22])


def test_a_users_series_is_read_held_on_a_coarser_grid_and_bad_ones_are_refused_naming_the_row(tmp_path):
    ts = pl.datetime_range(pl.datetime(2024, 1, 1, time_zone="UTC"), pl.datetime(2024, 1, 1, 0, 1, time_zone="UTC"),
                           "10s", eager=True, time_zone="UTC")
    good = pl.DataFrame({"timestamp_utc": ts, "frequency_hz": np.linspace(49.95, 50.05, ts.len())})
    good.write_csv(tmp_path / "f.csv")
    f = load_frequency(str(tmp_path / "f.csv"))
    assert f.hz.size == 61 and f.hz[1] == f.hz[0] and f.hz[10] != f.hz[0]   # each value held for its 10 s
    bad = good.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(5000.0).otherwise(pl.col("frequency_hz"))
                            .alias("frequency_hz"))
    bad.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"row 3 .*5000.0 Hz is not a grid frequency"):
        load_frequency(str(tmp_path / "bad.parquet"))
    good.with_columns(pl.col("timestamp_utc").dt.replace_time_zone(None)).write_parquet(tmp_path / "naive.parquet")
    with pytest.raises(DataError, match="no time zone"):
        load_frequency(str(tmp_path / "naive.parquet"))
    good.reverse().write_parquet(tmp_path / "backwards.parquet")
    with pytest.raises(DataError, match="row 1: .*is not after"):
        load_frequency(str(tmp_path / "backwards.parquet"))
    good.rename({"frequency_hz": "hz"}).write_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(DataError, match="frequency_hz column"):
        load_frequency(str(tmp_path / "nocol.parquet"))
    with pytest.raises(DataError, match="unknown sample 'XX'"):
        load_frequency("sample:XX")
    with pytest.raises(DataError, match="no such file"):
        load_frequency("missing.parquet", base_dir=tmp_path)


def test_a_wrong_through_control_block_names_the_field():
    from bess_ray.errors import ConfigError

    raw = BacktestConfig.from_yaml(CONFIGS / "backtests" / "de_lu_2023_da.yaml").model_dump(mode="json")
    for block, field in (({"control": {"period_s": -1}}, "through_control.control.period_s"),
                         ({"plant": {"bms_taper": 0.7}}, "through_control.plant.bms_taper"),
                         ({"penalty": 1}, "through_control.penalty")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            BacktestConfig.from_dict({**raw, "through_control": block})
