"""The Pyomo bridge: named components and user constraints through a hook."""
import pyomo.environ as pyo
import pytest

from bess_ray import Site, optimize
from bess_ray.optimization import build
from bess_ray.optimization.pyomo_bridge import to_pyomo
from tests.conftest import battery, site_dict
from tests.unit.test_optimize import market

PRICES = {"da": [10.0, 80.0, 20.0, 120.0], "fcr": [5.0] * 4}


def site():
    return Site.from_dict(site_dict(battery(id="bat", energy_mwh=1.0), products=("da", "fcr")))


def test_components_keep_their_names_and_indices():
    f = build(site(), market(PRICES, start="2023-01-01T23:00Z"))
    m = to_pyomo(f.lp.assemble(), ["bat"])
    assert isinstance(m.charge, pyo.Var) and ("bat", 3) in m.charge
    assert ("bat", 0) in m.reserve_fcr and isinstance(m.soc_balance, pyo.Constraint)
    assert len(m.soc_balance) == 4


def test_user_constraint_through_hook_changes_the_optimum():
    m_prices = market(PRICES, start="2023-01-01T23:00Z")
    free = optimize(site(), market=m_prices, backend="pyomo")

    def no_discharge_in_hour_3(m):
        m.user_rule = pyo.Constraint(expr=m.discharge["bat", 3] <= 0.1)

    capped = optimize(site(), market=m_prices, backend="pyomo", pyomo_hook=no_discharge_in_hour_3)
    assert capped.schedule["discharge_mw"][3] <= 0.1 + 1e-9
    assert capped.revenue_eur < free.revenue_eur
    assert free.summary["objective_eur"] == pytest.approx(optimize(site(), market=m_prices).summary["objective_eur"])


def test_rows_are_indexed_like_their_variables():
    """`m.soc_balance[asset, t]`, `m.final_soc[asset]`, `m.reserve_power_up[asset, t]`: a hook can
    reach one row by its labels (here: relax the SoC balance of one interval and see it hold)."""
    f = build(site(), market(PRICES, start="2023-01-01T23:00Z"))
    m = to_pyomo(f.lp.assemble(), ["bat"])
    assert set(m.soc_balance) == {("bat", t) for t in range(4)}
    assert set(m.final_soc.index_set()) == {"bat"} and ("bat", 2) in m.reserve_power_up
    row = m.soc_balance["bat", 2]
    assert row.equality and m.soc["bat", 2].name in {v.name for v in pyo.expr.identify_variables(row.body)}
