"""API keys (hashed, with roles) and the audit log in the embedded store."""
import sqlite3
import subprocess
import sys

import pytest

from bess_ray.errors import ConfigError
from bess_ray.store.keys import ROLES, KeyStore, allows

from tests.conftest import ROOT


def test_a_key_verifies_with_its_role_and_only_its_hash_is_stored(tmp_path):
    store = KeyStore(tmp_path)
    key, record = store.create("analyst", "pricing desk")
    assert key.startswith(f"bessray_{record['id']}_") and len(key) > 50
    assert store.verify(key) == {"id": record["id"], "name": "pricing desk", "role": "analyst",
                                 "created_utc": record["created_utc"]}
    secret = key.split("_", 2)[2]
    with sqlite3.connect(tmp_path / "bess_ray.sqlite") as db:
        dump = "\n".join(db.iterdump())
    assert secret not in dump and key not in dump


@pytest.mark.parametrize("bad", ["", "nonsense", "bessray_", "bessray_deadbeef_x", "Bearer bessray_a_b"])
def test_malformed_or_unknown_keys_do_not_verify(tmp_path, bad):
    store = KeyStore(tmp_path)
    store.create("admin")
    assert store.verify(bad) is None


def test_a_wrong_secret_or_a_revoked_key_does_not_verify(tmp_path):
    store = KeyStore(tmp_path)
    key, record = store.create("operator")
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.revoke(record["id"]) and not store.revoke(record["id"])
    assert store.verify(key) is None
    assert store.list()[0]["revoked_utc"] is not None


def test_roles_are_ordered_and_checked():
    assert [allows(r, "analyst") for r in ROLES] == [False, True, True, True]
    assert allows("viewer", "viewer") and not allows("operator", "admin")
    with pytest.raises(ConfigError, match="role: 'root' is not one of viewer, analyst, operator, admin"):
        KeyStore().create("root")


def test_the_audit_log_appends_who_what_when(tmp_path):
    store = KeyStore(tmp_path)
    store.audit("k1", "analyst", "POST", "/v1/scenarios", 201, "req-1")
    store.audit(None, None, "DELETE", "/v1/scenarios/x", 401, "req-2")
    newest, first = store.audit_log()
    assert (first["key_id"], first["action"], first["target"], first["status"], first["request_id"]) == \
        ("k1", "POST", "/v1/scenarios", 201, "req-1")
    assert newest["key_id"] is None and newest["status"] == 401 and newest["at_utc"] >= first["at_utc"]


def test_cli_create_list_revoke(tmp_path, isolated_store):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "bess_ray.cli", "keys", *args], capture_output=True, text=True,
                              cwd=ROOT, env={**__import__("os").environ, "BESS_RAY_HOME": str(isolated_store)})

    made = run("create", "--role", "viewer", "--name", "dashboard")
    assert made.returncode == 0 and "shown only now" in made.stderr
    key = made.stdout.strip()
    key_id = key.split("_")[1]
    listed = run("list")
    assert key_id in listed.stdout and "viewer" in listed.stdout and "active" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    assert KeyStore(isolated_store).verify(key)["role"] == "viewer"
    assert run("revoke", key_id).returncode == 0
    again = run("revoke", key_id)
    assert again.returncode == 2 and f"no active key '{key_id}'" in again.stderr
    assert run("create", "--role", "root").returncode == 2
