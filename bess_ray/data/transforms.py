"""Series transforms for price scenarios.

`restamp_year` moves a real year of prices onto another calendar year so that series of different
years can be combined (for example 2021 FCR prices with 2023 day-ahead prices). It shifts by whole
weeks, so weekdays and weekends stay aligned, and fills the one or two days that a whole-week shift
leaves uncovered at the year's edges from the neighbouring week.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from ..errors import DataError


def restamp_year(frame: pl.DataFrame, target_year: int, source_year: int | None = None,
                 tz: str = "UTC") -> pl.DataFrame:
    """Frame with `timestamp`, `end` and value columns, re-stamped onto `target_year` (local year in tz)."""
    local_year = frame["timestamp"].dt.convert_time_zone(tz).dt.year()
    if source_year is None:  # the most recent year with the most data
        counts = local_year.value_counts().sort(["count", local_year.name], descending=True)
        source_year = int(counts[local_year.name][0])
    src = frame.filter(local_year == source_year)
    if src.height == 0:
        raise DataError(f"no data in year {source_year} to re-stamp onto {target_year}")
    days = (datetime(target_year, 1, 1) - datetime(source_year, 1, 1)).days
    shift = timedelta(days=7 * round(days / 7))
    lo = pl.datetime(target_year, 1, 1, time_zone=tz).dt.convert_time_zone("UTC")
    hi = pl.datetime(target_year + 1, 1, 1, time_zone=tz).dt.convert_time_zone("UTC")
    def moved(weeks: int) -> pl.DataFrame:
        delta = shift + timedelta(days=7 * weeks)
        return src.with_columns(pl.col("timestamp") + delta, pl.col("end") + delta)

    main = moved(0).filter((pl.col("timestamp") >= lo) & (pl.col("end") <= hi))
    first, last = main["timestamp"].min(), main["end"].max()
    head = moved(-1).filter((pl.col("timestamp") >= lo) & (pl.col("end") <= first))  # a later source week
    tail = moved(1).filter((pl.col("timestamp") >= last) & (pl.col("end") <= hi))  # an earlier source week
    return pl.concat([head, main, tail])
