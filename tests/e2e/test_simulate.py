"""`bess-ray simulate` end to end: real prices, real HiGHS, the battery model, PV, finance, Ray."""
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from bess_ray.cluster.simulate import simulate as simulate_parallel
from bess_ray.errors import ConfigError
from bess_ray.simulation.run import simulate

from tests.conftest import CONFIGS


def small_config(tmp_path, **over) -> Path:
    """The shipped 10 MW / 20 MWh + PV simulation, two years, as a file next to a copy of its site."""
    cfg = yaml.safe_load((CONFIGS / "simulations" / "de_lu_10mw_20mwh_15y.yaml").read_text())
    cfg["site"] = str(CONFIGS / "sites" / "de_lu_10mw_20mwh_pv.yaml")
    cfg.update(years=2, **over)
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_cli_writes_summary_yearly_cash_flows_and_timeseries(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "bess_ray.cli", "simulate", str(small_config(tmp_path)),
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "NPV" in run.stdout and "2027" in run.stdout
    s = json.loads((out / "summary.json").read_text())
    for key in ("npv_eur", "irr", "lcos_eur_mwh", "payback_years"):
        assert key in s
    assert [y["year"] for y in s["yearly"]] == [2026, 2027]
    y1, y2 = s["yearly"]
    assert 1.0 > y1["soh"] > y2["soh"] > 0.8  # ageing, continuous over the years
    assert y2["soh_start"] == pytest.approx(y1["soh"])
    for y in s["yearly"]:  # revenue is the sum of its streams; PV and battery both earn
        assert y["revenue_eur"] == pytest.approx(sum(y["revenue_by_stream"].values()))
        assert y["revenue_by_stream"]["da"] > 0 and y["revenue_by_stream"]["generation_da"] > 0
    ts = pl.read_parquet(out / "timeseries.parquet")
    assert ts.height == 2 * 35040  # two years of 15 minutes (DST-neutral in UTC)
    assert (ts["site_net_mw"] <= 20.0 + 1e-6).all()  # the POI holds for battery and PV together
    soc = ts["bess_soc_mwh"].to_numpy()
    assert soc.max() <= 20.0 * 0.95 + 1e-6 and soc.min() >= -1e-9
    flows = pl.read_csv(out / "cash_flows.csv")
    assert flows["capex_eur"][0] == pytest.approx(200 * 20_000 + 100 * 10_000 + 9_000_000)
    soh = pl.read_parquet(out / "soh.parquet")
    assert soh.height >= 104 and (soh["soh"].diff().drop_nulls() <= 1e-12).all()


def test_sequential_years_carry_the_state_over(tmp_path):
    r = simulate(small_config(tmp_path), timeseries=True)
    y1, y2 = r.years
    assert y2.soh_start == pytest.approx(y1.soh_end)
    end_soc = y1.timeseries["bess_soc_mwh"][-1]
    first = y2.timeseries.row(0, named=True)
    # the first interval of year 2 starts from year 1's last SoC (standby loss and efficiencies apart)
    moved = first["bess_charge_mw"] * 0.94 * 0.25 - first["bess_discharge_mw"] / 0.94 * 0.25
    assert first["bess_soc_mwh"] == pytest.approx(end_soc * (1 - 1e-4) ** 0.25 + moved, abs=1e-6)
    assert r.summary["timing"]["highs_share"] > 0


def test_parallel_mode_runs_years_as_ray_tasks(tmp_path, ray_session):
    path = small_config(tmp_path)
    seq = simulate(path, timeseries=False)
    with pytest.raises(ConfigError, match="parallel runs the years as Ray tasks"):
        simulate(path, mode="parallel")  # the plain core never starts Ray
    par = simulate_parallel(path, timeseries=False)
    assert par.summary["mode"] == "parallel" and [y.year for y in par.years] == [2026, 2027]
    # year 1 starts from the same state in both modes, so it is the same year
    assert par.years[0].revenue_eur == pytest.approx(seq.years[0].revenue_eur, rel=1e-9)
    # later years start from the projection, which the summary compares with the simulation
    proj = par.summary["soh_projection"][0]
    assert proj["projected_start"] == pytest.approx(par.years[1].soh_start)
    assert abs(proj["projected_start"] - proj["simulated_end_of_previous"]) < 0.03


def test_nordic_simulation_with_reserves_and_augmentation(tmp_path):
    r = simulate(CONFIGS / "simulations" / "dk2_nordic_2mw_2mwh_10y.yaml", years=1, timeseries=False)
    streams = r.summary["yearly"][0]["revenue_by_stream"]
    assert streams["fcr_n"] > 0 and streams["fcr_d_up"] > 0 and streams["da"] != 0
    assert r.summary["chemistry"] == "nmc" and r.years[0].soh_end < 1.0


def test_bad_simulation_config_exits_2_naming_the_field(tmp_path):
    path = small_config(tmp_path, battery_model={"end_of_life_soh": 1.2})
    run = subprocess.run([sys.executable, "-m", "bess_ray.cli", "simulate", str(path), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "battery_model.end_of_life_soh: Input should be less than 1" in run.stderr
    assert not (tmp_path / "o").exists()
