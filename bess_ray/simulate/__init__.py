"""Simulation: battery physics, degradation, co-located generation, multi-year runs and finance
(plain Python + numba; parallel years run as Ray tasks from `cluster/`).

`run.simulate(config, out_dir)` is the entry point."""
from .._lazy import exports

__getattr__, __dir__ = exports(__name__, {"SimulationConfig": ".config", "SimulationResult": ".run",
                                          "simulate": ".run"})
__all__ = ["SimulationConfig", "SimulationResult", "simulate"]
