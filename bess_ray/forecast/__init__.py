"""Forecasts of prices, made at a decision time from only what was visible then.

Every forecaster implements `forecast(view, targets) -> {product: values}` where `view` is a
`VisibleHistory`: the past as it was known at the decision time. Only `perfect_foresight` (the
oracle) reads actual future prices, and it is labelled so everywhere.
"""
from .base import Forecaster, ForecastError, VisibleHistory, make_forecaster

__all__ = ["ForecastError", "Forecaster", "VisibleHistory", "make_forecaster"]
