"""The scenario store: a metadata row plus the scenario's data as Parquet bytes, in the store.

An import lands whole or not at all: the data and its row are written in one transaction. The
data is kept by content hash, so re-importing the same series stores it once.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import polars as pl

from ..data.quality import DataReport
from ..data.series import Series
from ..errors import DataError
from ..timegrid import utc_iso
from . import Store, resolve

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
COLUMNS = ("name", "columns", "resolution_min", "start_utc", "end_utc", "rows", "zone", "source", "description",
           "sha256", "created_utc")


class ScenarioExists(DataError):
    """A scenario of that name is stored already (the API answers 409)."""


class ScenarioStore:
    """Price and profile scenarios by name: import, list, show, load, delete."""

    def __init__(self, store: Store | str | Path | None = None) -> None:
        """`store`: a Store, a store URL, a folder (its embedded store) or None (this process's)."""
        self.db = resolve(store).db

    def add(self, name: str, series: Series, zone: str | None = None, description: str = "",
            replace: bool = False) -> dict:
        if not NAME.match(name):
            raise DataError(f"scenario name {name!r}: use letters, digits, '_', '.', '-' (at most 100)")
        if not replace and self.get(name) is not None:
            raise ScenarioExists(f"scenario {name!r} exists; delete it first or import with --replace")
        frame = series.frame.select("timestamp", "end", *series.columns)
        digest = hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()
        data = io.BytesIO()
        frame.write_parquet(data)
        meta = {
            "name": name, "columns": json.dumps(series.units), "resolution_min": series.resolution_min,
            "start_utc": f"{frame['timestamp'].min():%Y-%m-%dT%H:%M:%SZ}",
            "end_utc": f"{frame['end'].max():%Y-%m-%dT%H:%M:%SZ}", "rows": frame.height, "zone": zone,
            "source": series.source, "description": description, "sha256": digest, "created_utc": utc_iso(),
        }
        with self.db.transaction() as tx:
            if not replace and tx.rows("SELECT name FROM scenarios WHERE name = ?", (name,)):
                raise ScenarioExists(f"scenario {name!r} exists; delete it first or import with --replace")
            tx.execute("DELETE FROM scenarios WHERE name = ?", (name,))
            tx.execute("INSERT INTO scenario_data (sha256, parquet) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING",
                       (digest, data.getvalue()))
            tx.execute(f"INSERT INTO scenarios ({', '.join(meta)}) VALUES ({', '.join('?' * len(meta))})",
                       tuple(meta.values()))
            _drop_unused(tx)
        return self.get(name)

    def get(self, name: str) -> dict | None:
        row = self.db.row(f"SELECT {', '.join(COLUMNS)} FROM scenarios WHERE name = ?", (name,))
        if row is None:
            return None
        row["columns"] = json.loads(row["columns"])
        return row

    def list(self) -> list[dict]:
        rows = self.db.rows(f"SELECT {', '.join(COLUMNS)} FROM scenarios ORDER BY name")
        for row in rows:
            row["columns"] = json.loads(row["columns"])
        return rows

    def load(self, name: str) -> Series:
        meta = self.get(name)
        if meta is None:
            known = ", ".join(m["name"] for m in self.list()) or "none"
            raise DataError(f"unknown scenario {name!r}; stored: {known}")
        row = self.db.row("SELECT parquet FROM scenario_data WHERE sha256 = ?", (meta["sha256"],))
        frame = pl.read_parquet(io.BytesIO(bytes(row["parquet"])))
        report = DataReport(f"scenario:{name}", meta["rows"], meta["resolution_min"])
        return Series(frame, meta["resolution_min"], f"scenario:{name}", report, meta["columns"])

    def delete(self, name: str) -> bool:
        with self.db.transaction() as tx:
            gone = tx.execute("DELETE FROM scenarios WHERE name = ?", (name,)) == 1
            _drop_unused(tx)
        return gone


def _drop_unused(tx) -> None:
    tx.execute("DELETE FROM scenario_data WHERE sha256 NOT IN (SELECT sha256 FROM scenarios)")


def read_scenario(name: str) -> Series:
    """A stored scenario from the store of this process (BESS_RAY_STORE, else the embedded one under
    BESS_RAY_HOME; read afresh each call, so a change of either is followed)."""
    return ScenarioStore().load(name)
