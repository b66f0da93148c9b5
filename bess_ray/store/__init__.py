"""The store: data points and records (scenarios, API keys, the audit log, jobs) in one database.

The URL picks the backend, and nothing else changes between a laptop and a cluster:

- `BESS_RAY_STORE=sqlite:///PATH` -- the default, embedded: `$BESS_RAY_HOME/bess_ray.sqlite`
  (BESS_RAY_HOME defaults to ~/.bess_ray);
- `BESS_RAY_STORE=postgresql://USER@HOST/DB` -- shared by every node and Serve replica;
- `BESS_RAY_CACHE=redis://HOST:6379/0` -- optional: a pass-through cache of latest values and hot
  windows in front of either, and pub/sub of live values.

`open_store()` migrates the schema to the latest version on first use in a process and keeps one
database handle (and its pool) per URL for the process's life.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .database import Database, StoreError, open_database, redact
from .migrations import migrate
from .points import DataPoint
from .repository import Repository, SqlRepository


def home() -> Path:
    """Root folder of the embedded store and of job files: $BESS_RAY_HOME, else ~/.bess_ray."""
    return Path(os.environ.get("BESS_RAY_HOME", Path.home() / ".bess_ray"))


def store_url(home_dir: str | Path | None = None) -> str:
    """$BESS_RAY_STORE, else the embedded SQLite file under `home_dir` (default home())."""
    folder = Path(home_dir) if home_dir else home()
    return os.environ.get("BESS_RAY_STORE") or f"sqlite:///{folder.resolve() / 'bess_ray.sqlite'}"


@dataclass
class Store:
    """An opened store: `db` for records, `points` for data points (through the cache if one is set)."""

    db: Database
    points: Repository
    cache_url: str | None = None

    @property
    def url(self) -> str:
        return redact(self.db.url)


_OPEN: dict[tuple[str, str | None], Store] = {}
_LOCK = threading.Lock()


def open_store(url: str | None = None, cache: str | None = None) -> Store:
    """The store at `url` (default: store_url()) with the cache at `cache` (default $BESS_RAY_CACHE),
    migrated; one per URL per process."""
    url = url or store_url()
    cache = cache if cache is not None else os.environ.get("BESS_RAY_CACHE") or None
    with _LOCK:
        found = _OPEN.get((url, cache))
        if found is None:
            db = open_database(url)
            migrate(db)
            points: Repository = SqlRepository(db)
            if cache:
                from .cache import CachedRepository

                points = CachedRepository(points, cache)
            found = _OPEN[(url, cache)] = Store(db, points, cache)
    return found


def resolve(where: "Store | str | Path | None" = None) -> Store:
    """A store from what a caller holds: a Store, a URL, a folder (its embedded SQLite store) or
    None (this process's store: BESS_RAY_STORE, else the embedded one under BESS_RAY_HOME)."""
    if isinstance(where, Store):
        return where
    if where is None:
        return open_store()
    if "://" in str(where):
        return open_store(str(where))
    return open_store(f"sqlite:///{Path(where).resolve() / 'bess_ray.sqlite'}")


def use_store(home_dir: str | None = None, url: str | None = None) -> Store:
    """Make this process (and what it reads by default, such as `scenario:NAME`) use the store at
    `url` and the home folder `home_dir` where given; the store opened."""
    if home_dir:
        os.environ["BESS_RAY_HOME"] = str(home_dir)
    if url:
        os.environ["BESS_RAY_STORE"] = url
    return open_store()


def close_all() -> None:
    """Close every store this process opened (tests; a process's end closes them anyway)."""
    with _LOCK:
        for store in _OPEN.values():
            store.db.close()
        _OPEN.clear()


__all__ = ["DataPoint", "Repository", "Store", "StoreError", "close_all", "home", "open_store", "resolve", "store_url", "use_store"]
