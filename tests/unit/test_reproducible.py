"""One optimum, whatever HiGHS release, warm start or window: the tie-break of optimize.blocks."""
from __future__ import annotations

import numpy as np
import pytest

import bess_ray
from bess_ray.config import Site
from bess_ray.data import load_market_prices
from bess_ray.optimization import blocks, highs
from bess_ray.optimization.blocks import build, tie_break_weights
from bess_ray.optimization.warm import WarmSolver
from bess_ray.timegrid import TimeGrid
from tests.conftest import CONFIGS

SITE = CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml"
PORTFOLIO = CONFIGS / "sites" / "de_lu_portfolio_3x.yaml"
RESERVES = ["sample:FCR_2021@2023", "sample:DE_AFRR_UP_2015_2017@2023", "sample:DE_AFRR_DOWN_2015_2017@2023"]


def test_weights_hang_on_absolute_time_not_on_the_window():
    year = TimeGrid(np.datetime64("2023-01-01T00:00", "us"), 35040, 15)
    day = TimeGrid(np.datetime64("2023-06-05T22:00", "us"), 96, 15)
    k = int((day.start - year.start) // np.timedelta64(15, "m"))
    w_year, w_day = tie_break_weights(year, 5), tie_break_weights(day, 5)
    assert np.array_equal(w_year[:, k:k + 96], w_day)
    assert w_year.min() >= 1.0 and w_year.max() < 2.0


def test_neighbours_that_could_tie_are_told_apart_by_more_than_the_tolerance():
    """Intervals up to two days apart differ in weight by far more than HiGHS's dual tolerance
    needs (TIE_BREAK x dt x gap >> 1e-9), in every row; rows step differently (no joint move of
    two rows cancels)."""
    w = tie_break_weights(TimeGrid(np.datetime64("2023-01-01T00:00", "us"), 35040, 15), 8)
    gap = min(np.abs(w[:, n:] - w[:, :-n]).min() for n in range(1, 193))
    assert blocks.TIE_BREAK_EUR_MWH * 0.25 * gap > 10 * highs.DUAL_TOLERANCE
    steps = w[:, 1:] - w[:, :-1]
    assert min(np.abs(steps[i] - steps[j]).min() for i in range(8) for j in range(i + 1, 8)) > 1e-3


def _week(site_path=SITE, reserves=None, start="2023-06-05T22:00Z", end="2023-06-12T22:00Z"):
    site = Site.from_yaml(site_path)
    products = ("da", "fcr", "afrr_up", "afrr_down") if reserves else ("da",)
    market = load_market_prices("DE-LU", products, "sample:DE_LU_2023", reserves, start=start, end=end)
    return site.with_products(products), market


@pytest.mark.parametrize("site_path,reserves", [(SITE, None), (PORTFOLIO, RESERVES)])
def test_warm_from_any_basis_and_cold_give_one_schedule(site_path, reserves):
    """The same LP solved cold, and warm after a different day was solved on the same instance,
    gives the same schedule: the optimum is a single point."""
    site, market = _week(site_path, reserves)
    lp = build(site, market).lp.assemble()
    cold, _ = highs.solve(lp)
    other_site, other = _week(site_path, reserves, "2023-03-06T23:00Z", "2023-03-13T23:00Z")
    warm = WarmSolver()
    warm.solve(build(other_site, other).lp.assemble())
    again = warm.solve(lp)
    assert warm.reuses == 1 and cold.status == again.status == "optimal"
    assert np.abs(cold.x - again.x).max() < 1e-7


def test_the_tie_break_costs_less_than_a_cent_a_year(monkeypatch):
    """Against the optimum without any tie-break, the preference among equal plans moves the
    year's money by less than a cent; the reported objective is money only."""
    chosen = bess_ray.optimize(SITE, "sample:DE_LU_2023", one_lp=True)
    monkeypatch.setattr(blocks, "TIE_BREAK_EUR_MWH", 0.0)
    free = bess_ray.optimize(SITE, "sample:DE_LU_2023", one_lp=True)
    assert abs(chosen.revenue_eur - free.revenue_eur) < 0.01
    assert chosen.summary["objective_eur"] == pytest.approx(chosen.summary["profit_eur"], abs=1e-6)
    assert free.summary["objective_eur"] == pytest.approx(free.summary["profit_eur"], abs=1e-6)


def test_weeks_and_one_lp_give_one_schedule():
    """The weeks joined into one LP and the one LP handed to HiGHS whole: the same point."""
    by_weeks = bess_ray.optimize(PORTFOLIO, "sample:DE_LU_2023", reserve_prices=RESERVES, start="2023-03-01",
                                 end="2023-04-05")
    whole = bess_ray.optimize(PORTFOLIO, "sample:DE_LU_2023", reserve_prices=RESERVES, start="2023-03-01",
                              end="2023-04-05", one_lp=True)
    assert by_weeks.summary["solved_as"].endswith("weeks joined into one LP")
    for col in ("net_mw", "reserve_fcr_mw", "soc_end_mwh"):
        assert np.abs(by_weeks.schedule[col].to_numpy() - whole.schedule[col].to_numpy()).max() < 1e-6
    assert by_weeks.revenue_eur == pytest.approx(whole.revenue_eur, abs=0.005)
