"""Walk-forward backtests: a config, its baselines, its money, its artifacts (`run.backtest`).

The walk-forward itself is `bess_ray.dispatch`, shared with the simulations."""
