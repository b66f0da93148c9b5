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

from .base import ForecastError


class Exogenous:
    def __init__(self, name: str, file: str, column: str = "value", base_dir: Path | None = None) -> None:
        path = Path(file)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = Path(base_dir) / path
        if not path.is_file():
            raise ForecastError(f"forecast.exogenous.{name}.file: {file}: no such file")
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
        if "issue_time_utc" not in frame.columns:
            raise ForecastError(f"forecast.exogenous.{name}: {file} has no issue_time_utc column: a series without "
                                "publication times is refused (its values may have been published after the decision)")
        if "timestamp_utc" not in frame.columns or column not in frame.columns:
            raise ForecastError(f"forecast.exogenous.{name}: {file} needs the columns timestamp_utc and {column}")
        times = [pl.col(c).cast(pl.String).str.replace("Z$", "+00:00").str.to_datetime(time_zone="UTC", time_unit="us")
                 .dt.replace_time_zone(None) for c in ("issue_time_utc", "timestamp_utc")]
        frame = frame.select(*times, pl.col(column).cast(pl.Float64).alias("value")).with_row_index("row", offset=2)
        late = frame.filter(pl.col("issue_time_utc") >= pl.col("timestamp_utc"))
        if late.height:
            raise ForecastError(f"forecast.exogenous.{name}: {late.height} value(s) issued at or after their own "
                                f"delivery interval (look-ahead), rows {late['row'].head(8).to_list()}")
        steps = frame["timestamp_utc"].unique().sort().diff().dt.total_minutes().drop_nulls()
        self.resolution_min = int(steps.filter(steps > 0).min()) if steps.len() else 60
        self.name = name
        self.frame = frame.drop("row").sort("issue_time_utc")
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
