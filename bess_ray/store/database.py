"""One SQL database behind one small interface: SQLite (embedded) or PostgreSQL (shared).

Callers write SQL once with `?` placeholders; rows come back as dicts. A `transaction()` either
commits whole or rolls back whole. SQLite keeps one connection per thread (WAL: readers beside a
writer); PostgreSQL draws connections from a psycopg pool, so threads and Serve replicas share a
few. Bulk inserts of samples use `executemany` on SQLite and COPY on PostgreSQL.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import polars as pl

from ..errors import ConfigError


class StoreError(ConfigError):
    """The store cannot be reached or used; the message names its URL and the reason."""


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and `store info`."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


class Database:
    """Base of the two backends; `open_database(url)` picks one."""

    dialect = ""
    url = ""

    def rows(self, sql: str, params: tuple = ()) -> list[dict]:
        """Run one statement on its own (autocommit) and return its rows."""
        with self.transaction() as tx:
            return tx.rows(sql, params)

    def row(self, sql: str, params: tuple = ()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def execute(self, sql: str, params: tuple = ()) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def frame(self, sql: str, params: tuple, schema: dict) -> pl.DataFrame:
        """A query's rows as a polars frame of `schema` (the fast path for many rows)."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Transaction:
    """What a caller may do inside `Database.transaction()`."""

    def rows(self, sql: str, params: tuple = ()) -> list[dict]:
        raise NotImplementedError

    def execute(self, sql: str, params: tuple = ()) -> int:
        raise NotImplementedError

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        raise NotImplementedError

    def upsert(self, table: str, frame: pl.DataFrame, key: tuple[str, ...], fresh: bool = False) -> None:
        """Insert the frame's rows (columns named as the table's), replacing rows of the same `key`,
        as fast as the backend can. With `fresh`, the caller expects no row to exist yet: a backend
        may then take a faster path that raises Conflict if one does (the transaction is lost, and
        the caller retries without `fresh`)."""
        raise NotImplementedError


class Conflict(Exception):
    """A `fresh` insert met an existing row; retry the transaction without `fresh`."""


def _upsert_sql(table: str, columns: list[str], key: tuple[str, ...]) -> str:
    rest = [c for c in columns if c not in key]
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rest)}")


# ---------------------------------------------------------------------------------------- SQLite
class _SqliteTx(Transaction):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def rows(self, sql, params=()):
        return [dict(r) for r in self.db.execute(sql, params)]

    def execute(self, sql, params=()):
        return self.db.execute(sql, params).rowcount

    def executemany(self, sql, rows):
        self.db.executemany(sql, rows)

    def upsert(self, table, frame, key, fresh=False):
        # an upsert is as fast as a plain insert here: no fast path needed
        self.db.executemany(_upsert_sql(table, frame.columns, key), frame.iter_rows())


def _set_wal(db: sqlite3.Connection, url: str, patience_s: float = 30.0) -> None:
    """Switch to write-ahead logging. SQLite answers "database is locked" at once, without its busy
    timeout, when several connections switch a new file together: wait and try again."""
    deadline = time.monotonic() + patience_s
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise StoreError(f"store {url}: cannot switch to write-ahead logging: {e}") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


