"""The walk-forward engine that backtests and simulations share: each delivery day decided at its
market gates with only what was known then (`engine.WalkForward`), and the config of what it
trades and how it forecasts (`config.Dispatch`)."""
