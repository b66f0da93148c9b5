"""Repositories. The embedded default is SQLite plus files under BESS_RAY_HOME (~/.bess_ray)."""
import os
import sqlite3
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
