"""The walk-forward engine that backtests and simulations share: each delivery day decided at its
market gates with only what was known then (`engine.WalkForward`), and the config of what it
trades and how it forecasts (`config.Dispatch`)."""
from .._lazy import exports

__getattr__, __dir__ = exports(__name__, {"BacktestError": ".engine", "Trace": ".engine", "WalkForward": ".engine",
                                          "Dispatch": ".config", "Revision": ".config"})
__all__ = ["BacktestError", "Dispatch", "Revision", "Trace", "WalkForward"]
