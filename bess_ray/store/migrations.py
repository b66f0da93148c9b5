"""Versioned schema migrations, run when a store is opened.

Each migration is numbered and runs once, in order, in one transaction with the record of it in
`schema_migrations`; a store opened by several processes at once migrates once (PostgreSQL: an
advisory lock; SQLite: the write lock). Version 1 is the schema of the releases before migrations
existed, created with IF NOT EXISTS, so such a store is taken over as it is and then moved on.
"""
from __future__ import annotations

from typing import Callable

from ..timegrid import utc_iso
from .database import Database, SqliteDatabase, Transaction

TYPES = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB", "double": "REAL",
               "clustered": "WITHOUT ROWID"},
    "postgresql": {"serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "blob": "BYTEA",
                   "double": "DOUBLE PRECISION", "clustered": ""},
}

V1_UNVERSIONED = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', role TEXT NOT NULL, sha256 TEXT NOT NULL,
        created_utc TEXT NOT NULL, revoked_utc TEXT)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq {serial}, at_utc TEXT NOT NULL, key_id TEXT, role TEXT, action TEXT NOT NULL,
        target TEXT NOT NULL, status INTEGER NOT NULL, request_id TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
        owner TEXT, request_id TEXT, created_utc TEXT NOT NULL, started_utc TEXT, finished_utc TEXT,
        done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, unit TEXT NOT NULL DEFAULT '',
        error TEXT, summary TEXT)""",
    """CREATE TABLE IF NOT EXISTS scenarios (
        name TEXT PRIMARY KEY, columns TEXT NOT NULL, resolution_min INTEGER NOT NULL, start_utc TEXT NOT NULL,
        end_utc TEXT NOT NULL, rows INTEGER NOT NULL, zone TEXT, source TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL, file TEXT NOT NULL, created_utc TEXT NOT NULL)""",
)


def _scenario_data_in_the_store(db: Database, tx: Transaction) -> None:
    """v2: scenario data moves from Parquet files beside the SQLite file into the store itself, so
    that every node of a cluster reads the same scenarios from a shared database."""
    tx.execute("CREATE TABLE scenario_data (sha256 TEXT PRIMARY KEY, parquet {blob} NOT NULL)".format(**TYPES[db.dialect]))
    tx.execute("CREATE INDEX jobs_by_created ON jobs (created_utc)")
    tx.execute("ALTER TABLE jobs ADD COLUMN runner TEXT")  # which API runs it: another's restart leaves it be
    folder = db.path.parent / "scenarios" if isinstance(db, SqliteDatabase) else None
    for row in tx.rows("SELECT sha256, file FROM scenarios"):
        path = folder / row["file"] if folder else None
        if path is None or not path.is_file():
            raise RuntimeError(f"scenario data file {path} is missing; the store cannot be migrated")
        tx.execute("INSERT INTO scenario_data (sha256, parquet) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING",
                   (row["sha256"], path.read_bytes()))
    tx.execute("ALTER TABLE scenarios DROP COLUMN file")


def _unlink_scenario_files(db: Database) -> None:
    """After v2 committed: the files it copied are no longer read."""
    if isinstance(db, SqliteDatabase):
        for path in (db.path.parent / "scenarios").glob("*.parquet"):
            path.unlink(missing_ok=True)


V3_DATA_POINTS = (
    """CREATE TABLE points (
        key {serial}, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, unit TEXT NOT NULL,
        metadata TEXT NOT NULL, schema TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
        created_utc TEXT NOT NULL)""",
    # float series: the bulk of telemetry, clustered by (point, time) so that a window is one range scan
    """CREATE TABLE samples (point BIGINT NOT NULL, ts BIGINT NOT NULL, value {double} NOT NULL,
        PRIMARY KEY (point, ts)) {clustered}""",
    # vectors, matrices and static values, as JSON
    """CREATE TABLE documents (point BIGINT NOT NULL, ts BIGINT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (point, ts)) {clustered}""",
)

V4_OPERATIONS = (
    # what a site's control must find again after a restart: latched stops, modes, last commands
    """CREATE TABLE control_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_utc TEXT NOT NULL)""",
    """CREATE TABLE site_schedules (site TEXT NOT NULL, version INTEGER NOT NULL, created_utc TEXT NOT NULL,
        source TEXT NOT NULL, author TEXT, payload TEXT NOT NULL, PRIMARY KEY (site, version))""",
    """CREATE TABLE events (seq {serial}, site TEXT NOT NULL, t BIGINT NOT NULL, asset TEXT, kind TEXT NOT NULL,
        text TEXT NOT NULL)""",
    "CREATE INDEX events_by_site_time ON events (site, t)",
)

V5_FLOW_RUNS = (
    # one row per (flow, site, delivery period): what a killed orchestrator resumes from
    """CREATE TABLE flow_runs (run_id TEXT PRIMARY KEY, flow TEXT NOT NULL, version TEXT NOT NULL,
        site TEXT NOT NULL, delivery TEXT NOT NULL, period TEXT NOT NULL, trigger_utc TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_try_utc TEXT, inputs_hash TEXT,
        inputs TEXT, outputs TEXT, error TEXT, handed TEXT, started_utc TEXT, finished_utc TEXT,
        owner TEXT)""",
    "CREATE INDEX flow_runs_by_site ON flow_runs (site, delivery)",
    # one orchestrator per flows file at a time
    """CREATE TABLE flow_leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL,
        pid INTEGER NOT NULL, expires REAL NOT NULL)""",
)

Step = tuple[str, tuple[str, ...] | Callable[[Database, Transaction], None]]
MIGRATIONS: tuple[Step, ...] = (
    ("api keys, audit log, jobs, scenarios", V1_UNVERSIONED),
    ("scenario data in the store; jobs know their runner", _scenario_data_in_the_store),
    ("data points", V3_DATA_POINTS),
    ("operations: control state, site schedules, events", V4_OPERATIONS),
    ("flow runs and orchestrator leases", V5_FLOW_RUNS),
)
LATEST = len(MIGRATIONS)
AFTER = {2: _unlink_scenario_files}


def version(db: Database) -> int:
    """The schema version of a store (0: empty or unversioned)."""
    try:
        row = db.row("SELECT MAX(version) AS v FROM schema_migrations")
    except Exception:
        return 0
    return int(row["v"] or 0)


def migrate(db: Database, target: int = LATEST) -> list[int]:
    """Bring the store to `target`; the versions applied now (none if it was there)."""
    applied = []
    with db.transaction() as tx:
        if db.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(804207)")  # one migrator at a time across processes
        tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                   "applied_utc TEXT NOT NULL)")
        current = int(tx.rows("SELECT MAX(version) AS v FROM schema_migrations")[0]["v"] or 0)
        for number, (name, step) in enumerate(MIGRATIONS[current:target], start=current + 1):
            if callable(step):
                step(db, tx)
            else:
                for statement in step:
                    tx.execute(statement.format(**TYPES[db.dialect]))
            tx.execute("INSERT INTO schema_migrations (version, name, applied_utc) VALUES (?, ?, ?)",
                       (number, name, utc_iso(micro=True)))
            applied.append(number)
    for number in applied:
        if number in AFTER:
            AFTER[number](db)
    return applied


def history(db: Database) -> list[dict]:
    return db.rows("SELECT version, name, applied_utc FROM schema_migrations ORDER BY version")

