"""The optimiser on known answers and hand-checkable cases, one per product."""
import numpy as np
import polars as pl
import pytest

from bess_ray import Locks, Site, optimize
from bess_ray.data.market import MarketPrices
from bess_ray.data.samples import known_answer_cases
from bess_ray.errors import DataError, InfeasibleError
from bess_ray.timegrid import TimeGrid
from tests.conftest import battery, site_dict


def market(prices: dict, start="2023-01-02T00:00Z", resolution=60) -> MarketPrices:
    n = len(prices["da"])
    grid = TimeGrid(np.datetime64(start.rstrip("Z"), "us"), n, resolution)
    return MarketPrices(grid, {k: np.asarray(v, float) for k, v in prices.items()})


def run(site: dict, prices: dict, **kw):
    return optimize(Site.from_dict(site), market=market(prices, **{k: kw.pop(k) for k in ("start", "resolution") if k in kw}), **kw)


@pytest.mark.parametrize("case", known_answer_cases(), ids=lambda c: c["name"])
def test_energypylinear_known_answers(case):
    # their model: losses on charge only, so charge_efficiency = eff and discharge_efficiency = 1
    final = {None: "free"}.get(case["final"], case["final"] / case["cap"] if case["final"] is not None else "free")
    b = battery(charge_mw=case["power"], discharge_mw=case["power"], energy_mwh=case["cap"],
                charge_efficiency=case["eff"], discharge_efficiency=1.0,
                soc_initial=case["init"] / case["cap"], final_soc=final)
    r = run(site_dict(b), {"da": case["prices"]})
    assert r.revenue_eur == pytest.approx(case["lp_profit"], abs=1e-3)
    s = r.schedule
    if "expect_dispatch" in case:  # their dispatch is import-positive; ours is export-positive
        assert np.allclose(-s["net_mw"].to_numpy(), case["expect_dispatch"], atol=1e-4)
    if "expect_charge_sum" in case:
        assert s["charge_mw"].sum() == pytest.approx(case["expect_charge_sum"], abs=1e-4)
        assert s["discharge_mw"].sum() == pytest.approx(case["expect_discharge_sum"], abs=1e-4)


def test_round_trip_efficiency_by_hand():
    # buy 1 MWh at 10, sell at 100: 0.9 * 0.8 of it comes back
    b = battery(charge_efficiency=0.9, discharge_efficiency=0.8, energy_mwh=1.0, soc_initial=0.0)
    r = run(site_dict(b), {"da": [10, 100]})
    assert r.revenue_eur == pytest.approx(-10 + 100 * 0.9 * 0.8)
    assert r.schedule["soc_end_mwh"].to_list() == pytest.approx([0.9, 0.0])


def test_final_soc_rules():
    prices = {"da": [100, 100, 10, 10]}
    free = run(site_dict(battery(final_soc="free")), prices)
    assert free.schedule["soc_end_mwh"][-1] == pytest.approx(0.0)  # sells all, buys nothing back
    at_least = run(site_dict(battery(final_soc="at_least_initial")), {"da": [10, 10, 100, 100]})
    assert at_least.schedule["soc_end_mwh"][-1] == pytest.approx(1.0)
    equal = run(site_dict(battery(final_soc="equal_initial")), prices)
    assert equal.schedule["soc_end_mwh"][-1] == pytest.approx(1.0)
    value = run(site_dict(battery(final_soc=0.25)), prices)
    assert value.schedule["soc_end_mwh"][-1] == pytest.approx(0.5)


def test_standby_loss_and_degradation_cost():
    b = battery(standby_loss_per_hour=0.1, soc_initial=1.0, energy_mwh=1.0)
    r = run(site_dict(b), {"da": [0, 0, 0]})
    assert r.schedule["soc_end_mwh"].to_list() == pytest.approx([0.9, 0.81, 0.729])
    # a spread of 8 EUR/MWh does not pay a degradation cost of 10 EUR/MWh discharged
    r = run(site_dict(battery(degradation_cost_eur_mwh=10.0, soc_initial=0.0)), {"da": [50, 58]})
    assert r.schedule["discharge_mw"].sum() == pytest.approx(0.0)
    r = run(site_dict(battery(degradation_cost_eur_mwh=5.0, soc_initial=0.0)), {"da": [50, 58]})
    assert r.summary["profit_eur"] == pytest.approx(8 - 5)
    assert r.summary["degradation_cost_eur"] == pytest.approx(5)


