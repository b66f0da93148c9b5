"""Repositories. The embedded default is SQLite plus files under BESS_RAY_HOME (~/.bess_ray)."""
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path


def home() -> Path:
    """Root folder of the embedded store: $BESS_RAY_HOME, else ~/.bess_ray."""
    return Path(os.environ.get("BESS_RAY_HOME", Path.home() / ".bess_ray"))


def connect(root: Path) -> sqlite3.Connection:
    """The embedded database under `root`. Write-ahead logging lets readers run beside a writer, and
    commits need no fsync of their own (the audit log is written on every API write)."""
    db = sqlite3.connect(root / "bess_ray.sqlite", timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def utc_iso(timestamp: float | None = None, micro: bool = False) -> str:
    """An instant (default: now) as ISO-8601 UTC, '2026-01-31T12:00:00Z'; `micro` keeps microseconds
    (audit entries and keys created within one second stay in order)."""
    t = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp is not None else datetime.now(timezone.utc)
    return t.isoformat(timespec="microseconds" if micro else "seconds").replace("+00:00", "Z")
