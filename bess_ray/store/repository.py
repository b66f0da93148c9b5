"""The data-point repository: one interface over every SQL backend (and the Redis cache in front).

    repo = open_store().points
    repo.define(DataPoint("site/de1/asset/bess1/soc", unit="frac", metadata={"site": "de1"}))
    repo.write_many({"site/de1/asset/bess1/soc": frame})      # one transaction, all or nothing
    repo.read("site/de1/asset/bess1/soc", start, end)         # [start, end), UTC timestamps
    repo.read_prefix("site/de1", start, end)                   # every point below site/de1
    repo.latest("site/de1/asset/bess1/soc")                    # (time, value) or None

Writing a value at a time the point already holds replaces it, so a retried batch never doubles.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Iterable, Mapping

import numpy as np
import polars as pl

from ..errors import DataError
from ..timegrid import utc_iso
from .database import Conflict, Database
from .points import UTC_US, DataPoint, check_id, decode, instant, micros, prepare, shown, under

Window = tuple[datetime | str, datetime | str]
Batch = Mapping[str, "pl.DataFrame | tuple[pl.DataFrame, str]"]


class Repository:
    """What every backend offers; see the module's docstring."""

    def define(self, point: DataPoint) -> DataPoint: ...
    def point(self, point_id: str) -> DataPoint | None: ...
    def points(self, prefix: str | None = None, where: dict | None = None) -> list[DataPoint]: ...
    def write_many(self, batch: Batch) -> int: ...
    def read(self, point_id: str, start, end) -> pl.DataFrame: ...
    def read_prefix(self, prefix: str, start, end, where: dict | None = None) -> pl.DataFrame: ...
    def latest_many(self, point_ids: Iterable[str]) -> dict[str, tuple[datetime, object]]: ...

    def write(self, point_id: str, frame: pl.DataFrame, unit: str | None = None) -> int:
        return self.write_many({point_id: (frame, unit) if unit else frame})

    def latest(self, point_id: str) -> tuple[datetime, object] | None:
        return self.latest_many([point_id]).get(point_id)

    def set_static(self, point_id: str, value, at: datetime) -> int:
        """Set a static data point's value as of `at`."""
        return self.write(point_id, pl.DataFrame({"timestamp": [at], "value": [value]},
                                                  schema={"timestamp": pl.Datetime("us", at.tzinfo and "UTC"),
                                                          "value": pl.Object}))


def _window(start, end) -> tuple[int, int]:
    lo, hi = micros(start, "start"), micros(end, "end")
    if hi < lo:
        raise DataError(f"window: end {end} is before start {start}")
    return lo, hi


def _from_row(row: dict) -> DataPoint:
    return DataPoint(row["id"], row["kind"], row["unit"], json.loads(row["metadata"]), json.loads(row["schema"]),
                     row["description"])


DEFINITIONS_S = 10.0  # how long a process trusts its memory of a point's schema and metadata
TABLE = {"float": "samples", "vector": "documents", "static": "documents"}


