"""Schema migrations: from an empty database, from the previous release's store, concurrently,
and a failed one leaves the store as it was."""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import datetime, timezone

import polars as pl
import pytest

from bess_ray import artifacts
from bess_ray.data import read_series
from bess_ray.store import DataPoint, open_store
from bess_ray.store.database import open_database
from bess_ray.store.jobs import JobStore
from bess_ray.store.keys import KeyStore, _digest
from bess_ray.store.migrations import LATEST, V1_UNVERSIONED, TYPES, history, migrate, version
from bess_ray.store.scenarios import ScenarioStore


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'bess_ray.sqlite'}"


def test_an_empty_database_is_migrated_once_to_the_latest_version(url):
    db = open_database(url)
    assert version(db) == 0
    assert migrate(db) == list(range(1, LATEST + 1))
    assert migrate(db) == []
    assert [m["version"] for m in history(db)] == list(range(1, LATEST + 1))
    db.close()


def test_several_processes_starting_at_once_migrate_once(url):
    results, errors = [], []

    def start():
        try:
            results.append(migrate(open_database(url)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(len(r) for r in results) == [0, 0, 0, LATEST]


def test_connections_opening_a_new_sqlite_file_together_all_get_in(tmp_path):
    """SQLite refuses the switch to write-ahead logging at once, busy timeout or not, when several
    connections switch a new file together (about one start in ten here): each must wait its turn."""
    errors = []

    def start(url):
        try:
            with open_database(url).transaction() as tx:
                tx.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER)")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    for n in range(100):
        url = f"sqlite:///{tmp_path / f'{n}.sqlite'}"
        threads = [threading.Thread(target=start, args=(url,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_the_store_of_the_previous_release_is_taken_over_with_everything_in_it(tmp_path):
    """The previous release wrote these tables without a version, and scenario data as Parquet files
    beside the database."""
    root = tmp_path / "home"
    (root / "scenarios").mkdir(parents=True)
    old = sqlite3.connect(root / "bess_ray.sqlite")
    for statement in V1_UNVERSIONED:
        old.execute(statement.format(**TYPES["sqlite"]))
    series = read_series("sample:DE_LU_2023")
    frame = series.frame.select("timestamp", "end", *series.columns)
    digest = hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()
    artifacts.write(root / "scenarios" / f"de23-{digest[:12]}.parquet", frame)
    key = "bessray_00c0ffee_secret"
    with old:
        old.execute("INSERT INTO scenarios VALUES ('de23', '{\"da\": \"EUR/MWh\"}', 60, '2022-12-31T23:00:00Z', "
                    "'2023-12-31T23:00:00Z', 8760, 'DE-LU', 'sample:DE_LU_2023', '', ?, ?, '2026-11-30T00:00:00Z')",
                    (digest, f"de23-{digest[:12]}.parquet"))
        old.execute("INSERT INTO api_keys (id, name, role, sha256, created_utc) VALUES ('00c0ffee', 'old', 'admin', ?, "
                    "'2026-11-30T00:00:00Z')", (_digest(key),))
        old.execute("INSERT INTO audit_log (at_utc, key_id, role, action, target, status, request_id) VALUES "
                    "('2026-11-30T00:00:01Z', '00c0ffee', 'admin', 'POST', '/v1/scenarios', 201, 'r0')")
        old.execute("INSERT INTO jobs (id, kind, status, created_utc) VALUES ('ba_1', 'backtest', 'done', "
                    "'2026-11-30T00:00:02Z')")
    old.close()

    store = open_store(f"sqlite:///{root / 'bess_ray.sqlite'}")
    assert version(store.db) == LATEST
    assert ScenarioStore(store).load("de23").frame.equals(series.frame)
    assert KeyStore(store).verify(key)["role"] == "admin"
    assert KeyStore(store).audit_log()[0]["request_id"] == "r0"
    assert JobStore(store).get("ba_1")["status"] == "done"
    assert list((root / "scenarios").glob("*.parquet")) == []  # the data now lives in the store
    store.points.define(DataPoint("site/x/soc", unit="frac"))


def test_the_previous_version_on_postgresql_moves_on_with_its_records(postgres_url):
    db = open_database(postgres_url)
    assert migrate(db, target=LATEST - 1) == list(range(1, LATEST))
    key = "bessray_00c0ffee_secret"
    db.execute("INSERT INTO api_keys (id, name, role, sha256, created_utc) VALUES ('00c0ffee', '', 'viewer', ?, 'x')",
               (_digest(key),))
    with pytest.raises(Exception, match="flow_runs"):  # the latest migration's table
        db.rows("SELECT * FROM flow_runs")
    assert migrate(db) == [LATEST]
    store = open_store(postgres_url)
    assert KeyStore(store).verify(key)["role"] == "viewer"
    store.points.define(DataPoint("site/x/soc", unit="frac"))
    store.points.write("site/x/soc", pl.DataFrame({"timestamp": [datetime(2024, 1, 1, tzinfo=timezone.utc)],
                                                    "value": [0.5]}))
    db.close()


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path):
    root = tmp_path / "home"
    root.mkdir()
    old = sqlite3.connect(root / "bess_ray.sqlite")
    for statement in V1_UNVERSIONED:
        old.execute(statement.format(**TYPES["sqlite"]))
    with old:  # a scenario row whose data file was lost
        old.execute("INSERT INTO scenarios VALUES ('lost', '{}', 60, 'a', 'b', 1, NULL, 's', '', 'abc', 'lost.parquet', 'c')")
    old.close()
    db = open_database(f"sqlite:///{root / 'bess_ray.sqlite'}")
    with pytest.raises(RuntimeError, match="scenario data file .*lost.parquet is missing"):
        migrate(db)
    assert version(db) == 0
    assert db.row("SELECT file FROM scenarios")["file"] == "lost.parquet"  # not half moved
    db.close()
