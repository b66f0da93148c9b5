"""Walk-forward backtests: a config, its baselines, its money, its artifacts (`run.backtest`).

The walk-forward itself is `bess_ray.dispatch`, shared with the simulations."""
from .._lazy import exports

__getattr__, __dir__ = exports(__name__, {"BacktestConfig": ".config", "BacktestResult": ".run", "backtest": ".run"})
__all__ = ["BacktestConfig", "BacktestResult", "backtest"]
