"""PV / wind dispatched by `optimize` and `backtest` (not only by simulations): curtailment, the POI,
the feed-in premium of the one money model, and the generators' rows in every table."""
import json

import numpy as np
import polars as pl
import pytest

from bess_ray import backtest, optimize
from bess_ray.backtesting.config import BacktestConfig
from bess_ray.timegrid import TimeGrid
from tests.conftest import CONFIGS, battery, site_dict

PRICE = [30.0, -20.0, 50.0, -5.0, 80.0, 120.0, 10.0, 200.0]
SHARE = [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]  # of a 3 MW PV array: 3 MW from 01:00 to 06:00


def _pv_site(tmp_path, premium=0.0, when_negative=False, grid_charging=True, export_mw=3.5):
    grid = TimeGrid(np.datetime64("2023-06-01T00:00", "us"), len(SHARE), 60)
    profile = tmp_path / "pv.csv"
    pl.DataFrame({"timestamp": grid.series(), "profile": SHARE}).write_csv(profile)
    site = site_dict(battery(final_soc="free", soc_initial=0.0), poi=(10.0, export_mw))
    site["assets"].append(dict(type="pv", id="pv1", capacity_mw=3.0, profile=str(profile),
                               feed_in_premium_eur_mwh=premium, premium_when_negative=when_negative))
    site["grid_charging"] = grid_charging
    return site


def _run(site):
    return optimize(site, PRICE, start="2023-06-01T00:00Z", resolution="60min")


def _rows(result, asset):
    return result.schedule.filter(pl.col("asset") == asset).sort("timestamp")


def test_optimize_dispatches_pv_with_the_battery_within_the_poi(tmp_path):
    r = _run(_pv_site(tmp_path))
    pv, bess = _rows(r, "pv1"), _rows(r, "b1")
    gen = pv["generation_mw"].to_numpy()
    avail = pv["available_mw"].to_numpy()
    np.testing.assert_allclose(avail, 3.0 * np.array(SHARE))
    price = np.array(PRICE)
    # curtailed exactly where the price is negative (no premium there); the POI holds for both
    assert np.allclose(gen[price < 0], 0.0) and np.all(gen <= avail + 1e-9)
    site_net = r.site_schedule["net_mw"].to_numpy()
    np.testing.assert_allclose(site_net, bess["net_mw"].to_numpy() + gen, atol=1e-9)
    assert site_net.max() <= 3.5 + 1e-7
    # the money by hand: the generators' energy at the day-ahead price, the battery's beside it
    s = r.summary
    assert s["revenue_by_product_eur"]["generation_da"] == pytest.approx(float((price * gen).sum()), abs=1e-6)
    assert s["revenue_by_product_eur"]["da"] == pytest.approx(float((price * bess["net_mw"].to_numpy()).sum()), abs=1e-6)
    assert s["revenue_eur"] == pytest.approx(s["objective_eur"], abs=1e-6)  # no premium, no wear: LP = money
    assets = s["assets"]["pv1"]
    assert assets["available_mwh"] == pytest.approx(15.0)
    assert assets["curtailed_mwh"] == pytest.approx(15.0 - gen.sum())
    assert pv["curtailed_mw"].sum() == pytest.approx(15.0 - gen.sum())
    assert "pv1" in r.describe() and "MWh curtailed" in r.describe() and "not dispatched" not in r.describe()
    assert pv["charge_mw"].null_count() == pv.height  # battery columns are null on a generator's rows


def test_the_premium_is_paid_on_exported_pv_only(tmp_path):
    # no grid charging: the battery charges from the PV alone, and that energy earns no premium
    r = _run(_pv_site(tmp_path, premium=25.0, when_negative=True, grid_charging=False))
    pv, bess = _rows(r, "pv1"), _rows(r, "b1")
    gen, into = pv["generation_mw"].to_numpy(), pv["to_battery_mw"].to_numpy()
    charge = bess["charge_mw"].to_numpy()
    assert charge.sum() > 0.5 and np.all(charge <= into + 1e-7)
    s = r.summary
    assert s["revenue_by_product_eur"]["feed_in_premium"] == pytest.approx(25.0 * float((gen - into).sum()), abs=1e-6)
    assert s["assets"]["pv1"]["into_batteries_mwh"] == pytest.approx(float(into.sum()))
    assert s["assets"]["pv1"]["exported_mwh"] == pytest.approx(float((gen - into).sum()))
    # a premium paid at negative prices keeps the PV running where price + premium > 0 (-20 + 25)
    assert gen[1] + 1e-7 >= 3.0 - charge[1] - 1e-7
    # money per row adds up to the summary, the schedule's revenue column to the total
    assert r.schedule["revenue_eur"].sum() == pytest.approx(s["revenue_eur"], abs=1e-6)


PV_SITE = CONFIGS / "sites" / "de_lu_10mw_20mwh_pv.yaml"


def _backtest_cfg(**kw) -> BacktestConfig:
    cfg = dict(schema_version=1, name="pv_fortnight", site=str(PV_SITE),
               prices={"day_ahead": ["sample:DE_LU_2024"]}, window={"start": "2024-06-03", "end": "2024-06-10"},
               workflow="da_only", forecast={"type": "persistence", "lags_days": [1]}, lookahead_h=24,
               baselines=["oracle", "naive"])
    cfg.update(kw)
    return BacktestConfig.model_validate(cfg)


