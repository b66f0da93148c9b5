"""Portfolio sweeps: a spec of sites x price scenarios x sizings x strategies x variants x years,
each case a backtest or a simulation, and the results folder (plain Python; the cases run as Ray
tasks from `cluster/sweep.py`).

`spec.load_sweep(spec)` expands a spec into cases; `case.run_case(case, base_dir)` runs one;
`store.SweepStore` is the output folder; `results.rank` / `results.plot` read it. `bess_ray.sweep(...)` runs them all.
"""