class SqlRepository(Repository):
    """Data points in the SQLite or PostgreSQL store (tables `points`, `samples`, `documents`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, tuple[float, int, DataPoint]] = {}

    # ------------------------------------------------------------------------------ definitions
    def define(self, point: DataPoint) -> DataPoint:
        """Create a data point, or update its metadata, schema and description; its kind and unit
        cannot change (stored values would change meaning)."""
        with self.db.transaction() as tx:
            old = tx.rows("SELECT * FROM points WHERE id = ?", (point.id,))
            if old:
                have = _from_row(old[0])
                if (have.kind, have.unit) != (point.kind, point.unit):
                    raise DataError(f"data point {point.id} is defined as {have.kind} in {have.unit!r}; its kind "
                                    f"and unit cannot change to {point.kind} in {point.unit!r}")
                tx.execute("UPDATE points SET metadata = ?, schema = ?, description = ? WHERE id = ?",
                           (json.dumps(point.metadata), json.dumps(point.schema), point.description, point.id))
            else:
                tx.execute("INSERT INTO points (id, kind, unit, metadata, schema, description, created_utc) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (point.id, point.kind, point.unit, json.dumps(point.metadata), json.dumps(point.schema),
                            point.description, utc_iso(micro=True)))
        self._known.pop(point.id, None)
        return point

    def point(self, point_id: str) -> DataPoint | None:
        row = self.db.row("SELECT * FROM points WHERE id = ?", (check_id(point_id),))
        return _from_row(row) if row else None

    def points(self, prefix: str | None = None, where: dict | None = None) -> list[DataPoint]:
        """The points below `prefix` (segment-wise) whose metadata match `where`, by id."""
        if prefix:
            prefix = prefix.rstrip("/")
            rows = self.db.rows("SELECT * FROM points WHERE id = ? OR substr(id, 1, ?) = ? ORDER BY id",
                                (prefix, len(prefix) + 1, prefix + "/"))
        else:
            rows = self.db.rows("SELECT * FROM points ORDER BY id")
        found = [_from_row(r) for r in rows]
        return [p for p in found if p.matches(where)] if where else found

    def _keys(self, point_ids: Iterable[str]) -> dict[str, tuple[int, DataPoint]]:
        """The stored key and definition of each id (known ones from this process's memory for up to
        DEFINITIONS_S seconds: a writer of many small batches asks the database once)."""
        ids = sorted({check_id(i) for i in point_ids})
        now = time.monotonic()
        found = {i: self._known[i][1:] for i in ids if i in self._known and now - self._known[i][0] < DEFINITIONS_S}
        wanted = [i for i in ids if i not in found]
        if wanted:
            rows = self.db.rows(f"SELECT * FROM points WHERE id IN ({', '.join('?' * len(wanted))})", tuple(wanted))
            for r in rows:
                found[r["id"]] = (r["key"], _from_row(r))
                self._known[r["id"]] = (now, *found[r["id"]])
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise DataError(f"unknown data point(s): {', '.join(unknown)}; define them first")
        return found

    # ----------------------------------------------------------------------------------- writes
    def write_many(self, batch: Batch) -> int:
        """Write every point's frame in one transaction; every frame is checked first, so a bad one
        writes nothing at all. The number of values written."""
        keys = self._keys(batch)
        staged: dict[str, tuple[list, list, list]] = {"samples": ([], [], []), "documents": ([], [], [])}
        for point_id, item in batch.items():
            frame, unit = item if isinstance(item, tuple) else (item, None)
            key, point = keys[point_id]
            ts, values = prepare(point, frame, unit)
            columns = staged[TABLE[point.kind]]
            columns[0].append(np.full(len(ts), key, dtype=np.int64))
            columns[1].append(ts)
            columns[2].append(values)
        tables = {}
        for table, (points, stamps, values) in staged.items():
            if points:
                value = np.concatenate(values) if table == "samples" else [v for vs in values for v in vs]
                tables[table] = pl.DataFrame({"point": np.concatenate(points), "ts": np.concatenate(stamps),
                                              "value": value})
        try:  # new values, the common case, by the fastest path; a retried batch replaces what it wrote
            self._write(tables, fresh=True)
        except Conflict:
            self._write(tables, fresh=False)
        return sum(t.height for t in tables.values())

    def _write(self, tables: dict[str, pl.DataFrame], fresh: bool) -> None:
        with self.db.transaction() as tx:
            for table, rows in tables.items():
                self._insert(tx, table, rows, fresh)

    def _insert(self, tx, table: str, rows: pl.DataFrame, fresh: bool) -> None:
        tx.upsert(table, rows, ("point", "ts"), fresh)

    # ------------------------------------------------------------------------------------ reads
    def read(self, point_id: str, start, end) -> pl.DataFrame:
        """The point's values in [start, end), oldest first: timestamp (UTC), value."""
        (key, point), = self._keys([point_id]).values()
        lo, hi = _window(start, end)
        value = pl.Float64 if point.kind == "float" else pl.String
        rows = self.db.frame(f"SELECT ts, value FROM {TABLE[point.kind]} WHERE point = ? AND ts >= ? AND ts < ? "
                             "ORDER BY ts", (key, lo, hi), {"ts": pl.Int64, "value": value})
        return shown(point, rows["ts"], rows["value"])

    def read_prefix(self, prefix: str, start, end, where: dict | None = None) -> pl.DataFrame:
        """Every float point below `prefix` (and matching `where`) in [start, end): point, timestamp,
        value, ordered by point and time. Vector and static points are read one by one with `read`."""
        points = [p for p in self.points(prefix, where) if p.kind == "float"]
        if not points:
            return pl.DataFrame(schema={"point": pl.String, "timestamp": UTC_US, "value": pl.Float64})
        keys = self._keys(p.id for p in points)
        by_key = {key: pid for pid, (key, _) in keys.items()}
        lo, hi = _window(start, end)
        marks = ", ".join("?" * len(by_key))
        rows = self.db.frame(f"SELECT point, ts, value FROM samples WHERE point IN ({marks}) AND ts >= ? AND ts < ? "
                             "ORDER BY point, ts", (*by_key, lo, hi),
                             {"point": pl.Int64, "ts": pl.Int64, "value": pl.Float64})
        names = pl.DataFrame({"point": list(by_key), "id": list(by_key.values())}, schema={"point": pl.Int64, "id": pl.String})
        return (rows.join(names, on="point", how="left")
                .select(pl.col("id").alias("point"), pl.col("ts").cast(UTC_US).alias("timestamp"), "value")
                .sort("point", "timestamp"))

    def latest_many(self, point_ids: Iterable[str]) -> dict[str, tuple[datetime, object]]:
        """The newest value of each point that has one: {id: (time, value)}."""
        out = {}
        for point_id, (key, point) in self._keys(point_ids).items():
            row = self.db.row(f"SELECT ts, value FROM {TABLE[point.kind]} WHERE point = ? ORDER BY ts DESC LIMIT 1",
                              (key,))
            if row is not None:
                out[point_id] = (instant(row["ts"]), decode(point, row["value"]))
        return out


__all__ = ["Repository", "SqlRepository", "DataPoint", "under"]
