"""The optimiser: vectorised blocks -> one sparse matrix -> HiGHS (or Pyomo through the bridge)."""
from .api import optimize
from .blocks import Calendar, Formulation, IntradayTrade, Locks, build
from .result import OptimizationResult
from .rules import Rules

__all__ = ["Calendar", "Formulation", "IntradayTrade", "Locks", "OptimizationResult", "Rules", "build", "optimize"]
