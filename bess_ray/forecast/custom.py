"""A user's own forecaster, named in the config as `module:Class` or `path/to/file.py:Class`.

The class is instantiated with `params` and called like every forecaster, with only the history
visible at the decision time. What it returns is checked: one finite value per target interval
and product, or the run stops naming the day and the reason.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from .base import ForecastError


def load_custom(cls: str | None = None, params: dict | None = None, base_dir: Path | None = None, **extra):
    if extra:
        raise ForecastError(f"forecast: unknown option(s) {', '.join(extra)} for custom_python (class, params)")
    if not cls or ":" not in cls:
        raise ForecastError("forecast.cls: give 'package.module:ClassName' or 'file.py:ClassName'")
    where, name = cls.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        obj = getattr(module, name)(**(params or {}))
    except Exception as e:
        raise ForecastError(f"forecast.cls: cannot load {cls}: {type(e).__name__}: {e}") from None
    if not callable(getattr(obj, "forecast", None)):
        raise ForecastError(f"forecast.cls: {cls} has no forecast(view, targets, products) method")
    obj.name = getattr(obj, "name", f"custom {name}")
    obj.oracle = False
    return obj
