"""Simulation: battery physics, degradation, co-located generation, multi-year runs and finance
(plain Python + numba; parallel years run as Ray tasks from `cluster/`).

`simulate(config, out_dir)` is the entry point; see `run.py`.
"""
from .run import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
