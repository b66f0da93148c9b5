"""`bess_ray.optimize / backtest / simulate / sweep` work every time: any number of calls, in any
order, after importing any submodule, in a fresh interpreter as a user's script runs them."""
from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import CONFIGS, ROOT
from tests.sweep_specs import write_spec

SCRIPT = """
import sys
import bess_ray
import bess_ray.simulation, bess_ray.backtesting.run, bess_ray.sweeps.case, bess_ray.dispatch.engine
import bess_ray.optimization.blocks as blocks, bess_ray.backtesting.run as run  # every import form works
from bess_ray.backtesting.config import BacktestConfig
from bess_ray.simulation.run import simulate as sequential
import bess_ray.analytics.kpis, bess_ray.simulation.finance, bess_ray.sweeps.results

site, backtest_cfg, simulation_cfg, spec, out = sys.argv[1:]
figures = []
for round_ in range(2):
    plan = bess_ray.optimize(site, "sample:DE_LU_2023", start="2023-06-05", end="2023-06-06")
    report = bess_ray.backtest(backtest_cfg)
    import bess_ray.backtesting.config, bess_ray.simulation.config  # importing more changes nothing
    life = bess_ray.simulate(simulation_cfg)
    done = bess_ray.sweep(spec, f"{out}/sweep{round_}", progress=False)
    figures.append((round(plan.revenue_eur, 2), round(report.revenue_eur, 2), round(life.summary["npv_eur"], 2),
                    done.done))
    assert callable(bess_ray.backtest) and callable(bess_ray.simulate) and callable(bess_ray.sweep)
assert figures[0] == figures[1], figures
assert isinstance(BacktestConfig.__name__, str) and sequential is not bess_ray.simulate
assert blocks.TIE_BREAK_EUR_MWH > 0 and run.backtest is not bess_ray.backtest
print("ok", figures[0])
"""


def test_the_four_jobs_run_twice_in_one_process_after_any_import(tmp_path):
    bt = yaml.safe_load((CONFIGS / "backtests" / "de_lu_2023_da.yaml").read_text())
    bt.update(site=str(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml"), window={"start": "2023-03-06", "end": "2023-03-13"},
              baselines=["oracle"])
    (tmp_path / "bt.yaml").write_text(yaml.safe_dump(bt))
    sim = yaml.safe_load((CONFIGS / "simulations" / "de_lu_10mw_20mwh_15y.yaml").read_text())
    sim.update(site=str(CONFIGS / "sites" / "de_lu_10mw_20mwh_pv.yaml"), years=1)
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(sim))
    spec = write_spec(tmp_path / "spec", sizings={"1h": {"power_mw": 1.0, "duration_h": 1}})
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml"),
                        str(tmp_path / "bt.yaml"), str(tmp_path / "sim.yaml"), str(spec), str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stdout + p.stderr[-3000:]
    plan, backtest, npv, cases = eval(p.stdout.split(" ", 1)[1])  # noqa: S307 - our own printout
    assert plan > 0 and backtest > 0 and cases == 2
