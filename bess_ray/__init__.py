"""bess-ray: battery energy storage on Ray.

    import bess_ray
    result = bess_ray.optimize("configs/sites/de_lu_1mw_2mwh.yaml", "sample:DE_LU_2023")
    print(result.describe())
    report = bess_ray.backtest("configs/backtests/de_lu_2023_da.yaml", "out/backtest")
"""
from .config import PV, Battery, Site, Wind
from .errors import BessRayError, ConfigError, DataError, InfeasibleError
from .optimize import Locks, OptimizationResult, optimize


def backtest(config, out_dir=None, progress=None):
    """Walk-forward backtest (see `bess_ray.backtest.backtest`); imported on first use."""
    from .backtest.run import backtest as _backtest

    return _backtest(config, out_dir, progress)

__version__ = "0.1.0"
__all__ = ["PV", "Battery", "BessRayError", "ConfigError", "DataError", "InfeasibleError", "Locks",
           "OptimizationResult", "Site", "Wind", "backtest", "optimize", "__version__"]
