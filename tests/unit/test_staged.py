"""A long window solved by weeks joined into one LP: the one LP's optimum, never an approximation."""
from types import SimpleNamespace

import numpy as np
import pytest

from bess_ray import Locks, Site, optimize
from bess_ray.data import load_market_prices
from bess_ray.data.market import MarketPrices
from bess_ray.errors import InfeasibleError
from bess_ray.optimization import build, highs
from bess_ray.optimization.staged import _edges, solve_staged, stageable
from bess_ray.optimization.warm import WarmSolver
from bess_ray.timegrid import TimeGrid
from tests.conftest import CONFIGS, battery, site_dict

RESERVES = ["sample:FCR_2021@2023", "sample:DE_AFRR_UP_2015_2017@2023", "sample:DE_AFRR_DOWN_2015_2017@2023"]
PORTFOLIO = Site.from_yaml(CONFIGS / "sites/de_lu_portfolio_3x.yaml")
NORDIC = Site.from_yaml(CONFIGS / "sites/dk2_nordic_2mw_2mwh.yaml")


def portfolio_market(resolution: str, start="2023-03-06T00:00+01:00", end="2023-04-10T00:00+02:00") -> MarketPrices:
    """Five weeks of real DE-LU prices across the switch to summer time (26 March 2023)."""
    return load_market_prices(PORTFOLIO.zone, PORTFOLIO.markets.products, "sample:DE_LU_2023", RESERVES,
                              start=start, end=end, resolution=resolution)


def one_lp(f):
    lp = f.lp.assemble()
    sol, _ = highs.solve(lp)
    return lp, sol


def assert_feasible(lp, x, tol=1e-6):
    rows = np.zeros(lp.a.shape[0])
    cols = np.repeat(np.arange(lp.a.shape[1]), np.diff(lp.a.indptr))
    np.add.at(rows, lp.a.indices, lp.a.data * x[cols])
    assert np.all(rows >= lp.row_lo - tol) and np.all(rows <= lp.row_hi + tol)
    assert np.all(x >= lp.col_lo - tol) and np.all(x <= lp.col_hi + tol)


@pytest.mark.parametrize("resolution", ["15min", "60min"])
def test_weeks_joined_give_the_one_lp_optimum_across_dst(resolution):
    m = portfolio_market(resolution)
    f = build(PORTFOLIO, m)
    assert stageable(f)
    staged = solve_staged(f)
    lp, sol = one_lp(f)
    assert staged.stages == 5 and staged.solution.status == "optimal"
    assert staged.solution.objective == pytest.approx(sol.objective, rel=1e-9)
    # the weeks' values placed on the whole window's columns are a solution of the one LP, with its cost
    assert_feasible(lp, staged.solution.x)
    assert lp.cost @ staged.solution.x == pytest.approx(sol.objective, rel=1e-9)


def test_threads_and_the_nordic_products_give_the_same_optimum():
    m = load_market_prices(NORDIC.zone, NORDIC.markets.products, "sample:NORDIC_2023",
                           ["sample:DK2_FCR_NORDIC_2021@2023"], start="2023-10-02T00:00+02:00",
                           end="2023-11-06T00:00+01:00")  # FCR-N / FCR-D hourly, across the end of DST
    f = build(NORDIC, m)
    _, sol = one_lp(f)
    for threads in (1, 2):
        staged = solve_staged(build(NORDIC, m), threads)
        assert staged.solution.objective == pytest.approx(sol.objective, rel=1e-9)


def test_optimize_solves_long_windows_by_weeks_with_the_same_result():
    m = portfolio_market("15min")
    weeks, whole = optimize(PORTFOLIO, market=m), optimize(PORTFOLIO, market=m, one_lp=True)
    assert weeks.summary["solved_as"] == "5 weeks joined into one LP"
    assert whole.summary["solved_as"] == "one LP"
    # a warm solver (the API's) does not keep a long window from its weeks
    assert optimize(PORTFOLIO, market=m, warm=WarmSolver()).summary["solved_as"] == weeks.summary["solved_as"]
    assert weeks.summary["objective_eur"] == pytest.approx(whole.summary["objective_eur"], rel=1e-9)
    assert weeks.revenue_eur == pytest.approx(sum(weeks.summary["revenue_by_product_eur"].values()))
    assert weeks.schedule.height == whole.schedule.height == 3 * m.grid.periods
    # the SoC runs on across week boundaries: each interval starts where the one before ended
    keep, eta_c, eta_d = 1.0, 0.95, 0.95  # lfp_a
    a = weeks.schedule.filter(weeks.schedule["asset"] == "lfp_a")
    soc = np.r_[4.0, a["soc_end_mwh"].to_numpy()]
    step = a["charge_mw"].to_numpy() * eta_c * 0.25 - a["discharge_mw"].to_numpy() / eta_d * 0.25
    assert np.allclose(soc[1:], keep * soc[:-1] + step, atol=1e-6)