class SqliteDatabase(Database):
    """The embedded store: one file, write-ahead logging, one connection per thread."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"store {self.url}: cannot create its folder: {e}") from None
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as e:
                raise StoreError(f"store {self.url}: cannot open: {e}") from None
            db.row_factory = sqlite3.Row
            # WAL lets readers run beside a writer; commits need no fsync of their own
            _set_wal(db, self.url)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self):
        db = self._connection()
        # IMMEDIATE takes the write lock at once: two writers queue on the busy timeout instead of
        # one failing when it upgrades a read lock
        db.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTx(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def rows(self, sql, params=()):
        return [dict(r) for r in self._connection().execute(sql, params)]

    def frame(self, sql, params, schema):
        cur = self._connection().cursor()
        cur.row_factory = None  # plain tuples: many rows, no dict per row
        return pl.DataFrame(cur.execute(sql, params).fetchall(), schema=schema, orient="row")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# ------------------------------------------------------------------------------------ PostgreSQL
def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresTx(Transaction):
    def __init__(self, conn) -> None:
        self.conn = conn

    def rows(self, sql, params=()):
        cur = self.conn.execute(_pg(sql), params)
        return cur.fetchall() if cur.description else []

    def execute(self, sql, params=()):
        return self.conn.execute(_pg(sql), params).rowcount

    def executemany(self, sql, rows):
        with self.conn.cursor() as cur:
            cur.executemany(_pg(sql), rows)

    def upsert(self, table, frame, key, fresh=False):
        import psycopg

        csv = frame.write_csv(include_header=False).encode()  # shortest round-trip floats: exact
        columns = ", ".join(frame.columns)
        if fresh:  # new rows, the common case of telemetry: a straight COPY
            try:
                with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT CSV)") as cp:
                    cp.write(csv)
            except psycopg.errors.UniqueViolation:
                raise Conflict(table) from None
            return
        rest = [c for c in frame.columns if c not in key]
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS upsert_{table} (LIKE {table}) ON COMMIT DELETE ROWS")
            with cur.copy(f"COPY upsert_{table} ({columns}) FROM STDIN (FORMAT CSV)") as cp:
                cp.write(csv)
            cur.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM upsert_{table} "
                        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
                        + ", ".join(f"{c} = excluded.{c}" for c in rest))
            cur.execute(f"DELETE FROM upsert_{table}")


class PostgresDatabase(Database):
    """A shared PostgreSQL database through a psycopg 3 connection pool."""

    dialect = "postgresql"

    def __init__(self, url: str, max_connections: int = 8, timeout_s: float = 10.0) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise StoreError(f"store {redact(url)}: PostgreSQL needs psycopg and its pool: "
                             "pip install 'bess-ray[ops]'") from None

        self.url = url
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as e:
            raise StoreError(f"store {redact(url)}: malformed URL: {e}") from None
        try:  # one plain connection first: a wrong host, port or database is named at once
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as e:
            raise StoreError(f"store {redact(url)}: cannot connect: {str(e).strip()}") from None
        self.pool = ConnectionPool(url, min_size=1, max_size=max_connections, timeout=timeout_s, open=False,
                                   kwargs={"row_factory": dict_row, "autocommit": True, "connect_timeout": 5},
                                   name="bess-ray")
        self.pool.open(wait=True, timeout=timeout_s)

    @contextmanager
    def transaction(self):
        with self.pool.connection() as conn, conn.transaction():
            yield _PostgresTx(conn)

    def rows(self, sql, params=()):
        with self.pool.connection() as conn:
            cur = conn.execute(_pg(sql), params)
            return cur.fetchall() if cur.description else []

    def frame(self, sql, params, schema):
        data = self.copy_out(sql, params)
        if not data:
            return pl.DataFrame(schema=schema)
        return pl.read_csv(data, has_header=False, new_columns=list(schema), schema_overrides=schema)

    def copy_out(self, sql: str, params: tuple = ()) -> bytes:
        """A query's rows as CSV text (no header), the fastest way to read many rows."""
        with self.pool.connection() as conn, conn.cursor() as cur:
            buf = bytearray()
            # psycopg binds COPY's parameters on the client (the server takes none in COPY)
            with cur.copy(f"COPY ({_pg(sql)}) TO STDOUT (FORMAT CSV)", params) as cp:
                for chunk in cp:
                    buf += chunk
            return bytes(buf)

    def close(self) -> None:
        self.pool.close()


# ---------------------------------------------------------------------------------------- opening
def parse(url: str, env: str = "BESS_RAY_STORE") -> tuple[str, str]:
    """(dialect, location) of a store URL, or a ConfigError naming `env` and what is accepted."""
    accepted = "use sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"{env}: {url!r} is not a URL; {accepted}")
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"{env}: {url!r} needs an absolute file path after sqlite:// (sqlite:///home/me/x.sqlite)")
        return "sqlite", rest
    if scheme in ("postgresql", "postgres"):
        if not urlsplit(url).hostname and "host=" not in url:
            raise ConfigError(f"{env}: {redact(url)!r} names no host; {accepted}")
        return "postgresql", url
    raise ConfigError(f"{env}: unknown scheme {scheme!r} in {redact(url)!r}; {accepted}")


def open_database(url: str) -> Database:
    dialect, location = parse(url)
    if dialect == "sqlite":
        return SqliteDatabase(Path(location))
    return PostgresDatabase(location)
