"""Portfolio sweeps: a spec of sites x price scenarios x sizings x strategies x variants x years,
each case a backtest or a simulation, and the results folder (plain Python; the cases run as Ray
tasks from `cluster/sweep.py`).

`load_sweep(spec)` expands a spec into cases; `run_case(case, base_dir)` runs one; `SweepStore`
is the output folder; `rank` / `plot` read it. `bess_ray.cluster.sweep.run_sweep` runs them all.
"""
from .._lazy import exports

__getattr__, __dir__ = exports(__name__, {
    "Case": ".spec", "Sweep": ".spec", "SweepSpec": ".spec", "load_sweep": ".spec", "Outcome": ".case",
    "run_case": ".case", "plot": ".results", "rank": ".results", "SweepStore": ".store"})
__all__ = ["Case", "Outcome", "Sweep", "SweepSpec", "SweepStore", "load_sweep", "plot", "rank", "run_case"]
