"""Exogenous series for the learned forecast (load, wind, solar forecasts ...), each value with
the time it was published.

A file has `issue_time_utc`, `timestamp_utc` (the delivery interval start) and `value` (or the
column named by `column`). A series without publication times is refused: nothing could show that
its values were known at the decision. A value issued at or after its own delivery interval is
an error in the file. At a decision, each target interval gets the latest value issued at or
before the decision time; values issued later are never used, and a target with none is left
missing (the trees' missing-value branch) and counted.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import DataError
from .base import ForecastError
from .csv import read_issued


class Exogenous:
    def __init__(self, name: str, file: str, column: str = "value", base_dir: Path | None = None) -> None:
        path = Path(file)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = Path(base_dir) / path
        if not path.is_file():
            raise ForecastError(f"forecast.exogenous.{name}.file: {file}: no such file")
        try:
            frame, self.resolution_min = read_issued(path, f"forecast.exogenous.{name}", [column])
        except DataError as e:  # a forecast option's file: reported as the forecast's error
            raise ForecastError(str(e)) from None
        self.name = name
        self.frame = frame.rename({column: "value"})
        self.missing = 0  # targets without a value issued before their decision

    def values_at(self, targets: np.ndarray, decisions: np.ndarray) -> np.ndarray:
        """The latest value issued at or before each decision, for each target interval start."""
        query = pl.DataFrame({"i": np.arange(targets.size), "timestamp_utc": targets.astype("datetime64[us]"),
                              "decision": np.asarray(decisions).astype("datetime64[us]")}).with_columns(
            pl.col("timestamp_utc").cast(pl.Datetime("us")).dt.truncate(f"{self.resolution_min}m"),
            pl.col("decision").cast(pl.Datetime("us"))).sort("decision")
        with warnings.catch_warnings():  # both sides are sorted on the asof keys; polars cannot check it with `by`
            warnings.simplefilter("ignore", UserWarning)
            found = query.join_asof(self.frame, left_on="decision", right_on="issue_time_utc", by="timestamp_utc",
                                    strategy="backward").sort("i")
        values = found["value"].to_numpy().astype(float)
        self.missing += int(np.isnan(values).sum())
        return values


def load_exogenous(spec: dict | None, base_dir=None) -> list[Exogenous]:
    """`exogenous: {wind: {file: wind.csv}, load: {file: load.parquet, column: mw}}`."""
    out = []
    for name, entry in (spec or {}).items():
        if not isinstance(entry, dict) or "file" not in entry or set(entry) - {"file", "column"}:
            raise ForecastError(f"forecast.exogenous.{name}: give {{file: PATH}} and optionally column")
        out.append(Exogenous(name, base_dir=base_dir, **entry))
    return out
