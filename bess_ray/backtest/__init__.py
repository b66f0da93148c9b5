"""Walk-forward backtests: decide each day at its gates with only what was known then."""
from .config import BacktestConfig
from .engine import BacktestError, Trace, WalkForward
from .run import BacktestResult, backtest

__all__ = ["BacktestConfig", "BacktestError", "BacktestResult", "Trace", "WalkForward", "backtest"]