def test_cycle_limit_per_local_day():
    prices = {"da": [0, 100] * 24}  # 48 hours: one cycle possible every two hours
    b = battery(energy_mwh=1.0, soc_initial=0.0, max_cycles_per_day=2.0)
    r = run(site_dict(b), prices, start="2023-01-01T23:00Z")  # two whole local (CET) days
    days = r.schedule.with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Berlin").dt.date().alias("d"))
    per_day = days.group_by("d").agg(pl.col("discharge_mw").sum())["discharge_mw"]
    assert per_day.max() == pytest.approx(2.0)


def test_poi_limit_is_shared_and_decided_per_asset():
    bats = [battery(id="a", charge_mw=2, discharge_mw=2, energy_mwh=2, soc_initial=1.0),
            battery(id="b", charge_mw=2, discharge_mw=2, energy_mwh=2, soc_initial=1.0, degradation_cost_eur_mwh=1.0)]
    r = run(site_dict(*bats, poi=(3.0, 3.0)), {"da": [100, 0]})
    first = r.schedule.filter(pl.col("timestamp") == r.schedule["timestamp"][0])
    assert first["net_mw"].sum() == pytest.approx(3.0)
    # the cheaper-to-cycle battery 'a' gets the full 2 MW, 'b' the remaining 1 MW
    assert dict(zip(first["asset"], first["net_mw"])) == pytest.approx({"a": 2.0, "b": 1.0})
    assert r.site_schedule["net_mw"].abs().max() <= 3.0 + 1e-9


def test_fcr_by_hand():
    # 1 MW / 1 MWh at 50 %: 0.5 MWh each way; FCR needs 15 min each way -> power is the limit (1 MW)
    b = battery(energy_mwh=1.0, charge_efficiency=1.0, discharge_efficiency=1.0)
    prices = {"da": [0.0] * 8, "fcr": [10.0] * 8}
    r = run(site_dict(b, products=("da", "fcr")), prices, start="2023-01-01T23:00Z")
    assert r.schedule["reserve_fcr_mw"].to_list() == pytest.approx([1.0] * 8)
    assert r.summary["revenue_by_product_eur"]["fcr"] == pytest.approx(80.0)
    # with 0.2 MWh at 50 %: 0.1 MWh each way / 0.25 h = 0.4 MW, times the discharge efficiency
    small = battery(energy_mwh=0.2, discharge_efficiency=0.95, charge_efficiency=0.95)
    r = run(site_dict(small, products=("da", "fcr")), prices, start="2023-01-01T23:00Z")
    assert r.schedule["reserve_fcr_mw"][0] == pytest.approx(0.4 * 0.95)


def test_afrr_up_and_down_are_separate_and_use_their_duration():
    b = battery(energy_mwh=2.0, soc_initial=0.25)  # 0.5 MWh to give, 1.5 MWh of room
    prices = {"da": [0.0] * 4, "afrr_up": [10.0] * 4, "afrr_down": [10.0] * 4}
    r = run(site_dict(b, products=("da", "afrr_up", "afrr_down")), prices, start="2023-01-01T23:00Z")
    up, down = r.schedule["reserve_afrr_up_mw"][0], r.schedule["reserve_afrr_down_mw"][0]
    assert up == pytest.approx(0.5) and down == pytest.approx(1.0)  # 1 h duration; down capped by power
    r = run(site_dict(b, products=("da", "afrr_up", "afrr_down"), reserve_duration_h={"afrr_up": 2.0}), prices,
            start="2023-01-01T23:00Z")
    assert r.schedule["reserve_afrr_up_mw"][0] == pytest.approx(0.25)


