"""Co-located PV / wind in the one formulation: curtailment, POI, premium, charging from PV."""
import numpy as np
import pytest

from bess_ray.config import Site
from bess_ray.data.market import MarketPrices
from bess_ray.data.generation import Generation
from bess_ray.optimization.blocks import build
from bess_ray.optimization.highs import solve
from bess_ray.timegrid import TimeGrid

from tests.conftest import battery, site_dict

PRICE = np.array([30.0, -20.0, 50.0, -5.0, 80.0, 120.0, 10.0, 200.0])
AVAIL = np.array([[0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 0.0, 0.0]])


def _solve(premium=0.0, when_negative=False, grid_charging=True, export_mw=3.5):
    site = Site.from_dict({**site_dict(battery(final_soc="free", soc_initial=0.0), poi=(10.0, export_mw)),
                           "grid_charging": grid_charging})
    market = MarketPrices(TimeGrid(np.datetime64("2023-06-01T00:00"), PRICE.size, 60), {"da": PRICE})
    gen = Generation(["pv"], AVAIL, np.array([premium]), np.array([when_negative]), grid_charging)
    f = build(site, market, generation=gen)
    sol, _ = solve(f.lp.assemble())
    assert sol.status == "optimal"
    x = sol.x
    return x[f.generation][0], x[f.charge][0], x[f.discharge][0], f, x


def test_pv_is_curtailed_only_when_the_price_is_negative_and_the_poi_holds():
    g, c, d, _, _ = _solve()
    # negative price: the battery charges from the grid (which pays) and the PV is curtailed
    assert g[1] == pytest.approx(0.0) and g[3] == pytest.approx(0.0) and c[1] == pytest.approx(1.0)
    assert np.all(g + d - c <= 3.5 + 1e-7)  # the POI export limit holds for PV and battery together
    positive = PRICE > 0
    assert np.all(g[positive] >= np.minimum(AVAIL[0][positive], 3.5 - d[positive] + c[positive]) - 1e-7)


def test_a_premium_paid_at_negative_prices_keeps_pv_running():
    g_paid, *_ = _solve(premium=50.0, when_negative=True)
    g_not, *_ = _solve(premium=50.0, when_negative=False)
    assert g_paid[1] == pytest.approx(3.0)  # -20 + 50 > 0: generate
    assert g_not[1] < 3.0 - 1e-6  # no premium at a negative price: curtail what the battery cannot take


def test_without_grid_charging_the_battery_charges_only_from_pv():
    g, c, d, f, x = _solve(grid_charging=False)
    assert np.all(c <= g + 1e-7)
    assert c[0] == pytest.approx(0.0) and c[6] == pytest.approx(0.0)  # no PV: no charging, cheap or not
    g2, c2, *_ = _solve(grid_charging=True)
    assert c2[0] + c2[6] > 0.0  # with the grid allowed it does charge there
