"""The docs' figures hold on any machine: with the oldest HiGHS the project allows and the newest,
warm or cold, run twice, in one Ray worker or two (tests/data/figures.json, scripts/figures.py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
import yaml

from bess_ray.backtesting.run import backtest
from bess_ray.optimization import warm
from tests.conftest import CONFIGS, ROOT

FIGURES = json.loads((ROOT / "tests" / "data" / "figures.json").read_text())


def oldest_highs() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return re.search(r">=\s*([\d.]+)", next(d for d in deps if d.startswith("highspy"))).group(1)


@pytest.mark.slow
def test_the_oldest_highs_allowed_gives_every_figure_to_the_cent():
    """.ci/run installs the oldest highspy of pyproject's range into a folder of its own and names
    it in BESS_RAY_HIGHS_OLDEST; scripts/figures.py --check runs on it in a subprocess."""
    folder = os.environ.get("BESS_RAY_HIGHS_OLDEST")
    if not folder:
        if os.environ.get("CI") == "true":
            pytest.fail("BESS_RAY_HIGHS_OLDEST is not set: .ci/run installs the oldest highspy there")
        pytest.skip("set BESS_RAY_HIGHS_OLDEST to a folder holding the oldest highspy (see .ci/run)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([folder, str(ROOT)])}
    p = subprocess.run([sys.executable, "scripts/figures.py", "--check"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert f"HiGHS {oldest_highs()}" in p.stdout, (p.stdout, p.stderr[-2000:])
    assert p.returncode == 0, p.stdout + p.stderr[-2000:]


@pytest.mark.slow
def test_a_backtest_is_the_same_warm_cold_and_twice(monkeypatch):
    """The walk-forward keeps HiGHS warm from day to day; from scratch every day, and run again in
    the same process, it decides the same schedule and earns the same money."""
    config = CONFIGS / "backtests" / "de_lu_2023_da.yaml"
    first, second = backtest(config), backtest(config)
    original = warm.WarmSolver.solve

    def cold(self, lp):
        self.key = None  # every problem passed anew: no basis carried over
        return original(self, lp)

    monkeypatch.setattr(warm.WarmSolver, "solve", cold)
    from_scratch = backtest(config)
    want = FIGURES["backtest/de_lu_2023_da"]
    for run in (first, second, from_scratch):
        assert round(run.revenue_eur, 2) == want["revenue_eur"]
        assert round(run.summary["baselines_revenue_eur"]["oracle"], 2) == want["oracle_revenue_eur"]
        assert np.abs(run.trace.net - first.trace.net).max() < 1e-7
    assert from_scratch.summary["timing"]["main_model_passes"] == from_scratch.summary["timing"]["main_solves"]


@pytest.mark.slow
def test_quick_start_cases_are_the_same_in_one_worker_and_in_two(ray_session, tmp_path):
    from bess_ray.cluster.sweep import run_sweep

    spec = yaml.safe_load((CONFIGS / "sweeps" / "quickstart.yaml").read_text())
    spec["base"] = str(CONFIGS / "backtests" / "de_lu_2023_da.yaml")
    keys = [k for k in FIGURES if k.startswith("sweep/quickstart/")][1:3]  # one with FCR, one without
    spec["cases"] = [dict(zip(("sizing", "strategy", "year"), k.split("/")[2:])) for k in keys]
    for c in spec["cases"]:
        c["year"] = int(c["year"])
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(spec))
    import polars as pl

    revenue = {}
    for in_flight in (1, 2):
        out = tmp_path / f"out{in_flight}"
        report = run_sweep(path, out, progress=False, max_in_flight=in_flight)
        assert report.failed == 0
        rows = pl.concat([pl.read_parquet(f, columns=["case_id", "revenue_eur"])
                          for f in (out / "results").glob("*.parquet")])
        revenue[in_flight] = dict(zip(rows["case_id"], rows["revenue_eur"].round(2)))
    want = {FIGURES[k]["case_id"]: FIGURES[k]["revenue_eur"] for k in keys}
    assert revenue[1] == revenue[2] == want


SIM_YEAR = """
import sys, yaml
from bess_ray.simulation.run import simulate
cfg = yaml.safe_load(open(sys.argv[1]))
r = simulate(sys.argv[1], timeseries=True)
print([(y.year, repr(y.revenue_eur), repr(y.soh_end), repr(float(y.timeseries["bess_soc_mwh"].sum()))) for y in r.years])
"""


@pytest.mark.slow
def test_a_simulation_gives_the_same_bits_whichever_simd_path_numpy_takes(tmp_path):
    """numpy picks AVX-512 / AVX2 / baseline code at run time, and its exp, log and power differ in
    the last bits between them; the money must not (bess_ray/exact.py)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    paths = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    if not paths:
        pytest.skip("numpy has no SIMD path beyond its baseline on this CPU")
    cfg = yaml.safe_load((CONFIGS / "simulations" / "de_lu_10mw_20mwh_15y.yaml").read_text())
    cfg.update(site=str(CONFIGS / "sites" / "de_lu_10mw_20mwh_pv.yaml"), years=2)
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runs = []
    for disabled in ("", " ".join(paths)):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        p = subprocess.run([sys.executable, "-c", SIM_YEAR, str(path)], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        runs.append(p.stdout)
    assert runs[0] == runs[1], f"with {paths}: {runs[0]}\nwithout: {runs[1]}"
