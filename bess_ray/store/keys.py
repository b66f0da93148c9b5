"""API keys and the audit log, in the embedded SQLite store (for the HTTP API).

A key is `bessray_<id>_<secret>`: 32 random bytes of secret, shown once at creation. Only its
SHA-256 is stored (a fast hash is enough for a random 256-bit secret; a slow password hash guards
guessable passwords, which keys are not). Roles are ordered: viewer < analyst < operator < admin;
a role may do what the roles below it may.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from pathlib import Path

from ..errors import ConfigError
from ..timegrid import utc_iso
from . import connect, home

ROLES = ("viewer", "analyst", "operator", "admin")
PREFIX = "bessray"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_utc TEXT NOT NULL,
        revoked_utc TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_utc TEXT NOT NULL,
        key_id TEXT,
        role TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        status INTEGER NOT NULL,
        request_id TEXT NOT NULL
    )""",
)


def allows(role: str, needed: str) -> bool:
    """Does `role` hold at least the rights of `needed`?"""
    return ROLES.index(role) >= ROLES.index(needed)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify API keys; append to and read the audit log."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else home()
        self.root.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            for statement in SCHEMA:
                db.execute(statement)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, kept open: the API verifies a key and audits on every request."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.root)
        return db

    def create(self, role: str, name: str = "") -> tuple[str, dict]:
        """A new key: (the key itself, shown only now; its record)."""
        if role not in ROLES:
            raise ConfigError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = {"id": key_id, "name": name, "role": role, "created_utc": utc_iso(micro=True), "revoked_utc": None}
        with self._db() as db:
            db.execute("INSERT INTO api_keys (id, name, role, sha256, created_utc) VALUES (?, ?, ?, ?, ?)",
                       (key_id, name, role, _digest(key), record["created_utc"]))
        return key, record

    def list(self) -> list[dict]:
        with self._db() as db:
            rows = db.execute("SELECT id, name, role, created_utc, revoked_utc FROM api_keys ORDER BY created_utc")
            return [dict(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with self._db() as db:
            cur = db.execute("UPDATE api_keys SET revoked_utc = ? WHERE id = ? AND revoked_utc IS NULL",
                             (utc_iso(micro=True), key_id))
            return cur.rowcount == 1

    def verify(self, key: str) -> dict | None:
        """The record of an active key, or None (unknown, malformed, wrong secret or revoked)."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        with self._db() as db:
            row = db.execute("SELECT id, name, role, sha256, created_utc, revoked_utc FROM api_keys WHERE id = ?",
                             (parts[1],)).fetchone()
        if row is None or row["revoked_utc"] is not None or not hmac.compare_digest(row["sha256"], _digest(key)):
            return None
        return {k: row[k] for k in ("id", "name", "role", "created_utc")}

    def audit(self, key_id: str | None, role: str | None, action: str, target: str, status: int,
              request_id: str) -> None:
        """Append one entry: who (key and role), what (action on target, the answer's status), when."""
        with self._db() as db:
            db.execute("INSERT INTO audit_log (at_utc, key_id, role, action, target, status, request_id) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (utc_iso(micro=True), key_id, role, action, target, status, request_id))

    def audit_log(self, limit: int = 100) -> list[dict]:
        """The newest entries first."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,))
            return [dict(r) for r in rows]