def test_nordic_fcr_n_and_fcr_d_hourly():
    b = battery(energy_mwh=1.0)
    prices = {"da": [0.0] * 3, "fcr_n": [5.0, 50.0, 5.0], "fcr_d_up": [20.0, 1.0, 20.0], "fcr_d_down": [0.0] * 3}
    r = run(site_dict(b, zone="SE3", products=("da", "fcr_n", "fcr_d_up", "fcr_d_down")), prices)
    s = r.schedule
    # FCR-N needs 1 h each way: 0.5 MWh -> 0.5 MW; FCR-D up 20 min; they share the up headroom
    assert s["reserve_fcr_n_mw"][1] == pytest.approx(0.5)
    assert s["reserve_fcr_d_up_mw"][0] + s["reserve_fcr_n_mw"][0] <= 1.0 + 1e-9
    assert s["reserve_fcr_d_up_mw"][0] == pytest.approx(1.0)  # 1 MW x 1/3 h = 0.33 MWh <= 0.5 MWh


def test_block_products_are_constant_over_their_block():
    b = battery(energy_mwh=1.0)
    rng = np.random.default_rng(3)
    prices = {"da": rng.normal(50, 30, 96), "fcr": rng.uniform(0, 10, 96)}
    r = run(site_dict(b, products=("da", "fcr")), prices, start="2023-01-01T23:00Z", resolution=15)
    fcr = r.schedule["reserve_fcr_mw"].to_numpy().reshape(6, 16)
    assert np.allclose(fcr, fcr[:, :1])


def test_binaries_forbid_simultaneous_charge_and_discharge():
    # at a negative price a lossy LP battery burns energy by charging and discharging at once
    b = battery(charge_efficiency=0.8, discharge_efficiency=0.8, soc_initial=0.5)
    lp = run(site_dict(b), {"da": [-100.0, -100.0]})
    both = (lp.schedule["charge_mw"] > 1e-6) & (lp.schedule["discharge_mw"] > 1e-6)
    assert both.any()
    mip = run(site_dict(b), {"da": [-100.0, -100.0]}, binaries=True)
    assert not ((mip.schedule["charge_mw"] > 1e-6) & (mip.schedule["discharge_mw"] > 1e-6)).any()
    assert mip.revenue_eur <= lp.revenue_eur + 1e-6


def test_revenue_columns_add_up():
    b = battery(energy_mwh=1.0)
    rng = np.random.default_rng(5)
    prices = {"da": rng.normal(60, 40, 48), "fcr": rng.uniform(0, 8, 48)}
    r = run(site_dict(b, products=("da", "fcr")), prices, start="2023-01-01T23:00Z")
    s = r.schedule
    assert np.allclose(s["revenue_eur"], s["revenue_da_eur"] + s["revenue_fcr_eur"])
    assert r.revenue_eur == pytest.approx(sum(r.summary["revenue_by_product_eur"].values()))
    assert r.summary["objective_eur"] == pytest.approx(r.summary["profit_eur"], abs=1e-3)  # tie-break only


def test_infeasible_final_soc_is_explained():
    b = battery(soc_initial=0.0, final_soc=1.0, energy_mwh=4.0)  # 4 MWh in 2 h at 1 MW: impossible
    with pytest.raises(InfeasibleError) as e:
        run(site_dict(b), {"da": [1.0, 2.0]})
    assert e.value.families == ["final_soc"]
    assert "final-SoC rule cannot be reached" in str(e.value)


def test_poi_below_a_must_run_is_explained():
    b = battery(charge_mw=5, discharge_mw=5, energy_mwh=10)
    locks = Locks(net_mw={"b1": np.array([4.0, np.nan])})  # already sold 4 MW; POI allows 3
    with pytest.raises(InfeasibleError) as e:
        run(site_dict(b, poi=(3.0, 3.0)), {"da": [1.0, 2.0]}, locks=locks)
    assert {"poi", "locked"} & set(e.value.families) and "poi" in str(e.value)


