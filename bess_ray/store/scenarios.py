"""The scenario store: a SQLite metadata table plus one Parquet data file per scenario.

An import either lands whole or not at all: the data file is written under a temporary name and
renamed, then its row is inserted in one transaction; if the insert fails the file is removed.
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl

from .. import artifacts
from ..data.quality import DataReport
from ..data.series import Series
from ..errors import DataError
from ..timegrid import utc_iso
from . import connect, home

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS scenarios (
    name TEXT PRIMARY KEY,
    columns TEXT NOT NULL,          -- JSON {column: canonical unit}
    resolution_min INTEGER NOT NULL,
    start_utc TEXT NOT NULL,
    end_utc TEXT NOT NULL,
    rows INTEGER NOT NULL,
    zone TEXT,
    source TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL,
    file TEXT NOT NULL,
    created_utc TEXT NOT NULL
)
"""


class ScenarioExists(DataError):
    """A scenario of that name is stored already (the API answers 409)."""


class ScenarioStore:
    """Price and profile scenarios by name: import, list, show, load, delete."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else home()
        self.data_dir = self.root / "scenarios"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.root)

    def add(self, name: str, series: Series, zone: str | None = None, description: str = "",
            replace: bool = False) -> dict:
        if not NAME.match(name):
            raise DataError(f"scenario name {name!r}: use letters, digits, '_', '.', '-' (at most 100)")
        if not replace and self.get(name) is not None:
            raise ScenarioExists(f"scenario {name!r} exists; delete it first or import with --replace")
        frame = series.frame.select("timestamp", "end", *series.columns)
        digest = hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()
        path = self.data_dir / f"{name}-{digest[:12]}.parquet"
        artifacts.write(path, frame)
        meta = {
            "name": name, "columns": json.dumps(series.units), "resolution_min": series.resolution_min,
            "start_utc": f"{frame['timestamp'].min():%Y-%m-%dT%H:%M:%SZ}",
            "end_utc": f"{frame['end'].max():%Y-%m-%dT%H:%M:%SZ}", "rows": frame.height, "zone": zone,
            "source": series.source, "description": description, "sha256": digest, "file": path.name,
            "created_utc": utc_iso(),
        }
        old = self.get(name)
        try:
            with closing(self._connect()) as db, db:
                db.execute("DELETE FROM scenarios WHERE name = ?", (name,))
                db.execute(f"INSERT INTO scenarios ({', '.join(meta)}) VALUES ({', '.join('?' * len(meta))})",
                           tuple(meta.values()))
        except Exception:
            if old is None or old["file"] != path.name:
                path.unlink(missing_ok=True)
            raise
        if old is not None and old["file"] != path.name:
            (self.data_dir / old["file"]).unlink(missing_ok=True)
        return self.get(name)

    def get(self, name: str) -> dict | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM scenarios WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["columns"] = json.loads(out["columns"])
        return out

    def list(self) -> list[dict]:
        with closing(self._connect()) as db:
            names = [r["name"] for r in db.execute("SELECT name FROM scenarios ORDER BY name")]
        return [self.get(n) for n in names]

    def load(self, name: str) -> Series:
        meta = self.get(name)
        if meta is None:
            known = ", ".join(m["name"] for m in self.list()) or "none"
            raise DataError(f"unknown scenario {name!r}; stored: {known}")
        frame = pl.read_parquet(self.data_dir / meta["file"])
        report = DataReport(f"scenario:{name}", meta["rows"], meta["resolution_min"])
        return Series(frame, meta["resolution_min"], f"scenario:{name}", report, meta["columns"])

    def delete(self, name: str) -> bool:
        meta = self.get(name)
        if meta is None:
            return False
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM scenarios WHERE name = ?", (name,))
        (self.data_dir / meta["file"]).unlink(missing_ok=True)
        return True


def read_scenario(name: str) -> Series:
    """A stored scenario from the embedded store under BESS_RAY_HOME (read afresh each call, so a
    change of BESS_RAY_HOME is followed)."""
    return ScenarioStore().load(name)
