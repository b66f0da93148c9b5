"""Finance by hand: NPV, IRR, LCOS and payback on cases one can check with a pencil."""
import pytest

from bess_ray.simulation.finance import Finance, cash_flows, irr, lcos, npv, payback_years, summarize


def test_npv_and_irr_known_values():
    assert npv(0.10, [-100, 110]) == pytest.approx(0.0)
    assert npv(0.0, [-100, 30, 30, 30]) == pytest.approx(-10.0)
    assert irr([-100, 110]) == pytest.approx(0.10)
    assert irr([-1000, 300, 400, 500]) == pytest.approx(0.0889633947, abs=1e-8)  # a textbook example
    assert irr([100, 50]) is None and irr([-100, -50]) is None


def test_cash_flow_table_by_hand():
    f = Finance(capex_eur_per_kwh=300, capex_eur_per_kw=100, fixed_opex_eur_per_kw_year=10,
                variable_opex_eur_per_mwh=2, replacement_cost_eur_per_kwh=100, discount_rate=0.05, inflation=0.10)
    t = cash_flows(f, power_mw=1.0, energy_mwh=2.0, revenue_eur=[200_000, 200_000, 200_000],
                   discharged_mwh=[500, 500, 500], replacements={2: 2.0})
    assert t["capex_eur"][0] == 300 * 2000 + 100 * 1000
    # opex: 10 EUR/kW x 1000 kW + 2 EUR/MWh x 500 MWh, escalated 10 %/yr from year 2
    assert t["opex_eur"].to_list() == pytest.approx([0, 11_000, 12_100, 13_310])
    assert t["replacement_eur"][2] == pytest.approx(100 * 2000 * 1.1)
    assert t["net_cash_eur"][1] == pytest.approx(200_000 - 11_000)
    s = summarize(f, t)
    assert s["npv_eur"] == pytest.approx(npv(0.05, t["net_cash_eur"].to_list()))
    assert s["payback_years"] is None  # 700 k capex, about 190 k a year for three years


def test_lcos_and_payback():
    f = Finance(capex_eur_per_kwh=100, discount_rate=0.0, inflation=0.0)
    t = cash_flows(f, 1.0, 1.0, revenue_eur=[60_000, 60_000], discharged_mwh=[1000, 1000],
                   charging_cost_eur=[20_000, 20_000])
    # (100 k capex + 40 k charging) / 2000 MWh, undiscounted
    assert lcos(t) == pytest.approx(70.0)
    assert payback_years(t) == pytest.approx(1 + 40_000 / 60_000)


def test_bad_input():
    with pytest.raises(ValueError, match="replacements in years"):
        cash_flows(Finance(), 1, 1, [1, 2], [1, 2], replacements={5: 1.0})
    with pytest.raises(ValueError, match="discharged_mwh has 1 years"):
        cash_flows(Finance(), 1, 1, [1, 2], [1])
    with pytest.raises(ValueError):
        Finance(discount_rate=-1.5)
    with pytest.raises(ValueError):
        Finance(capex_per_kwh=3)  # unknown key
