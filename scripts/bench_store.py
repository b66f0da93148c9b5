"""Store speed on the machine's real servers: batch inserts of telemetry per backend against a bare
psycopg COPY script doing the same inserts, a window read of a day at 1 s, latest values through
Redis, and a DuckDB daily aggregate over a year of 1 s telemetry of one asset. Figures beside the
issue's targets.

    python scripts/bench_store.py [--postgres URL] [--redis URL] [--quick] [--write]

It makes (and drops) its own PostgreSQL database; Redis database 14 is emptied.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlog import recorded  # noqa: E402

from bess_ray.store import DataPoint, close_all, open_store  # noqa: E402
from bess_ray.store.analytics import daily, write_parquet  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
POINTS = [f"site/bench/asset/bess{a}/{q}" for a in range(1, 6) for q in ("power", "soc")]  # 5 assets x 2


def telemetry(seconds_per_batch: int, batches: int):
    """Batches as a site writes them: every point's values over the batch's seconds."""
    rng = np.random.default_rng(7)
    for b in range(batches):
        start = T0 + timedelta(seconds=b * seconds_per_batch)
        stamps = pl.datetime_range(start, start + timedelta(seconds=seconds_per_batch - 1), "1s", eager=True,
                                   time_zone="UTC")
        yield {p: pl.DataFrame({"timestamp": stamps, "value": rng.random(seconds_per_batch)}) for p in POINTS}


def insert_rate(store, seconds_per_batch: int, batches: int) -> float:
    repo = store.points
    for p in POINTS:
        repo.define(DataPoint(p, unit="MW" if p.endswith("power") else "frac"))
    data = list(telemetry(seconds_per_batch, batches))
    t0 = time.perf_counter()
    n = sum(repo.write_many(batch) for batch in data)
    return n / (time.perf_counter() - t0)


def bare_copy_rate(url: str, seconds_per_batch: int, batches: int) -> float:
    """The reference: psycopg COPY of the same rows into the same table, row by row as its docs show,
    one transaction per batch, nothing checked."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE bare (point BIGINT NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, "
                     "PRIMARY KEY (point, ts))")
        conn.commit()
        rows = []
        for batch in telemetry(seconds_per_batch, batches):
            rows.append([(k, int(ts), float(v)) for k, p in enumerate(POINTS)
                         for ts, v in zip(batch[p]["timestamp"].dt.epoch("us"), batch[p]["value"])])
        t0 = time.perf_counter()
        for batch in rows:
            with conn.cursor() as cur, cur.copy("COPY bare (point, ts, value) FROM STDIN") as cp:
                for row in batch:
                    cp.write_row(row)
            conn.commit()
        n = sum(len(b) for b in rows)
        return n / (time.perf_counter() - t0)