def test_undeliverable_reserve_commitment_is_explained():
    b = battery(energy_mwh=1.0)
    locks = Locks(reserve_mw={("b1", "fcr"): np.array([3.0])})  # 3 MW of FCR from a 1 MW battery
    with pytest.raises(InfeasibleError) as e:
        run(site_dict(b, products=("da", "fcr")), {"da": [0.0] * 4, "fcr": [1.0] * 4}, start="2023-01-01T23:00Z",
            locks=locks)
    assert e.value.families == ["reserve_power"]
    assert "fcr locked at 3 MW for b1 in block 0, above its 1 MW of power" in str(e.value)
    # within power but beyond the energy: 1 MW of FCR for 15 min needs 0.25 MWh each way, 0.1 is there
    locks = Locks(reserve_mw={("b1", "fcr"): np.array([1.0])})
    with pytest.raises(InfeasibleError) as e:
        run(site_dict(battery(energy_mwh=0.2), products=("da", "fcr")), {"da": [0.0] * 4, "fcr": [1.0] * 4},
            start="2023-01-01T23:00Z", locks=locks)
    assert "reserve_energy" in e.value.families


def test_locks_are_kept():
    b = battery(energy_mwh=2.0)
    locks = Locks(net_mw={"b1": np.array([np.nan, -0.5, np.nan])})
    r = run(site_dict(b), {"da": [10.0, 100.0, 10.0]}, locks=locks)
    assert r.schedule["net_mw"][1] == pytest.approx(-0.5)


def test_missing_reserve_price_and_wrong_length():
    with pytest.raises(DataError, match="no prices for fcr"):
        run(site_dict(battery(), products=("da", "fcr")), {"da": [1.0, 2.0]})
    grid = TimeGrid(np.datetime64("2023-01-01T00:00", "us"), 3, 60)
    with pytest.raises(DataError, match="prices.da: 2 values for 3 intervals"):
        MarketPrices(grid, {"da": np.array([1.0, 2.0])})


def test_cycle_limit_of_a_replan_counts_what_the_day_already_used():
    """From noon, with 1.5 of 2 daily cycles used in the morning, only 0.5 cycles remain: not the
    prorated 1.0 that half a day would get, and not 2."""
    from bess_ray.optimization import build
    from bess_ray.optimization.highs import solve

    b = battery(energy_mwh=1.0, soc_initial=1.0, max_cycles_per_day=2.0)
    site = Site.from_dict(site_dict(b))
    prices = market({"da": [0.0, 100.0] * 6}, start="2023-01-02T11:00Z")  # noon to midnight CET
    for used, allowed in ((1.5, 0.5), (0.0, 2.0), (2.5, 0.0)):
        f = build(site, prices, discharged_today_mwh=np.array([used]))
        sol, _ = solve(f.lp.assemble())
        assert sol.x[f.discharge].sum() == pytest.approx(allowed, abs=1e-6)
    f = build(site, prices)  # no history: half a day gets half the limit
    sol, _ = solve(f.lp.assemble())
    assert sol.x[f.discharge].sum() == pytest.approx(1.0, abs=1e-6)


def test_a_warm_solver_reuses_the_model_across_days_with_the_same_optimum():
    from bess_ray.optimization.warm import WarmSolver

    site = site_dict(products=("da", "fcr"))
    rng = np.random.default_rng(3)
    warm = WarmSolver()
    for day in range(6):
        prices = {"da": rng.normal(80, 40, 24), "fcr": rng.uniform(2, 20, 24)}
        start = f"2023-03-{6 + day:02d}T00:00Z"
        cold = optimize(Site.from_dict(site), market=market(prices, start))
        hot = optimize(Site.from_dict(site), market=market(prices, start), warm=warm)
        assert hot.revenue_eur == pytest.approx(cold.revenue_eur, abs=1e-6)
    assert (warm.rebuilds, warm.reuses) == (1, 5)


