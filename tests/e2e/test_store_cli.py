"""`bess-ray store migrate | info | export` in a subprocess, and DuckDB over the exported history."""
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from bess_ray.store import DataPoint, open_store
from bess_ray.store.analytics import daily
from bess_ray.store.migrations import LATEST

from tests.e2e.test_cli import cli


def test_migrate_info_and_export_a_day_to_duckdb(tmp_path):
    home = tmp_path / "home"
    p = cli("store", "migrate", env_home=home)
    assert p.returncode == 0 and f"schema version 0 -> {LATEST}" in p.stdout, p.stdout + p.stderr
    assert "nothing to do" in cli("store", "migrate", env_home=home).stdout

    repo = open_store(f"sqlite:///{home.resolve() / 'bess_ray.sqlite'}").points
    t0 = datetime(2024, 3, 30, 23, tzinfo=timezone.utc)  # Berlin's local midnight of the DST day
    stamps = pl.datetime_range(t0, t0 + timedelta(hours=47), "1s", eager=True, time_zone="UTC", closed="left")
    for asset, level in (("bess1", 0.25), ("bess2", 0.75)):
        repo.define(DataPoint(f"site/de1/asset/{asset}/soc", unit="frac", metadata={"asset": asset}))
        repo.write(f"site/de1/asset/{asset}/soc", pl.DataFrame({"timestamp": stamps, "value": np.full(len(stamps), level)}))

    info = json.loads(cli("store", "info", "--json", env_home=home).stdout)
    assert info["backend"] == "sqlite" and info["schema_version"] == LATEST and info["rows"]["samples"] == 2 * len(stamps)

    out = tmp_path / "de1.parquet"
    p = cli("store", "export", "site/de1", "--from", "2024-03-30T23:00:00Z", "--to", "2024-04-01T22:00:00Z",
            "--where", "asset=bess2", "--out", out, env_home=home)
    assert p.returncode == 0, p.stderr
    assert f"exported {len(stamps):,} values" in p.stdout
    days = daily(out, tz="Europe/Berlin")
    assert days.select("day", "count").rows() == [(datetime(2024, 3, 31).date(), 23 * 3600),
                                                  (datetime(2024, 4, 1).date(), 24 * 3600)]
    assert days["mean"].to_list() == [0.75, 0.75]


def test_a_wrong_store_url_is_an_error_naming_it(tmp_path):
    import os

    env = {**os.environ, "BESS_RAY_STORE": "mysql://x"}
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "bess_ray.cli", "store", "info"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "error: BESS_RAY_STORE: unknown scheme 'mysql'" in p.stderr
