"""Forecasts from a file in which every value carries the time it was issued.

Columns: `issue_time_utc`, `timestamp_utc` (delivery interval start) and one column per product
(`da`, `fcr`, ...; canonical units). At a decision time only values issued at or before it are
visible; for each delivery interval the latest such value is used. A value issued at or after
its own delivery interval is an error in the file; a delivery interval with no value issued
before the decision time stops the run with the day and the intervals, unless `fill: ffill`
holds the previous interval's forecast over the gap.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ..errors import DataError
from ..markets import PRODUCTS
from ..timegrid import iso
from .base import ForecastError, VisibleHistory


def read_issued(path: Path, what: str, columns: list[str]) -> tuple[pl.DataFrame, int]:
    """A file of values that each carry `issue_time_utc` and `timestamp_utc` (the delivery interval
    start): the times parsed (UTC, naive), `columns` as floats, sorted by issue time, and the
    series' resolution in minutes. A value issued at or after its own interval is refused."""
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=False)
    if "issue_time_utc" not in frame.columns:
        raise DataError(f"{what}: {path.name} has no issue_time_utc column: a series without publication times is "
                        "refused (its values may have been published after the decision)")
    missing = [c for c in ("timestamp_utc", *columns) if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: {path.name} needs the column(s) {', '.join(missing)}")
    frame = frame.with_row_index("row", offset=2).select(
        "row", *[pl.col(c).cast(pl.String).str.replace("Z$", "+00:00").str.to_datetime(time_zone="UTC", time_unit="us")
                 .dt.replace_time_zone(None) for c in ("issue_time_utc", "timestamp_utc")],
        *[pl.col(c).cast(pl.Float64) for c in columns])
    late = frame.filter(pl.col("issue_time_utc") >= pl.col("timestamp_utc"))
    if late.height:
        raise DataError(f"{what}: {late.height} value(s) issued at or after their own delivery interval "
                        f"(look-ahead), rows {late['row'].head(8).to_list()}")
    steps = frame["timestamp_utc"].unique().sort().diff().dt.total_minutes().drop_nulls()
    resolution = int(steps.filter(steps > 0).mode().min()) if steps.len() else 60
    return frame.drop("row").sort("issue_time_utc"), resolution


class CsvForecast:
    oracle = False

    def __init__(self, file: str, fill: str | None = None, base_dir: Path | None = None) -> None:
        if fill not in (None, "ffill"):
            raise DataError(f"forecast.fill: {fill!r} is not 'ffill'")
        self.fill = fill
        path = Path(file)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        if not path.is_file():
            raise DataError(f"forecast.file: {file}: no such file")
        header = pl.read_parquet_schema(path) if path.suffix == ".parquet" else pl.read_csv(path, n_rows=0).schema
        self.products = [c for c in header if c in PRODUCTS]
        if not self.products:
            raise DataError(f"forecast.file: {file}: no product column ({', '.join(PRODUCTS)})")
        self.frame, self.resolution_min = read_issued(path, f"forecast.file: {file}", self.products)
        self.name = f"csv forecast {path.name}"

    def forecast(self, view: VisibleHistory, targets: np.ndarray, products) -> dict[str, np.ndarray]:
        missing = [p for p in products if p not in self.products]
        if missing:
            raise ForecastError(f"the forecast file has no column for {', '.join(missing)}")
        ts = view.timestamps[targets]
        issued = self.frame.filter(pl.col("issue_time_utc") <= view.decision_time)
        latest = (issued.filter(pl.col("timestamp_utc").is_between(ts[0] - np.timedelta64(self.resolution_min, "m"), ts[-1]))
                  .group_by("timestamp_utc").agg(pl.all().sort_by("issue_time_utc").last()).sort("timestamp_utc"))
        # a value holds over its delivery interval (an hourly forecast over four quarter-hours)
        table = pl.DataFrame({"timestamp_utc": ts}).join_asof(
            latest, on="timestamp_utc", strategy="backward", tolerance=f"{self.resolution_min - 1}m")
        out = {}
        for p in products:
            values = table[p].to_numpy().astype(float)
            if self.fill == "ffill":
                values = pl.Series(values).fill_nan(None).forward_fill().to_numpy().astype(float)
            gaps = np.flatnonzero(np.isnan(values))
            if gaps.size:
                first = np.datetime_as_string(ts[gaps[0]], "m")
                raise ForecastError(f"no {p} forecast issued at or before {iso(view.decision_time, 'm')} "
                                    f"for {gaps.size} interval(s) from {first}Z (values issued later are not used)")
            out[p] = values
        return out
