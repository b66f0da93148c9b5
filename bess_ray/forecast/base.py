"""The forecaster interface and the visible history a forecaster gets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import BessRayError


class ForecastError(BessRayError):
    """A forecast could not be made or was unusable; names the decision day and the reason."""


@dataclass(frozen=True)
class VisibleHistory:
    """Actual prices as known at `decision_time`: `prices[p][:known[p]]` are the published values.

    `timestamps` is the whole backtest grid (interval starts, UTC); forecasters may use the
    calendar freely but only values before `known[p]`. `values(p)` returns exactly that part.
    """

    decision_time: np.datetime64
    timestamps: np.ndarray
    _prices: dict
    known: dict

    def values(self, product: str) -> np.ndarray:
        arr = self._prices[product][: self.known[product]]
        arr = arr.view()
        arr.flags.writeable = False
        return arr


class Forecaster(Protocol):
    name: str
    oracle: bool

    def forecast(self, view: VisibleHistory, targets: np.ndarray, products: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Prices for grid indices `targets` (ascending ints into view.timestamps), per product."""


def make_forecaster(spec: dict, base_dir=None) -> Forecaster:
    """A forecaster from its config: {type: persistence|gbm|perfect_foresight|csv|custom_python, ...}."""
    kind = spec.get("type", "persistence")
    options = {k: v for k, v in spec.items() if k != "type"}
    if kind == "perfect_foresight":
        from .perfect import PerfectForesight

        return PerfectForesight()
    if kind == "persistence":
        from .persistence import Persistence

        return Persistence(**options)
    if kind == "gbm":
        from .gbm import GbmForecast

        try:
            return GbmForecast(**options, base_dir=base_dir)
        except TypeError as e:
            raise ForecastError(f"forecast: {e} (gbm takes refit_days, train_days, coverage, calibration_days, "
                                "trees, learning_rate, leaves, persistence_weight, seed, exogenous)") from None
    if kind == "csv":
        from .csv import CsvForecast

        return CsvForecast(base_dir=base_dir, **options)
    if kind == "custom_python":
        from .custom import load_custom

        return load_custom(base_dir=base_dir, **options)
    raise ForecastError(f"forecast.type: unknown forecast {kind!r}; use persistence, gbm, perfect_foresight, csv or custom_python")
