"""The one money model (markets/settlement.py): pencil cases per stream, and every entry point
(the optimiser, the backtests, the simulations) settling the same plan to the same money."""
from __future__ import annotations

import numpy as np
import pytest

import bess_ray
from bess_ray.backtesting.settlement import settle as settle_backtest
from bess_ray.dispatch.engine import Trace
from bess_ray.markets.settlement import Delivery, Terms, revenue, settle, totals
from bess_ray.simulation.config import SimulationConfig
from bess_ray.simulation.inputs import prepare
from bess_ray.simulation.year import settle_year
from tests.conftest import CONFIGS

RESERVES = ["sample:FCR_2021@2023", "sample:DE_AFRR_UP_2015_2017@2023", "sample:DE_AFRR_DOWN_2015_2017@2023"]


def test_each_stream_by_pencil():
    """Two batteries and a PV park, two intervals of 30 minutes."""
    dt = 0.5
    position = np.array([[1.0, -1.0], [0.0, 0.5]])  # MW sold day-ahead per battery
    net = np.array([[1.0, -0.5], [0.0, 0.0]])        # after intraday: battery 1 charges less, battery 2 idles
    delivered = np.array([[0.8, -0.5], [0.0, 0.0]])  # battery 1 derated in interval 0
    d = Delivery(position, net, np.maximum(net, 0), {"fcr": np.array([[0.0, 0.0], [1.0, 1.0]])}, delivered,
                 generation=np.array([[2.0, 0.0]]), generation_position=np.array([[2.0, 0.0]]),
                 generation_delivered=np.array([[2.0, 0.0]]), exported=np.array([[1.5, 0.0]]))
    t = Terms(np.array([100.0, 50.0]), {"fcr": np.array([10.0, 10.0])}, intraday=np.array([100.0, 60.0]),
              spread=2.0, imbalance_penalty=20.0, premium=np.array([[5.0, 5.0]]), auxiliary_mw=0.1,
              degradation_eur_mwh=[4.0, 0.0])
    s = settle(d, t, dt)
    assert s["da"][:, 0].tolist() == [50.0, 0.0, 0.0] and s["da"][:, 1].tolist() == [-25.0, 12.5, 0.0]
    assert s["generation_da"].sum() == 100.0
    assert s["fcr"].sum() == 10.0  # 1 MW x 10 EUR/MW/h x 1 h
    # interval 1: battery 1 trades +0.5 and battery 2 -0.5 against their positions: the site's net
    # trade is 0, so no spread is paid; the energy moves at 60 EUR/MWh and nets out
    assert s["intraday"][:, 1] == pytest.approx([15.0, -15.0, 0.0])
    # interval 0: 0.2 MW short at 100 EUR/MWh, and the penalty of 20 EUR/MWh on the site's deviation
    assert s["imbalance"][:, 0] == pytest.approx([-0.2 * 100 * dt - 0.2 * 20 * dt, 0.0, 0.0])
    assert s["feed_in_premium"].sum() == pytest.approx(1.5 * 5 * dt)
    assert s["auxiliary"].sum() == pytest.approx(-0.1 * (100 + 50) * dt)
    assert s["degradation"].sum() == pytest.approx(-4.0 * 1.0 * dt)
    assert revenue(s).sum() == pytest.approx(sum(v for k, v in totals(s).items() if k != "degradation"))


def test_the_spread_is_paid_on_the_sites_net_trade():
    d = Delivery(np.zeros((2, 1)), np.array([[1.0], [0.5]]), np.zeros((2, 1)))
    s = settle(d, Terms(np.array([40.0]), spread=3.0), 1.0)
    assert s["intraday"].sum() == pytest.approx(1.5 * 40 - 1.5 * 3)
    assert s["intraday"][:, 0] == pytest.approx([40 - 3, 20 - 1.5])  # shared by each asset's part


def _week_plan():
    return bess_ray.optimize(CONFIGS / "sites" / "de_lu_portfolio_3x.yaml", "sample:DE_LU_2023",
                             reserve_prices=RESERVES, start="2023-06-05", end="2023-06-12")


def test_the_optimiser_and_the_backtest_settle_one_plan_alike():
    plan = _week_plan()
    f = plan.formulation
    s = plan.schedule
    A = len(f.batteries)
    shape = lambda col: s[col].to_numpy().reshape(A, -1)  # noqa: E731
    net = shape("net_mw")
    trace = Trace(f.market.grid.timestamps, [b.id for b in f.batteries], shape("charge_mw"), shape("discharge_mw"),
                  shape("soc_end_mwh"), net, net, shape("soc_end_mwh"),
                  {p: shape(f"reserve_{p}_mw") for p in f.reserve})
    streams = settle_backtest(trace, f.site, f.market.prices, f.market.prices["da"], 2.0, f.market.grid.dt_hours)
    for p, eur in plan.summary["revenue_by_product_eur"].items():
        assert streams[p].sum() == pytest.approx(eur, abs=1e-6)
    assert -streams["degradation"].sum() == pytest.approx(plan.summary["degradation_cost_eur"], abs=1e-6)
    assert "intraday" not in streams  # the plan is its own position


def test_the_simulation_settles_a_plan_delivered_as_planned_like_the_backtest():
    """A simulated year whose battery delivered exactly the plan: the same money as a backtest of
    it, stream by stream, with the auxiliary power bought on top and ageing not counted as cash."""
    cfg = SimulationConfig.from_yaml(CONFIGS / "simulations" / "dk2_nordic_2mw_2mwh_10y.yaml").model_copy(
        update={"years": 1})
    inputs = prepare(cfg, CONFIGS / "simulations")
    plan = bess_ray.optimize(inputs.site, market=inputs.market.window(0, 7 * 96))
    f, s = plan.formulation, plan.schedule
    shape = lambda col: s[col].to_numpy().reshape(1, -1)  # noqa: E731
    net, charge, discharge = shape("net_mw"), shape("charge_mw"), shape("discharge_mw")
    reserves = {p: shape(f"reserve_{p}_mw") for p in f.reserve}
    trace = Trace(f.market.grid.timestamps, ["bess1"], charge, discharge, shape("soc_end_mwh"), net, net,
                  shape("soc_end_mwh"), reserves, planned_charge=charge, planned_discharge=discharge)
    year, _ = settle_year(trace, inputs, f.market.prices, None)
    backtest = settle_backtest(trace, f.site, f.market.prices, f.market.prices["da"], 0.0, f.market.grid.dt_hours)
    for p in ("da", *reserves):
        assert year[p].sum() == pytest.approx(backtest[p].sum(), abs=1e-6)
    assert year["imbalance"].sum() == pytest.approx(0.0, abs=1e-9)
    assert year["auxiliary"].sum() == pytest.approx(-0.01 * (f.market.prices["da"] * 0.25).sum())
    assert "degradation" not in year
