"""bess-ray: battery energy storage on Ray.

    import bess_ray
    result = bess_ray.optimize("configs/sites/de_lu_1mw_2mwh.yaml", "sample:DE_LU_2023")
    print(result.describe())
"""
from .config import PV, Battery, Site, Wind
from .errors import BessRayError, ConfigError, DataError, InfeasibleError
from .optimize import Locks, OptimizationResult, optimize

__version__ = "0.1.0"
__all__ = ["PV", "Battery", "BessRayError", "ConfigError", "DataError", "InfeasibleError", "Locks",
           "OptimizationResult", "Site", "Wind", "optimize", "__version__"]