def test_short_windows_locks_and_binaries_stay_one_lp():
    short = portfolio_market("15min", end="2023-03-27T00:00+02:00")  # three weeks
    assert not stageable(build(PORTFOLIO, short))
    m = portfolio_market("60min")
    locks = Locks(net_mw={"lfp_a": np.r_[1.0, np.full(m.grid.periods - 1, np.nan)]})
    assert not stageable(build(PORTFOLIO, m, locks=locks))
    assert not stageable(build(PORTFOLIO, m, binaries=True))
    assert optimize(PORTFOLIO, market=m, time_limit=600).summary["solved_as"] == "one LP"


def test_an_infeasible_long_window_is_explained_by_the_one_lp():
    """The weeks cannot hold their SoC (standby loss, no import), so the one LP decides and says why."""
    b = battery(standby_loss_per_hour=0.01, final_soc="equal_initial")
    site = Site.from_dict(site_dict(b, poi=(0.0, 1.0)))
    grid = TimeGrid(np.datetime64("2023-01-01T23:00", "us"), 24 * 7 * 5, 60)
    prices = MarketPrices(grid, {"da": np.random.default_rng(1).uniform(0, 100, grid.periods)})
    assert stageable(build(site, prices)) and solve_staged(build(site, prices)) is None
    with pytest.raises(InfeasibleError) as err:
        optimize(site, market=prices)
    assert "final_soc" in err.value.families or "poi" in err.value.families


def test_weeks_are_cut_only_at_midnights_that_start_every_bid_block():
    days = np.repeat(np.arange(30), 24)  # 30 days, hourly
    grid = SimpleNamespace(dt_hours=1.0)
    aligned = SimpleNamespace(block_of={"fcr": np.arange(720) // 4}, market=SimpleNamespace(grid=grid))
    # every 7th midnight; the 2-day tail joins the last week
    assert _edges(aligned, days).tolist() == [0, 168, 336, 504, 720]
    shifted = SimpleNamespace(block_of={"fcr": (np.arange(720) + 1) // 4}, market=SimpleNamespace(grid=grid))
    assert _edges(shifted, days).tolist() == [0, 720]  # no midnight starts a block: no cut


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_prices_cycle_limits_and_standby_loss_give_the_one_lp_optimum(seed):
    rng = np.random.default_rng(seed)
    site = Site.from_dict(site_dict(
        battery(id="a", charge_efficiency=0.9, discharge_efficiency=0.92, soc_min=0.1, soc_max=0.9,
                standby_loss_per_hour=0.001, max_cycles_per_day=1.0, degradation_cost_eur_mwh=3.0, final_soc=0.7),
        battery(id="b", charge_mw=2.0, discharge_mw=2.0, energy_mwh=2.0, final_soc="at_least_initial"),
        products=("da", "fcr"), poi=(2.5, 2.5)))
    grid = TimeGrid(np.datetime64("2023-05-31T22:00", "us"), 24 * 7 * 4 * 4, 15)
    da = np.repeat(rng.normal(80, 40, grid.periods // 4), 4)  # hourly prices, some negative
    fcr = np.repeat(rng.uniform(0, 30, grid.periods // 16), 16)  # 4-hour blocks
    m = MarketPrices(grid, {"da": da, "fcr": fcr})
    staged = solve_staged(build(site, m))
    lp, sol = one_lp(build(site, m))
    assert staged.stages == 4
    assert staged.solution.objective == pytest.approx(sol.objective, rel=1e-9, abs=1e-6)
    assert_feasible(lp, staged.solution.x)
