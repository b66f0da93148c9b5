"""The run records of the flows: one row per (flow, site, delivery period), and the lease that lets
one orchestrator at a time work on a flows file.

A run's status moves `pending -> running -> succeeded -> done` (its outputs handed to the site,
where it hands anything), or `-> retry -> running ...` after a failed attempt, and ends `failed`
when its attempts are spent or `skipped` by the missed-trigger rule. Outputs are written with the
status that says they exist, in one statement: a record never claims outputs it does not hold.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ..timegrid import utc_iso
from . import Store, resolve

STATUSES = ("pending", "running", "retry", "succeeded", "done", "failed", "skipped")
FINISHED = ("done", "failed", "skipped")
COLUMNS = ("run_id", "flow", "version", "site", "delivery", "period", "trigger_utc", "status", "attempts",
           "next_try_utc", "inputs_hash", "inputs", "outputs", "error", "handed", "started_utc", "finished_utc",
           "owner")


def run_id(flow: str, site: str, period: str) -> str:
    """The key of a run: a flow runs once per site and delivery period."""
    return f"{flow}/{site}/{period}"


class FlowRuns:
    def __init__(self, store: Store | str | Path | None = None) -> None:
        self.db = resolve(store).db

    def add(self, rid: str, flow: str, version: str, site: str, delivery: str, period: str, trigger: str) -> bool:
        """Record a run as pending unless it exists (then it keeps its state): True if it is new."""
        with self.db.transaction() as tx:
            if tx.rows("SELECT 1 AS x FROM flow_runs WHERE run_id = ?", (rid,)):
                return False
            tx.execute("INSERT INTO flow_runs (run_id, flow, version, site, delivery, period, trigger_utc, status) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')", (rid, flow, version, site, delivery, period, trigger))
        return True

    def get(self, rid: str) -> dict | None:
        row = self.db.row("SELECT * FROM flow_runs WHERE run_id = ?", (rid,))
        return _decoded(row) if row else None

    def start(self, rid: str, inputs: dict, inputs_hash: str, owner: str, take_running: bool = True) -> int | None:
        """Claim a run for one more attempt: its number, or None if it is not to be run (done,
        succeeded, or running under someone else while `take_running` is off). The claim is one
        conditional UPDATE, so two claimants never both win."""
        allowed = ("pending", "retry", "failed", "skipped") + (("running",) if take_running else ())
        marks = ", ".join("?" for _ in allowed)
        with self.db.transaction() as tx:
            row = tx.rows("SELECT attempts FROM flow_runs WHERE run_id = ?", (rid,))
            if not row:
                return None
            n = int(row[0]["attempts"]) + 1
            won = tx.execute(f"UPDATE flow_runs SET status = 'running', attempts = ?, inputs = ?, inputs_hash = ?, "
                             f"started_utc = ?, owner = ?, error = NULL WHERE run_id = ? AND status IN ({marks})",
                             (n, json.dumps(inputs, sort_keys=True), inputs_hash, utc_iso(micro=True), owner, rid,
                              *allowed))
        return n if won else None

    def succeeded(self, rid: str, outputs: dict, hands: bool) -> None:
        self.db.execute("UPDATE flow_runs SET status = ?, outputs = ?, finished_utc = ? WHERE run_id = ?",
                        ("succeeded" if hands else "done", json.dumps(outputs, sort_keys=True), utc_iso(micro=True),
                         rid))

    def handed(self, rid: str, receipt: dict) -> None:
        self.db.execute("UPDATE flow_runs SET status = 'done', handed = ? WHERE run_id = ?",
                        (json.dumps(receipt, sort_keys=True), rid))

    def failed(self, rid: str, error: str, next_try: str | None) -> None:
        """A failed attempt: `retry` at `next_try`, or `failed` for good (no next try)."""
        self.db.execute("UPDATE flow_runs SET status = ?, error = ?, next_try_utc = ?, finished_utc = ? "
                        "WHERE run_id = ?", ("retry" if next_try else "failed", error, next_try,
                                             utc_iso(micro=True), rid))

    def skipped(self, rid: str, reason: str) -> None:
        self.db.execute("UPDATE flow_runs SET status = 'skipped', error = ?, finished_utc = ? WHERE run_id = ?",
                        (reason, utc_iso(micro=True), rid))

    def list(self, site: str | None = None, flow: str | None = None, status: str | None = None,
             delivery_from: str | None = None, delivery_to: str | None = None, limit: int = 10_000) -> list[dict]:
        where, params = [], []
        for column, value in (("site", site), ("flow", flow), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if delivery_from:
            where.append("delivery >= ?")
            params.append(delivery_from)
        if delivery_to:
            where.append("delivery < ?")
            params.append(delivery_to)
        sql = "SELECT * FROM flow_runs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.rows(sql + " ORDER BY trigger_utc, run_id LIMIT ?", (*params, limit))
        return [_decoded(r) for r in rows]

    def outputs(self, site: str, delivery: str) -> dict[str, dict]:
        """The outputs of a site's succeeded runs for one delivery day, by flow (the newest period)."""
        rows = self.db.rows("SELECT flow, outputs FROM flow_runs WHERE site = ? AND delivery = ? "
                            "AND status IN ('succeeded', 'done') ORDER BY period", (site, delivery))
        return {r["flow"]: json.loads(r["outputs"]) for r in rows if r["outputs"]}

    # ---------------------------------------------------------------------------------- lease
    def lease(self, name: str, owner: str, ttl_s: float = 30.0) -> str | None:
        """Take or renew the lease on `name`; None if taken, else the owner who held it before (or '')
        A lease of a process on this host that is gone is taken at once (a SIGKILLed orchestrator)."""
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(804208)")
            held = tx.rows("SELECT owner, host, pid, expires FROM flow_leases WHERE name = ?", (name,))
            if held:
                h = held[0]
                alive = h["expires"] > now and not (h["host"] == host and not _alive(int(h["pid"])))
                if h["owner"] != owner and alive:
                    return None
                tx.execute("UPDATE flow_leases SET owner = ?, host = ?, pid = ?, expires = ? WHERE name = ?",
                           (owner, host, pid, now + ttl_s, name))
                return "" if h["owner"] == owner else h["owner"]
            tx.execute("INSERT INTO flow_leases (name, owner, host, pid, expires) VALUES (?, ?, ?, ?, ?)",
                       (name, owner, host, pid, now + ttl_s))
        return ""

    def release(self, name: str, owner: str) -> None:
        self.db.execute("DELETE FROM flow_leases WHERE name = ? AND owner = ?", (name, owner))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _decoded(row: dict) -> dict:
    out = dict(row)
    for key in ("inputs", "outputs", "handed"):
        if out.get(key):
            out[key] = json.loads(out[key])
    return out
