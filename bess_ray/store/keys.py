"""API keys and the audit log, in the store (for the HTTP API; every replica and node shares them).

A key is `bessray_<id>_<secret>`: 32 random bytes of secret, shown once at creation. Only its
SHA-256 is stored (a fast hash is enough for a random 256-bit secret; a slow password hash guards
guessable passwords, which keys are not). Roles are ordered: viewer < analyst < operator < admin;
a role may do what the roles below it may.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from ..errors import ConfigError
from ..timegrid import utc_iso
from . import Store, resolve

ROLES = ("viewer", "analyst", "operator", "admin")
PREFIX = "bessray"


def allows(role: str, needed: str) -> bool:
    """Does `role` hold at least the rights of `needed`?"""
    return ROLES.index(role) >= ROLES.index(needed)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify API keys; append to and read the audit log."""

    def __init__(self, store: Store | str | Path | None = None) -> None:
        """`store`: a Store, a store URL, a folder (its embedded store) or None (this process's)."""
        self.db = resolve(store).db

    def create(self, role: str, name: str = "") -> tuple[str, dict]:
        """A new key: (the key itself, shown only now; its record)."""
        if role not in ROLES:
            raise ConfigError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = {"id": key_id, "name": name, "role": role, "created_utc": utc_iso(micro=True), "revoked_utc": None}
        self.db.execute("INSERT INTO api_keys (id, name, role, sha256, created_utc) VALUES (?, ?, ?, ?, ?)",
                        (key_id, name, role, _digest(key), record["created_utc"]))
        return key, record

    def list(self) -> list[dict]:
        return self.db.rows("SELECT id, name, role, created_utc, revoked_utc FROM api_keys ORDER BY created_utc")

    def revoke(self, key_id: str) -> bool:
        return self.db.execute("UPDATE api_keys SET revoked_utc = ? WHERE id = ? AND revoked_utc IS NULL",
                               (utc_iso(micro=True), key_id)) == 1

    def verify(self, key: str) -> dict | None:
        """The record of an active key, or None (unknown, malformed, wrong secret or revoked)."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        row = self.db.row("SELECT id, name, role, sha256, created_utc, revoked_utc FROM api_keys WHERE id = ?",
                          (parts[1],))
        if row is None or row["revoked_utc"] is not None or not hmac.compare_digest(row["sha256"], _digest(key)):
            return None
        return {k: row[k] for k in ("id", "name", "role", "created_utc")}

    def audit(self, key_id: str | None, role: str | None, action: str, target: str, status: int,
              request_id: str) -> None:
        """Append one entry: who (key and role), what (action on target, the answer's status), when."""
        self.db.execute("INSERT INTO audit_log (at_utc, key_id, role, action, target, status, request_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", (utc_iso(micro=True), key_id, role, action, target, status, request_id))

    def audit_log(self, limit: int = 100) -> list[dict]:
        """The newest entries first."""
        return self.db.rows("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,))
