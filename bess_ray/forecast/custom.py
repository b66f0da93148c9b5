"""A user's own forecaster, named in the config as `module:Class` or `path/to/file.py:Class`.

The class is instantiated with `params` and called like every forecaster, with only the history
visible at the decision time. What it returns is checked: one finite value per target interval
and product, or the run stops naming the day and the reason.
"""
from __future__ import annotations

from pathlib import Path

from ..plugins import load_object
from .base import ForecastError


def load_custom(cls: str | None = None, params: dict | None = None, base_dir: Path | None = None, **extra):
    if extra:
        raise ForecastError(f"forecast: unknown option(s) {', '.join(extra)} for custom_python (class, params)")
    if not cls or ":" not in cls:
        raise ForecastError("forecast.cls: give 'package.module:ClassName' or 'file.py:ClassName'")
    try:
        klass = load_object(cls, base_dir)
    except ValueError as e:
        raise ForecastError(f"forecast.cls: {e}") from None
    try:
        obj = klass(**(params or {}))
    except Exception as e:  # noqa: BLE001 - the user's class, named with the reason
        raise ForecastError(f"forecast.cls: cannot create {cls}: {type(e).__name__}: {e}") from None
    if not callable(getattr(obj, "forecast", None)):
        raise ForecastError(f"forecast.cls: {cls} has no forecast(view, targets, products) method")
    obj.name = getattr(obj, "name", f"custom {cls.rsplit(':', 1)[1]}")
    obj.oracle = False
    return obj
