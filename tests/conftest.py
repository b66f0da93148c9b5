"""Shared fixtures. Unit tests need no Ray and no services; service tests use the machine's real
PostgreSQL and Redis (localhost defaults; BESS_RAY_TEST_POSTGRES and BESS_RAY_TEST_REDIS override):
without them a test is skipped, and under CI=true it fails."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch):
    """Every test gets its own embedded store, so nothing leaks into ~/.bess_ray."""
    monkeypatch.setenv("BESS_RAY_HOME", str(tmp_path / "bess_home"))
    return tmp_path / "bess_home"


def battery(**kw) -> dict:
    base = dict(type="battery", id="b1", charge_mw=1.0, discharge_mw=1.0, energy_mwh=2.0,
                charge_efficiency=1.0, discharge_efficiency=1.0, soc_min=0.0, soc_max=1.0,
                soc_initial=0.5, final_soc="free")
    base.update(kw)
    return base


def site_dict(*batteries, zone="DE-LU", products=("da",), poi=(100.0, 100.0), **markets) -> dict:
    return dict(schema_version=1, id="test_site", zone=zone,
                poi=dict(import_mw=poi[0], export_mw=poi[1]),
                assets=list(batteries) or [battery()], markets=dict(products=list(products), **markets))


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that needs it (2 CPUs, no dashboard; HTTP through HAProxy, as
    `bess-ray serve` runs it)."""
    import ray

    from bess_ray.cluster.runtime import haproxy_ingress

    haproxy_ingress()

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="bess-tests")
    yield ray
    ray.shutdown()


POSTGRES = os.environ.get("BESS_RAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BESS_RAY_TEST_REDIS", "redis://127.0.0.1:6379/15")


def need(service: str, reason: Exception) -> None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI=true and {service} is not reachable: {reason}")
    pytest.skip(f"{service} is not reachable: {reason}")


@contextmanager
def postgres_database():
    """A new, empty database on the real server, dropped afterwards: its URL."""
    import psycopg

    name = f"bess_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.Error as e:
        need(f"PostgreSQL at {POSTGRES}", e)
    admin.execute(f"CREATE DATABASE {name}")
    yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    from bess_ray.store import close_all

    close_all()
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def postgres_url():
    """A new, empty database for one test."""
    with postgres_database() as url:
        yield url


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


def browser_dom(url: str, profile: Path, budget_ms: int = 8000) -> str:
    """The page's DOM after its scripts ran in a real headless browser (Debian's chromium); a skip
    without one, a failure under CI=true."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI=true and no chromium (Debian's package: apt-get install chromium)")
        pytest.skip("no chromium")
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                           f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120).stdout
