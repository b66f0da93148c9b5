"""The job table of the HTTP API: one row per backtest, simulation or sweep submitted, with its
status, progress and summary; each job's files live in `jobs/{id}/` under the store's root.

Status moves queued -> running -> done | failed | cancelled. A job that was queued or running when
the API stopped is marked failed with that reason when the API starts again (`interrupted`).
"""
from __future__ import annotations

import json
import secrets
from contextlib import closing
from pathlib import Path

from ..timegrid import utc_iso
from . import connect, home

KINDS = ("backtest", "simulation", "sweep")
FINISHED = ("done", "failed", "cancelled")
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    owner TEXT,                     -- the API key's id
    request_id TEXT,
    created_utc TEXT NOT NULL,
    started_utc TEXT,
    finished_utc TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    unit TEXT NOT NULL DEFAULT '',
    error TEXT,
    summary TEXT                    -- JSON, when done
)
"""


class JobStore:
    """Create, update, read and list jobs."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else home()
        self.root.mkdir(parents=True, exist_ok=True)
        with closing(connect(self.root)) as db, db:
            db.execute(SCHEMA)

    def folder(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def create(self, kind: str, name: str, owner: str | None, request_id: str | None, total: int,
               unit: str) -> dict:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        job_id = f"{kind[:2]}_{secrets.token_hex(8)}"
        self.folder(job_id).mkdir(parents=True)
        with closing(connect(self.root)) as db, db:
            db.execute("INSERT INTO jobs (id, kind, name, status, owner, request_id, created_utc, total, unit) "
                       "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                       (job_id, kind, name, owner, request_id, utc_iso(), total, unit))
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
        with closing(connect(self.root)) as db, db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                       (*fields.values(), job_id))

    def get(self, job_id: str, kind: str | None = None) -> dict | None:
        """The job's record (summary decoded), or None if there is no such job (of that kind)."""
        with closing(connect(self.root)) as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (kind is not None and row["kind"] != kind):
            return None
        job = dict(row)
        job["summary"] = json.loads(job["summary"]) if job["summary"] else None
        return job

    def list(self, kind: str | None = None, limit: int = 100) -> list[dict]:
        """The newest jobs first, without their summaries."""
        where, args = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        with closing(connect(self.root)) as db:
            rows = db.execute(f"SELECT * FROM jobs {where} ORDER BY created_utc DESC, rowid DESC LIMIT ?",
                              (*args, limit)).fetchall()
        return [{k: v for k, v in dict(r).items() if k != "summary"} for r in rows]

    def interrupted(self) -> int:
        """Mark the jobs left queued or running by an earlier life of the API as failed."""
        with closing(connect(self.root)) as db, db:
            n = db.execute("UPDATE jobs SET status = 'failed', finished_utc = ?, error = ? "
                           "WHERE status IN ('queued', 'running')",
                           (utc_iso(), "interrupted: the API stopped while this job ran; submit it again")).rowcount
        return n
