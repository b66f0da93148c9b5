"""The optimiser: vectorised blocks -> one sparse matrix -> HiGHS (or Pyomo through the bridge)."""
from .api import optimize
from .blocks import Formulation, Locks, build
from .result import OptimizationResult

__all__ = ["Formulation", "Locks", "OptimizationResult", "build", "optimize"]
