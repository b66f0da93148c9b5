"""A battery's time-varying limits read from a file: windows, or one row per interval.

Windows: columns `start`, `end` (or `at`) and any of `available`, `charge_mw`, `discharge_mw`,
`soc_min`, `soc_max`, `reason`. A time series: a `timestamp` column and limit columns; each row
holds until the next one (the last for the step before it). Empty cells set no limit. CSV,
Parquet and JSON (a list of objects) are read; the rows are checked as `config.Limit`.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import polars as pl

from ..errors import ConfigError

COLUMNS = ("start", "end", "at", "available", "charge_mw", "discharge_mw", "soc_min", "soc_max", "reason")


def read_limits(path: Path) -> list[dict]:
    """The limits of a file as rows for `config.Limit` (a ConfigError names the file and the row)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such limits file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=0)  # all text: times stay as written
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix == ".json":
            frame = pl.DataFrame(json.loads(path.read_text()), infer_schema_length=None)
        else:
            raise ConfigError(f"{path}: limits are read from .csv, .parquet or .json, not {suffix or 'no suffix'}")
    except (pl.exceptions.PolarsError, json.JSONDecodeError, OSError, TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: cannot read limits: {e}") from None
    unknown = [c for c in frame.columns if c not in COLUMNS + ("timestamp",)]
    if unknown:
        raise ConfigError(f"{path}: unknown limit column(s) {', '.join(unknown)}; known: timestamp, {', '.join(COLUMNS)}")
    rows = [{k: v for k, v in r.items() if not _empty(v)} for r in frame.iter_rows(named=True)]
    if "timestamp" in frame.columns:
        rows = _series_to_windows(path, rows)
    return rows


def _empty(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _series_to_windows(path: Path, rows: list[dict]) -> list[dict]:
    if any(k in r for r in rows for k in ("start", "end", "at")):
        raise ConfigError(f"{path}: give either a timestamp column (a series) or start / end / at (windows)")
    try:
        times = [r["timestamp"] if isinstance(r["timestamp"], datetime) else datetime.fromisoformat(r["timestamp"])
                 for r in rows]
    except (KeyError, ValueError) as e:
        raise ConfigError(f"{path}: timestamp: every row needs an ISO 8601 time ({e})") from None
    if len(times) < 2 or any(b <= a for a, b in zip(times, times[1:])):
        raise ConfigError(f"{path}: timestamp: at least two rows, in ascending order")
    ends = times[1:] + [times[-1] + (times[-1] - times[-2])]
    out = []
    for r, start, end in zip(rows, times, ends):
        limit = {k: v for k, v in r.items() if k != "timestamp"}
        if limit:  # a row without any limit is a gap in the series
            out.append({"start": start, "end": end, **limit})
    return out
