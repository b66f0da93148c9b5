"""History for analysts: float data points exported to Parquet, queried with DuckDB.

DuckDB's own postgres and sqlite extensions download at run time, so they are not used: the
export reads through the store's drivers, a day at a time (memory stays flat over a year of 1 s
telemetry), and writes one Parquet file of `point`, `timestamp` (UTC), `value`, sorted by point
and time, which DuckDB (or polars, or pandas) reads directly:

    bess-ray store export site/de1 --from 2024-01-01 --to 2025-01-01 --out de1-2024.parquet
    duckdb -c "SELECT * FROM daily('de1-2024.parquet')"      # or analytics.daily(path) below
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from .points import instant, micros
from .repository import Repository

SCHEMA = pa.schema([("point", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])
CHUNK = timedelta(days=1)


def write_parquet(frames, path: str | Path) -> int:
    """Write frames of point/timestamp/value as one Parquet file (row group per frame); the rows."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    rows = 0
    with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
        for frame in frames:
            if frame.height:
                writer.write_table(frame.select("point", "timestamp", "value").to_arrow().cast(SCHEMA))
                rows += frame.height
    tmp.replace(path)
    return rows


def export(repo: Repository, prefix: str, start: datetime | str, end: datetime | str, path: str | Path,
           where: dict | None = None) -> int:
    """The float points below `prefix` in [start, end) into the Parquet file `path`; the rows written."""
    lo, hi = instant(micros(start, "start")), instant(micros(end, "end"))
    if not repo.points(prefix, where):
        raise DataError(f"no data points below {prefix!r}{' matching ' + str(where) if where else ''}")

    def days():
        t = lo
        while t < hi:
            yield repo.read_prefix(prefix, t, min(t + CHUNK, hi), where)
            t += CHUNK

    return write_parquet(days(), path)


def query(sql: str, **params):
    """Run DuckDB SQL (Parquet files are read with read_parquet('PATH')) and return a polars frame."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        return con.sql(sql, params=params or None).pl()
    finally:
        con.close()


def daily(path: str | Path, point: str | None = None, tz: str = "UTC") -> pl.DataFrame:
    """Per point and local day (in `tz`): mean, minimum, maximum and count of the values."""
    if not Path(path).exists():
        raise DataError(f"{path}: no such Parquet file (bess-ray store export ...)")
    where = "WHERE point = $point" if point else ""
    params = {"point": point} if point else {}
    return query(f"""
        SELECT point, CAST(timezone($tz, timestamp) AS DATE) AS day, avg(value) AS mean, min(value) AS min,
               max(value) AS max, count(*) AS count
        FROM read_parquet($path) {where} GROUP BY ALL ORDER BY point, day""", path=str(path), tz=tz, **params)