def window_ms(store, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        frame = store.points.read(POINTS[0], T0, T0 + timedelta(days=1))
        times.append(time.perf_counter() - t0)
    assert frame.height == 86_400, frame.height
    return 1e3 * statistics.median(times)


def latest_us(store, n: int) -> tuple[float, float]:
    repo = store.points
    repo.latest(POINTS[0])
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        repo.latest(POINTS[k % len(POINTS)])
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1e6 * times[len(times) // 2], 1e6 * times[int(len(times) * 0.99)]


def duckdb_year(folder: Path, days: int) -> tuple[float, float, int]:
    """(seconds of the DuckDB daily aggregate, seconds of polars doing the same, rows)."""
    path = folder / "year.parquet"
    rng = np.random.default_rng(3)

    def frames():
        for d in range(days):
            start = T0 + timedelta(days=d)
            stamps = pl.datetime_range(start, start + timedelta(seconds=86_399), "1s", eager=True, time_zone="UTC")
            yield pl.DataFrame({"point": POINTS[0], "timestamp": stamps, "value": rng.random(86_400)})

    rows = write_parquet(frames(), path)
    t0 = time.perf_counter()
    out = daily(path, POINTS[0], tz="Europe/Berlin")
    duck = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = (pl.scan_parquet(path).filter(pl.col("point") == POINTS[0])
           .group_by(pl.col("timestamp").dt.convert_time_zone("Europe/Berlin").dt.date().alias("day"))
           .agg(pl.col("value").mean(), pl.len()).collect())
    ref_s = time.perf_counter() - t0
    assert out.height == ref.height and int(out["count"].sum()) == rows
    return duck, ref_s, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke run, not the figures to quote)")
    ap.add_argument("--write", action="store_true", help="also keep the output in docs/benchmarks/store.txt")
    a = ap.parse_args()
    import psycopg
    import redis

    batches = 24 if a.quick else 48  # at least a day of 1 h batches: the window read needs it
    days = 30 if a.quick else 365
    name = f"bess_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(a.postgres, autocommit=True)
    admin.execute(f"CREATE DATABASE {name}")
    pg = a.postgres.rsplit("/", 1)[0] + f"/{name}"
    redis.Redis.from_url(a.redis).flushdb()
    try:
        with tempfile.TemporaryDirectory() as tmp, recorded("store"):
            sqlite = f"sqlite:///{tmp}/bench.sqlite"
            print(f"telemetry: {len(POINTS)} points at 1 s; batches of 60 s ({len(POINTS) * 60} values) and of "
                  f"1 h ({len(POINTS) * 3600:,} values)")
            print(f"{'backend':<22}{'60 s batches':>16}{'1 h batches':>16}{'target':>14}")
            rates = {}
            for label, url in (("SQLite", sqlite), ("PostgreSQL", pg)):
                store = open_store(url, "")
                small = insert_rate(store, 60, batches * 10)
                store.db.execute("DELETE FROM samples")
                big = insert_rate(store, 3600, batches)
                rates[label] = (small, big)
                print(f"{label:<22}{small:>13,.0f}/s{big:>13,.0f}/s{'>= 100,000/s':>14}")
            bare_small = bare_copy_rate(pg, 60, batches * 10)
            admin_conn = psycopg.connect(pg, autocommit=True)
            admin_conn.execute("DROP TABLE bare")
            bare_big = bare_copy_rate(pg, 3600, batches)
            admin_conn.close()
            print(f"{'bare psycopg COPY':<22}{bare_small:>13,.0f}/s{bare_big:>13,.0f}/s")
            small, big = rates["PostgreSQL"]
            print(f"{'PostgreSQL / bare COPY':<22}{small / bare_small:>15.2f}x{big / bare_big:>15.2f}x{'>= 0.7x':>14}")

            print("\nwindow read, one point, a day at 1 s (86,400 values), median of 5:")
            for label, url, cache in (("SQLite", sqlite, ""), ("PostgreSQL", pg, ""),
                                      ("PostgreSQL + Redis", pg, a.redis)):
                store = open_store(url, cache)
                print(f"  {label:<20}{window_ms(store):>8.1f} ms")

            n = 2000 if a.quick else 20000
            print(f"\nlatest value, {n:,} reads over {len(POINTS)} points:      p50        p99   target p99")
            for label, url, cache in (("SQLite", sqlite, ""), ("PostgreSQL", pg, ""),
                                      ("SQLite + Redis", sqlite, a.redis), ("PostgreSQL + Redis", pg, a.redis)):
                p50, p99 = latest_us(open_store(url, cache), n)
                target = "<= 1 ms" if "Redis" in label else ""
                print(f"  {label:<41}{p50:>6.0f} us{p99:>8.0f} us   {target}")

            duck, ref, rows = duckdb_year(Path(tmp), days)
            print(f"\nDuckDB daily aggregate (Europe/Berlin days) over {days} days of 1 s telemetry of one asset "
                  f"({rows:,} rows, Parquet): {duck:.2f} s; polars lazy scan, the same: {ref:.2f} s "
                  f"({duck / ref:.2f}x)")
    finally:
        close_all()
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    main()
