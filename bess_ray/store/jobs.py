"""The job table of the HTTP API: one row per backtest, simulation or sweep submitted, with its
status, progress and summary, in the store (every replica lists the same jobs); each job's files
live in `jobs/{id}/` under BESS_RAY_HOME of the node that ran it (shared storage on a cluster).

Status moves queued -> running -> done | failed | cancelled. A job that was queued or running when
the API stopped is marked failed with that reason when the API starts again (`interrupted`).
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path

from ..timegrid import utc_iso
from . import Store, home, resolve

KINDS = ("backtest", "simulation", "sweep")
FINISHED = ("done", "failed", "cancelled")


class JobStore:
    """Create, update, read and list jobs."""

    def __init__(self, store: Store | str | Path | None = None, root: str | Path | None = None,
                 runner: str = "api") -> None:
        """`store` as for KeyStore; `root` holds the jobs' files (default: a folder given as `store`,
        else BESS_RAY_HOME)."""
        self.db = resolve(store).db
        folder = store if isinstance(store, (str, Path)) and "://" not in str(store) else None
        self.root = Path(root or folder or home())
        self.runner = runner  # the API application that runs the jobs it creates

    def folder(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def create(self, kind: str, name: str, owner: str | None, request_id: str | None, total: int,
               unit: str) -> dict:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        job_id = f"{kind[:2]}_{secrets.token_hex(8)}"
        self.folder(job_id).mkdir(parents=True)
        self.db.execute("INSERT INTO jobs (id, kind, name, status, owner, request_id, created_utc, total, unit, runner) "
                        "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                        (job_id, kind, name, owner, request_id, utc_iso(micro=True), total, unit, self.runner))
        return self.get(job_id)

    def update(self, job_id: str, *, status: str | None = None, done: int | None = None,
               total: int | None = None, error: str | None = None, summary: dict | None = None) -> None:
        fields: dict = {"done": done, "total": total, "error": error,
                        "summary": json.dumps(summary) if summary is not None else None}
        if status is not None:
            fields["status"] = status
            if status == "running":
                fields["started_utc"] = utc_iso()
            elif status in FINISHED:
                fields["finished_utc"] = utc_iso()
        fields = {k: v for k, v in fields.items() if v is not None}
        self.db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                        (*fields.values(), job_id))

    def get(self, job_id: str, kind: str | None = None) -> dict | None:
        """The job's record (summary decoded), or None if there is no such job (of that kind)."""
        row = self.db.row("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None or (kind is not None and row["kind"] != kind):
            return None
        job = row
        job["summary"] = json.loads(job["summary"]) if job["summary"] else None
        return job

    def list(self, kind: str | None = None, limit: int = 100) -> list[dict]:
        """The newest jobs first, without their summaries."""
        where, args = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self.db.rows(f"SELECT * FROM jobs {where} ORDER BY created_utc DESC, id DESC LIMIT ?", (*args, limit))
        return [{k: v for k, v in r.items() if k != "summary"} for r in rows]

    def interrupted(self) -> int:
        """Mark the jobs left queued or running by an earlier life of this runner as failed (another
        API application sharing the store keeps its own)."""
        return self.db.execute("UPDATE jobs SET status = 'failed', finished_utc = ?, error = ? "
                               "WHERE status IN ('queued', 'running') AND (runner = ? OR runner IS NULL)",
                               (utc_iso(), "interrupted: the API stopped while this job ran; submit it again",
                                self.runner))
