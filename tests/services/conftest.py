"""Stores of every backend on the machine's real servers (postgres_url, redis_url: tests/conftest.py)."""
from __future__ import annotations

import pytest

from bess_ray.store import close_all, open_store

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