@pytest.fixture(scope="module")
def pv_backtest(tmp_path_factory):
    out = tmp_path_factory.mktemp("pv_backtest")
    return backtest(_backtest_cfg(), out), out


def test_a_backtest_curtails_on_the_forecast_it_had_at_the_gate(pv_backtest):
    """The PV's day-ahead sale is decided at the gate on the D-1 forecast: curtailed where the
    forecast price is negative (no premium there), sold where it is positive, whatever came."""
    from bess_ray.data.market import load_market_prices

    r, _ = pv_backtest
    pv = r.realised.filter(pl.col("asset") == "pv").sort("timestamp")
    price = pv["price_da_eur_mwh"].to_numpy()
    gen, avail = pv["generation_mw"].to_numpy(), pv["available_mw"].to_numpy()
    # the D-1 persistence forecast of an interval is the price one day earlier
    market = load_market_prices("DE_LU", ("da",), "sample:DE_LU_2024", start="2024-06-01T00:00Z",
                                end="2024-06-11T00:00Z")
    day_before = r.trace.timestamps.astype("datetime64[us]") - np.timedelta64(1, "D")
    forecast = market.prices["da"][np.searchsorted(market.grid.timestamps, day_before)]
    lit = avail > 0.01
    assert np.allclose(gen[lit & (forecast < -1e-6)], 0.0)
    assert np.allclose(gen[lit & (forecast > 1e-6)], avail[lit & (forecast > 1e-6)], atol=1e-6)
    assert (pv["reason"] == "curtailed").sum() > 0  # June 2024: negative midday prices happened
    # the money of the realised table is the summary's, stream by stream
    s = r.summary
    assert s["revenue_by_stream_eur"]["generation_da"] == pytest.approx(float((gen * price).sum() * 0.25), abs=1e-6)
    premium = np.where(price >= 0, 10.0, 0.0)  # the site's premium, not paid at negative prices
    assert s["revenue_by_stream_eur"]["feed_in_premium"] == pytest.approx(
        float((premium * (gen - pv["to_battery_mw"].to_numpy())).sum() * 0.25), abs=1e-6)
    assert s["generation"]["pv"]["curtailed_mwh"] == pytest.approx(float((avail - gen).sum() * 0.25), abs=1e-6)


def test_the_backtest_tables_carry_the_generators(pv_backtest):
    r, out = pv_backtest
    s = json.loads((out / "summary.json").read_text())
    settlement = pl.read_parquet(out / "settlement.parquet")
    by = settlement.group_by("stream").agg(pl.col("revenue_eur").sum())
    for stream, eur in zip(by["stream"], by["revenue_eur"]):
        assert eur == pytest.approx(s["revenue_by_stream_eur"][stream], abs=1e-6)
    assert set(settlement.filter(pl.col("asset") == "pv")["stream"]) == {"generation_da", "feed_in_premium"}
    assert set(settlement.filter(pl.col("asset") == "bess")["stream"]) == {"da", "degradation"}
    # realised rows carry every stream, the (non-cash) wear included
    assert r.realised["revenue_eur"].sum() == pytest.approx(s["revenue_eur"] + s["revenue_by_stream_eur"]["degradation"],
                                                            abs=1e-6)
    monthly = pl.read_csv(out / "monthly.csv")
    assert "generation_da" in monthly.columns and "feed_in_premium" in monthly.columns
    handoff = json.loads((out / "handoff.json").read_text())
    last = handoff["intervals"][-40]
    assert last["site_net_mw"] == pytest.approx(last["assets"]["bess"]["net_mw"] + last["assets"]["pv"]["net_mw"], abs=1e-5)
    recon = pl.read_csv(out / "reconciliation.csv")
    assert recon["realised_eur"].sum() == pytest.approx(s["revenue_eur"], abs=1e-3)
    assert recon["baseline_eur"].sum() == pytest.approx(s["revenue_eur"], abs=1e-3)  # no revisions: one plan
    # the baselines trade the PV too: the oracle knows the prices, the naive rule sells what is available
    assert s["oracle_revenue_eur"] >= s["revenue_eur"] - 1e-6
    naive = r.baselines["naive"]
    assert naive.generation is not None and naive.generation.sum() > 0


def test_the_battery_of_a_pv_site_trades_as_alone_when_the_poi_never_binds():
    """With a POI wide enough for both and no premium, PV and battery do not interact: the battery's
    money is that of the same battery without the PV, to the cent."""
    import yaml

    site = yaml.safe_load(PV_SITE.read_text())
    site["poi"] = {"import_mw": 40.0, "export_mw": 40.0}
    site["assets"][1].update(feed_in_premium_eur_mwh=0.0, profile="sample:DE_SOLAR_2024")
    alone = {**site, "assets": site["assets"][:1]}
    with_pv = backtest(_backtest_cfg(site=site, baselines=[]))
    without = backtest(_backtest_cfg(site=alone, baselines=[]))
    assert round(with_pv.summary["revenue_by_stream_eur"]["da"], 2) == round(without.revenue_eur, 2)
    assert with_pv.revenue_eur > without.revenue_eur
