"""Invariants of every optimal schedule, on random prices and batteries (hypothesis)."""
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bess_ray import Site, optimize
from bess_ray.markets import PRODUCTS, get_zone
from tests.conftest import battery
from tests.unit.test_optimize import market

TOL = 1e-6


@st.composite
def cases(draw):
    zone = draw(st.sampled_from(["DE-LU", "SE3"]))
    reserves = [p for p in get_zone(zone).products if p != "da"]
    products = ["da"] + draw(st.lists(st.sampled_from(reserves), unique=True, max_size=len(reserves)))
    n_bat = draw(st.integers(1, 3))
    bats = []
    for i in range(n_bat):
        soc_min = draw(st.floats(0.0, 0.3))
        soc_max = draw(st.floats(0.7, 1.0))
        bats.append(battery(
            id=f"b{i}", charge_mw=draw(st.floats(0.5, 3.0)), discharge_mw=draw(st.floats(0.5, 3.0)),
            energy_mwh=draw(st.floats(0.5, 6.0)), charge_efficiency=draw(st.floats(0.8, 1.0)),
            discharge_efficiency=draw(st.floats(0.8, 1.0)), soc_min=soc_min, soc_max=soc_max,
            soc_initial=draw(st.floats(soc_min, soc_max)),
            final_soc=draw(st.sampled_from(["free", "at_least_initial", "equal_initial"])),
            standby_loss_per_hour=draw(st.sampled_from([0.0, 0.001])),
            degradation_cost_eur_mwh=draw(st.sampled_from([0.0, 2.0, 10.0])),
            max_cycles_per_day=draw(st.sampled_from([None, 1.0]))))
    total = sum(b["discharge_mw"] for b in bats)
    poi = draw(st.floats(0.3, 1.2)) * total
    T = draw(st.sampled_from([24, 48]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    prices = {"da": rng.normal(60, 80, T).round(2)}
    for p in products[1:]:
        prices[p] = rng.uniform(0, 25, T).round(2)
    site = dict(schema_version=1, id="h", zone=zone, poi=dict(import_mw=poi, export_mw=poi), assets=bats,
                markets=dict(products=products))
    return Site.from_dict(site), market(prices, start="2023-05-01T22:00Z", resolution=draw(st.sampled_from([15, 60])))


def check_invariants(site: Site, r) -> None:
    s = r.schedule
    f = r.formulation
    for b in site.batteries:
        a = s.filter(pl.col("asset") == b.id)
        c, d, soc = a["charge_mw"].to_numpy(), a["discharge_mw"].to_numpy(), a["soc_end_mwh"].to_numpy()
        net = d - c
        assert np.all(c >= -TOL) and np.all(c <= b.charge_mw + TOL)
        assert np.all(d >= -TOL) and np.all(d <= b.discharge_mw + TOL)
        assert np.all(soc >= b.energy_mwh * b.soc_min - TOL) and np.all(soc <= b.energy_mwh * b.soc_max + TOL)
        start = np.r_[b.energy_mwh * b.soc_initial, soc[:-1]]
        up = sum(a[f"reserve_{p}_mw"].to_numpy() for p in f.reserve if PRODUCTS[p].provides_up) if f.reserve else 0
        dn = sum(a[f"reserve_{p}_mw"].to_numpy() for p in f.reserve if PRODUCTS[p].provides_down) if f.reserve else 0
        assert np.all(net + up <= b.discharge_mw + TOL) and np.all(-net + dn <= b.charge_mw + TOL)
        e_up = sum(a[f"reserve_{p}_mw"].to_numpy() * site.markets.duration_h(p) / b.discharge_efficiency
                   for p in f.reserve if PRODUCTS[p].provides_up) if f.reserve else 0
        e_dn = sum(a[f"reserve_{p}_mw"].to_numpy() * site.markets.duration_h(p) * b.charge_efficiency
                   for p in f.reserve if PRODUCTS[p].provides_down) if f.reserve else 0
        for level in (start, soc):  # full activation possible from the start and the end of each interval
            assert np.all(level - e_up >= b.energy_mwh * b.soc_min - 1e-5)
            assert np.all(level + e_dn <= b.energy_mwh * b.soc_max + 1e-5)
        for p, blocks in f.block_of.items():  # one capacity per bid block
            values = a[f"reserve_{p}_mw"].to_numpy()
            for blk in np.unique(blocks):
                assert np.ptp(values[blocks == blk]) <= TOL
    site_s = r.site_schedule
    up = sum(site_s[f"reserve_{p}_mw"].to_numpy() for p in f.reserve if PRODUCTS[p].provides_up) if f.reserve else 0
    dn = sum(site_s[f"reserve_{p}_mw"].to_numpy() for p in f.reserve if PRODUCTS[p].provides_down) if f.reserve else 0
    assert np.all(site_s["net_mw"].to_numpy() + up <= site.poi.export_mw + TOL)
    assert np.all(-site_s["net_mw"].to_numpy() + dn <= site.poi.import_mw + TOL)
    parts = sum(s[f"revenue_{p}_eur"] for p in f.products)
    assert np.allclose(s["revenue_eur"], parts)
    assert r.revenue_eur == pytest.approx(sum(r.summary["revenue_by_product_eur"].values()))
    assert r.summary["profit_eur"] == pytest.approx(r.summary["objective_eur"], abs=1e-3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_optimal_schedules_respect_every_limit(case):
    site, m = case
    r = optimize(site, market=m)
    assert r.status == "optimal"
    check_invariants(site, r)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_pyomo_bridge_reaches_the_direct_optimum(case):
    site, m = case
    direct = optimize(site, market=m)
    bridge = optimize(site, market=m, backend="pyomo")
    assert bridge.summary["objective_eur"] == pytest.approx(direct.summary["objective_eur"], rel=1e-6, abs=1e-4)
    check_invariants(site, bridge)