# ---------------------------------------------------------------- traps a new user fell into (issue 18)
def test_a_pyomo_hook_selects_the_bridge_and_is_refused_with_the_direct_backend():
    site = Site.from_dict(site_dict(battery()))
    called = []
    result = optimize(site, [10.0] * 4 + [100.0] * 4, start="2023-06-05", pyomo_hook=lambda m: called.append(m))
    assert called and result.summary["backend"] == "pyomo"
    from bess_ray.errors import ConfigError

    with pytest.raises(ConfigError, match="pyomo_hook needs backend='pyomo'"):
        optimize(site, [10.0] * 8, start="2023-06-05", pyomo_hook=lambda m: None, backend="highs")


def test_prices_as_values_need_a_start_and_take_the_resolution():
    site = Site.from_dict(site_dict(battery(charge_efficiency=1.0, discharge_efficiency=1.0)))
    hourly = optimize(site, [10.0] * 2 + [100.0] * 2, start="2023-06-05T00:00Z", resolution="60min")
    # 1 MW, 2 MWh from half full: buy 1 MWh at 10, sell 2 MWh at 100 (final SoC free)
    assert hourly.revenue_eur == pytest.approx(190.0)
    from bess_ray.errors import ConfigError

    with pytest.raises(ConfigError, match="need start="):
        optimize(site, np.array([1.0, 2.0]))
    with pytest.raises(ConfigError, match="one EUR/MWh value per interval"):
        optimize(site, np.ones((2, 2)), start="2023-06-05")


@pytest.mark.parametrize("locks, words", [
    (Locks(net_mw={"b1": np.zeros(4)}), ["locks.net_mw['b1']: 4 values", "8 intervals"]),
    (Locks(net_mw={"b1": np.zeros(9)}), ["9 values", "8 intervals"]),
    (Locks(net_mw={"nope": np.zeros(8)}), ["unknown asset 'nope'"]),
])
def test_locks_of_the_wrong_length_are_refused_naming_the_asset(locks, words):
    from bess_ray.errors import ConfigError

    site = Site.from_dict(site_dict(battery()))
    with pytest.raises(ConfigError) as e:
        optimize(site, [10.0] * 8, start="2023-06-05", locks=locks)
    for w in words:
        assert w in str(e.value)
    free = optimize(site, [10.0] * 8, start="2023-06-05", locks=Locks(net_mw={"b1": np.full(8, np.nan)}))
    assert free.status == "optimal"


def test_an_infeasible_hook_is_named_not_the_final_soc_rule():
    site = Site.from_dict(site_dict(battery(final_soc="free")))

    def hook(m):
        import pyomo.environ as pyo

        m.at_least_5_mwh = pyo.Constraint(expr=m.soc["b1", 7] >= 5.0)  # more than the 2 MWh battery holds

    with pytest.raises(InfeasibleError) as e:
        optimize(site, [10.0] * 8, start="2023-06-05", pyomo_hook=hook)
    assert "at_least_5_mwh" in str(e.value) and "final" not in str(e.value)
    assert e.value.families == ["pyomo_hook"]


def test_finer_prices_averaged_onto_the_grid_are_said_in_the_summary(caplog):
    from datetime import datetime, timedelta, timezone

    ts = [datetime(2023, 6, 5, tzinfo=timezone.utc) + timedelta(minutes=5 * i) for i in range(12 * 24)]
    frame = pl.DataFrame({"timestamp": ts, "da": np.linspace(0.0, 100.0, len(ts))})
    site = Site.from_dict(site_dict(battery()))
    with caplog.at_level("WARNING", logger="bess_ray"):
        result = optimize(site, frame, start="2023-06-05", end="2023-06-06")
    assert result.summary["notes"] == ["da prices of DataFrame come every 5 min: averaged onto the 15-min grid "
                                       "(resolution= keeps them)"]
    assert "averaged onto the 15-min grid" in caplog.text and "note: da prices" in result.describe()
    kept = optimize(site, frame, start="2023-06-05", end="2023-06-06", resolution="5min")
    assert kept.summary["notes"] == [] and kept.summary["window"]["intervals"] == 288
