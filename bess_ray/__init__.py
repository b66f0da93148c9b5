"""bess-ray: battery energy storage on Ray.

    import bess_ray
    plan = bess_ray.optimize("configs/sites/de_lu_1mw_2mwh.yaml", "sample:DE_LU_2023")
    report = bess_ray.backtest("configs/backtests/de_lu_2023_da.yaml", "out/backtest")
    life = bess_ray.simulate("configs/simulations/de_lu_10mw_20mwh_15y.yaml")
    sweep = bess_ray.sweep("configs/sweeps/quickstart.yaml", "out/quickstart")

Each job is a function of this package, callable any number of times in any order; no package
shares its name (they are optimization/, backtesting/, simulation/ and sweeps/), so no import of a
submodule can rebind it.
"""
from .config import PV, Battery, Site, Wind
from .data.series import use_scenario_reader
from .errors import BessRayError, ConfigError, DataError, InfeasibleError
from .optimization import Locks, OptimizationResult, optimize
from .plugins import site_constraint
from .store.scenarios import read_scenario

use_scenario_reader(read_scenario)  # `scenario:NAME` price sources read the embedded store


def backtest(config, out_dir=None, progress=None, *, base_dir=None):
    """Walk-forward backtest of a site (a YAML path or a `BacktestConfig`): the realised revenue
    by stream, the capture rate against the oracle and the baselines, the schedules and, with
    `out_dir`, the artifacts and the HTML report. See `bess_ray.backtesting.run.backtest`."""
    from .backtesting.run import backtest as run

    return run(config, out_dir, progress, base_dir=base_dir)


def simulate(config, out_dir=None, *, mode=None, years=None, timeseries=None, progress=None, address=None,
             base_dir=None):
    """Multi-year simulation (a YAML path or a `SimulationConfig`): yearly revenue, state of health,
    cash flows, NPV, IRR, LCOS. Parallel mode (`mode="parallel"` or the config's) runs the years as
    Ray tasks on a local Ray or the cluster at `address`. See `bess_ray.simulation.run.simulate`."""
    from .simulation.config import SimulationConfig

    options = dict(mode=mode, years=years, timeseries=timeseries, progress=progress, base_dir=base_dir)
    cfg = config if isinstance(config, SimulationConfig) else SimulationConfig.from_yaml(config)
    if (mode or cfg.mode) == "parallel":
        from .cluster.simulate import simulate as parallel

        return parallel(config, out_dir, address=address, **options)
    from .simulation.run import simulate as sequential

    return sequential(config, out_dir, **options)


def sweep(spec, out_dir, *, address=None, max_in_flight=None, force=False, num_cpus=None, progress=True):
    """Run a portfolio sweep (a spec YAML) as Ray tasks into `out_dir`, resuming what is finished
    there; returns the report (done, skipped, failed). Rank the results with
    `bess_ray.sweeps.results.rank(out_dir)`. See `bess_ray.cluster.sweep.run_sweep`."""
    from .cluster.sweep import run_sweep

    return run_sweep(spec, out_dir, address=address, max_in_flight=max_in_flight, force=force, num_cpus=num_cpus,
                     progress=progress)


__version__ = "0.1.0"
__all__ = ["PV", "Battery", "BessRayError", "ConfigError", "DataError", "InfeasibleError", "Locks",
           "OptimizationResult", "Site", "Wind", "backtest", "optimize", "simulate", "site_constraint", "sweep",
           "__version__"]
