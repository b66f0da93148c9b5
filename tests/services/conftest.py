"""The machine's real PostgreSQL and Redis (localhost defaults; BESS_RAY_TEST_POSTGRES and
BESS_RAY_TEST_REDIS override). Without them a test is skipped, and under CI=true it fails."""
from __future__ import annotations

import os
import uuid

import pytest

from bess_ray.store import close_all, open_store

POSTGRES = os.environ.get("BESS_RAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BESS_RAY_TEST_REDIS", "redis://127.0.0.1:6379/15")


def need(service: str, reason: Exception) -> None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI=true and {service} is not reachable: {reason}")
    pytest.skip(f"{service} is not reachable: {reason}")


@pytest.fixture
def postgres_url():
    """A new, empty database on the real server for one test, dropped afterwards."""
    import psycopg

    name = f"bess_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.Error as e:
        need(f"PostgreSQL at {POSTGRES}", e)
    admin.execute(f"CREATE DATABASE {name}")
    yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    close_all()
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def redis_url():
    """The real Redis, its test database emptied before and after."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
        client.flushdb()
    except redis.RedisError as e:
        need(f"Redis at {REDIS}", e)
    yield REDIS
    client.flushdb()
    client.close()


BACKENDS = ("sqlite", "postgresql", "sqlite+redis", "postgresql+redis")


def _open(request, tmp_path, backend: str):
    db, _, cache = backend.partition("+")
    url = request.getfixturevalue("postgres_url") if db == "postgresql" else f"sqlite:///{tmp_path / 'store.sqlite'}"
    cache_url = request.getfixturevalue("redis_url") if cache else ""
    return open_store(url, cache_url)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """An empty, migrated store of each backend (the Redis cache in front where named)."""
    yield _open(request, tmp_path, request.param)
    close_all()


@pytest.fixture(params=[b for b in BACKENDS if "+redis" in b])
def cached_store(request, tmp_path):
    yield _open(request, tmp_path, request.param)
    close_all()
