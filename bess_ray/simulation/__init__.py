"""Simulation: battery physics, degradation, co-located generation, multi-year runs and finance
(plain Python + numba; parallel years run as Ray tasks from `cluster/`).

`run.simulate(config, out_dir)` is the entry point."""
