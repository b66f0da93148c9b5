"""What the operating half keeps: each site's control state (restored after a restart), every
schedule version handed to a site, the event log, and telemetry as data points.

Telemetry points of a site (float series, written in batches by the site's actor):
`site/{site}/asset/{asset}/power_mw`, `.../soc_frac`, `.../command_mw`.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from ..timegrid import utc_iso
from . import Store, resolve
from .points import DataPoint, micros

TELEMETRY = {"power_mw": "MW", "soc_frac": "frac", "command_mw": "MW"}


def telemetry_id(site: str, asset: str, quantity: str) -> str:
    return f"site/{site}/asset/{asset}/{quantity}"


class OperationsStore:
    def __init__(self, store: Store | str | Path | None = None) -> None:
        self.store = resolve(store)
        self.db = self.store.db

    # ---------------------------------------------------------------------------- control state
    def save_state(self, name: str, state: dict) -> None:
        text = json.dumps(state, sort_keys=True)
        self.db.execute("INSERT INTO control_state (name, state, updated_utc) VALUES (?, ?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_utc = excluded.updated_utc",
                        (name, text, utc_iso(micro=True)))

    def load_state(self, name: str) -> dict | None:
        row = self.db.row("SELECT state FROM control_state WHERE name = ?", (name,))
        return json.loads(row["state"]) if row else None

    # -------------------------------------------------------------------------------- schedules
    def add_schedule(self, site: str, payload: dict, source: str, author: str | None) -> int:
        """Store a new version of a site's schedule (the merged plan as it will run): its number."""
        with self.db.transaction() as tx:
            top = tx.rows("SELECT MAX(version) AS v FROM site_schedules WHERE site = ?", (site,))[0]["v"] or 0
            tx.execute("INSERT INTO site_schedules (site, version, created_utc, source, author, payload) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (site, top + 1, utc_iso(micro=True), source, author,
                                                     json.dumps(payload)))
        return top + 1

    def schedule(self, site: str, version: int | None = None) -> dict | None:
        """A version of a site's schedule (default: the newest) with its record."""
        if version is None:
            row = self.db.row("SELECT * FROM site_schedules WHERE site = ? ORDER BY version DESC LIMIT 1", (site,))
        else:
            row = self.db.row("SELECT * FROM site_schedules WHERE site = ? AND version = ?", (site, version))
        if row is None:
            return None
        row["payload"] = json.loads(row["payload"])
        return row

    def has_source(self, site: str, source: str) -> int | None:
        """The version of a site's schedule that came from `source` (a flow run's id), if any."""
        row = self.db.row("SELECT version FROM site_schedules WHERE site = ? AND source = ? LIMIT 1", (site, source))
        return int(row["version"]) if row else None

    # ----------------------------------------------------------------------------------- events
    def add_events(self, site: str, events: list[tuple[float, str | None, str, str]]) -> None:
        """Append (time, asset, kind, text) events of a site in one transaction."""
        if events:
            with self.db.transaction() as tx:
                tx.executemany("INSERT INTO events (site, t, asset, kind, text) VALUES (?, ?, ?, ?, ?)",
                               [(site, int(t * 1e6), a, k, text) for t, a, k, text in events])

    def events(self, site: str, start: datetime | str, end: datetime | str, limit: int = 1000) -> list[dict]:
        rows = self.db.rows("SELECT t, asset, kind, text FROM events WHERE site = ? AND t >= ? AND t < ? "
                            "ORDER BY t, seq LIMIT ?", (site, micros(start, "start"), micros(end, "end"), limit))
        return [{"time": utc_iso(r["t"] / 1e6, micro=True), "asset": r["asset"], "kind": r["kind"], "text": r["text"]}
                for r in rows]

    # -------------------------------------------------------------------------------- telemetry
    def define_telemetry(self, site: str, assets: list[str]) -> None:
        for asset in assets:
            for quantity, unit in TELEMETRY.items():
                if self.store.points.point(telemetry_id(site, asset, quantity)) is None:
                    self.store.points.define(DataPoint(telemetry_id(site, asset, quantity), unit=unit,
                                                       metadata={"site": site, "asset": asset, "quantity": quantity}))

    def write_telemetry(self, site: str, rows: list[tuple[float, str, dict[str, float | None]]]) -> int:
        """One batch of (time, asset, {quantity: value}); values that are None are left out."""
        columns: dict[str, tuple[list, list]] = {}
        for t, asset, values in rows:
            for quantity, v in values.items():
                if v is not None and np.isfinite(v):
                    ts, vs = columns.setdefault(telemetry_id(site, asset, quantity), ([], []))
                    ts.append(int(t * 1e6))
                    vs.append(float(v))
        batch = {pid: pl.DataFrame({"timestamp": pl.Series(ts, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
                                    "value": vs}).unique("timestamp", keep="last", maintain_order=True)
                 for pid, (ts, vs) in columns.items()}
        return self.store.points.write_many(batch) if batch else 0

    def telemetry(self, site: str, start, end, asset: str | None = None) -> pl.DataFrame:
        prefix = f"site/{site}/asset/{asset}" if asset else f"site/{site}/asset"
        return self.store.points.read_prefix(prefix, start, end)
