"""One contract for every backend: SQLite, PostgreSQL, and each with the Redis cache in front,
against the machine's real servers."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from bess_ray.errors import DataError
from bess_ray.store import DataPoint
from bess_ray.store.jobs import JobStore
from bess_ray.store.keys import KeyStore
from bess_ray.store.repository import SqlRepository
from bess_ray.store.scenarios import ScenarioStore

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
SOC = "site/de1/asset/bess1/soc"
POWER = "site/de1/asset/bess1/power"
BIDS = "site/de1/bids/da"
RATING = "site/de1/rating"


def seconds(n: int, start: datetime = T0, values=None, tz: str = "UTC") -> pl.DataFrame:
    stamps = pl.datetime_range(start, start + timedelta(seconds=n - 1), "1s", eager=True, time_zone="UTC")
    values = np.linspace(0.1, 0.9, n) if values is None else values
    return pl.DataFrame({"timestamp": stamps.dt.convert_time_zone(tz), "value": values})


def define_site(repo, site: str = "de1") -> None:
    for asset in ("bess1", "bess2"):
        repo.define(DataPoint(f"site/{site}/asset/{asset}/soc", unit="frac", schema={"minimum": 0, "maximum": 1},
                              metadata={"site": site, "asset": asset, "quantity": "soc"}))
        repo.define(DataPoint(f"site/{site}/asset/{asset}/power", unit="MW",
                              metadata={"site": site, "asset": asset, "quantity": "power"}))


def count(store) -> int:
    return sum(store.db.row(f"SELECT COUNT(*) AS n FROM {t}")["n"] for t in ("samples", "documents"))


# ------------------------------------------------------------------------------------ round trips
def test_every_kind_round_trips_exactly(store):
    repo = store.points
    define_site(repo)
    repo.define(DataPoint(BIDS, kind="vector", unit="EUR/MWh", schema={"shape": [None, 2]}))
    repo.define(DataPoint(RATING, kind="static", schema={"type": "object", "required": ["power_mw"],
                                                          "properties": {"power_mw": {"type": "number"}}}))
    values = np.random.default_rng(1).random(3600)
    values[0], values[1] = 1 / 3, np.nextafter(0.5, 1)  # last bits survive the text of COPY and back
    frame = seconds(3600, values=values)
    repo.write(SOC, frame)
    assert repo.read(SOC, T0, T0 + timedelta(hours=1)).equals(frame)
    curves = [[[-500.0, 1.0], [45.5, 0.25]], [[10.0, -0.5]]]
    bids = pl.DataFrame({"timestamp": [T0, T0 + timedelta(minutes=15)], "value": curves},
                        schema={"timestamp": pl.Datetime("us", "UTC"), "value": pl.List(pl.List(pl.Float64))})
    repo.write(BIDS, bids)
    assert repo.read(BIDS, T0, T0 + timedelta(hours=1))["value"].to_list() == curves
    repo.set_static(RATING, {"power_mw": 1.0, "note": "nameplate"}, T0)
    repo.set_static(RATING, {"power_mw": 0.8, "note": "derated"}, T0 + timedelta(days=1))
    assert repo.latest(RATING) == (T0 + timedelta(days=1), {"power_mw": 0.8, "note": "derated"})
    assert repo.point(SOC) == DataPoint(SOC, unit="frac", schema={"minimum": 0, "maximum": 1},
                                        metadata={"site": "de1", "asset": "bess1", "quantity": "soc"})


def test_windows_are_half_open_and_follow_local_days_across_dst(store):
    repo = store.points
    define_site(repo)
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2024, 3, 30, tzinfo=berlin)
    hours = pl.datetime_range(start, datetime(2024, 4, 2, tzinfo=berlin), "1h", eager=True, time_zone="Europe/Berlin",
                              closed="left")
    repo.write(POWER, pl.DataFrame({"timestamp": hours, "value": np.arange(len(hours), dtype=float)}))
    day = repo.read(POWER, datetime(2024, 3, 31, tzinfo=berlin), datetime(2024, 4, 1, tzinfo=berlin))
    assert day.height == 23  # the spring-forward day has 23 hours
    assert day["timestamp"][0] == datetime(2024, 3, 30, 23, tzinfo=timezone.utc)
    autumn = pl.datetime_range(datetime(2024, 10, 26, tzinfo=berlin), datetime(2024, 10, 29, tzinfo=berlin), "1h",
                               eager=True, time_zone="Europe/Berlin", closed="left")
    repo.write(POWER, pl.DataFrame({"timestamp": autumn, "value": np.ones(len(autumn))}))
    assert repo.read(POWER, "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00").height == 25
    assert repo.read(POWER, T0, T0).height == 0


def test_batches_replace_rather_than_double_and_latest_is_the_newest(store):
    repo = store.points
    define_site(repo)
    batch = {SOC: seconds(600), POWER: (seconds(600, values=np.full(600, 500.0)), "kW")}
    assert repo.write_many(batch) == 1200
    assert repo.write_many(batch) == 1200  # a retried batch
    assert count(store) == 1200
    assert repo.read(POWER, T0, T0 + timedelta(hours=1))["value"].unique().to_list() == [0.5]  # kW -> MW
    repo.write(SOC, seconds(10, start=T0 - timedelta(hours=1), values=np.full(10, 0.5)))  # older data, later
    newest = repo.latest_many([SOC, POWER])
    assert newest[SOC] == (T0 + timedelta(seconds=599), pytest.approx(0.9))
    assert newest[POWER][0] == T0 + timedelta(seconds=599)
    repo.define(DataPoint("site/de1/asset/bess1/alarms", unit="", metadata={"site": "de1"}))
    assert repo.latest("site/de1/asset/bess1/alarms") is None


def test_prefixes_are_segment_wise_and_metadata_filters(store):
    repo = store.points
    define_site(repo, "de1")
    define_site(repo, "de10")
    assert [p.id for p in repo.points("site/de1")] == [
        "site/de1/asset/bess1/power", "site/de1/asset/bess1/soc", "site/de1/asset/bess2/power", "site/de1/asset/bess2/soc"]
    assert len(repo.points("site/de1/")) == 4 and len(repo.points()) == 8
    assert [p.id for p in repo.points(where={"site": "de10", "quantity": ["soc"]})] == \
        ["site/de10/asset/bess1/soc", "site/de10/asset/bess2/soc"]
    repo.write_many({p.id: seconds(5) for p in repo.points()})
    frame = repo.read_prefix("site/de1", T0, T0 + timedelta(seconds=3), where={"quantity": "soc"})
    assert frame.columns == ["point", "timestamp", "value"] and frame.height == 6
    assert frame["point"].unique().sort().to_list() == ["site/de1/asset/bess1/soc", "site/de1/asset/bess2/soc"]


def test_concurrent_writers_lose_nothing(store):
    repo = store.points
    for w in range(4):
        repo.define(DataPoint(f"site/c/asset/a{w}/power", unit="MW"))
    repo.define(DataPoint("site/c/shared", unit="MW"))
    errors = []

    def writer(w: int) -> None:
        try:
            for b in range(10):
                start = T0 + timedelta(seconds=100 * b)
                repo.write_many({f"site/c/asset/a{w}/power": seconds(100, start),
                                 "site/c/shared": seconds(1, start + timedelta(seconds=w * 10 + b % 10))})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert repo.read_prefix("site/c/asset", T0, T0 + timedelta(hours=1)).height == 4000
    assert repo.read("site/c/shared", T0, T0 + timedelta(hours=1)).height == 40


# ------------------------------------------------------------------------------------ all or nothing
def test_a_bad_frame_anywhere_in_a_batch_writes_nothing(store):
    repo = store.points
    define_site(repo)
    bad = seconds(10, values=np.full(10, 1.5))  # SoC above the schema's maximum
    with pytest.raises(DataError, match=r"site/de1/asset/bess2/soc: value 1.5 is outside the schema's maximum 1"):
        repo.write_many({SOC: seconds(10), POWER: seconds(10), "site/de1/asset/bess2/soc": bad})
    assert count(store) == 0


def test_a_failure_in_the_middle_of_the_transaction_writes_nothing(store, monkeypatch):
    repo = store.points
    define_site(repo)
    repo.define(DataPoint(BIDS, kind="vector", unit="EUR/MWh"))
    repo.write(SOC, seconds(5, values=np.full(5, 0.2)))
    real = SqlRepository._insert

    def fails_on_documents(self, tx, table, rows, fresh):
        if table == "documents":  # the samples are in by now, inside the same transaction
            raise ConnectionError("connection lost mid-batch")
        return real(self, tx, table, rows, fresh)

    monkeypatch.setattr(SqlRepository, "_insert", fails_on_documents)
    bids = pl.DataFrame({"timestamp": [T0], "value": [[1.0, 2.0]]}, schema={"timestamp": pl.Datetime("us", "UTC"),
                                                                            "value": pl.List(pl.Float64)})
    with pytest.raises(ConnectionError):
        repo.write_many({SOC: seconds(5, values=np.full(5, 0.7)), POWER: seconds(5), BIDS: bids})
    monkeypatch.undo()
    assert count(store) == 5
    assert repo.read(SOC, T0, T0 + timedelta(minutes=1))["value"].to_list() == [0.2] * 5
    assert repo.latest(SOC)[1] == 0.2


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("frame, unit, message", [
    (pl.DataFrame({"timestamp": [datetime(2024, 6, 1)], "value": [0.5]}), None, "timestamp has no time zone"),
    (pl.DataFrame({"timestamp": [T0], "value": ["0.5"]}), None, "kind float takes numbers, not String"),
    (pl.DataFrame({"timestamp": [T0], "value": [float("nan")]}), None, "1 value\\(s\\) are empty, NaN or infinite"),
    (pl.DataFrame({"timestamp": [T0, T0], "value": [0.1, 0.2]}), None, "timestamp 2024-06-01T00:00:00\\+00:00 appears more than once"),
    (pl.DataFrame({"timestamp": [T0], "value": [0.5]}), "MW", "unit 'MW' cannot be converted to the point's unit 'frac'"),
    (pl.DataFrame({"time": [T0], "value": [0.5]}), None, "the frame lacks column\\(s\\) timestamp"),
    (pl.DataFrame({"timestamp": ["2024-06-01"], "value": [0.5]}), None, "timestamp is String, not a date and time"),
])
def test_bad_values_are_refused_naming_the_point_and_the_reason(store, frame, unit, message):
    repo = store.points
    define_site(repo)
    with pytest.raises(DataError, match=f"data point {SOC}: {message}"):
        repo.write(SOC, frame, unit)
    assert count(store) == 0


def test_bad_definitions_windows_and_unknown_points(store):
    repo = store.points
    define_site(repo)
    with pytest.raises(DataError, match="its kind and unit cannot change"):
        repo.define(DataPoint(SOC, unit="%"))
    repo.define(DataPoint(SOC, unit="frac", description="state of charge", metadata={"site": "de1"}))  # metadata may
    assert repo.point(SOC).description == "state of charge"
    with pytest.raises(DataError, match="unknown data point\\(s\\): site/nope/soc; define them first"):
        repo.write("site/nope/soc", seconds(1))
    with pytest.raises(DataError, match="data point id 'Site//x'"):
        repo.point("Site//x")
    with pytest.raises(DataError, match="start: 2024-06-01T00:00:00 has no time zone"):
        repo.read(SOC, datetime(2024, 6, 1), T0)
    with pytest.raises(DataError, match="kind 'text' is not one of float, vector, static"):
        DataPoint("a/b", kind="text")
    repo.define(DataPoint(BIDS, kind="vector", unit="EUR/MWh", schema={"shape": [None, 2]}))
    with pytest.raises(DataError, match="shape \\[3\\] does not fit the schema's shape \\[None, 2\\]"):
        repo.write(BIDS, pl.DataFrame({"timestamp": [T0], "value": [[1.0, 2.0, 3.0]]}))
    repo.define(DataPoint(RATING, kind="static", schema={"type": "object", "required": ["power_mw"]}))
    with pytest.raises(DataError, match="'power_mw' is a required property"):
        repo.set_static(RATING, {"mw": 1}, T0)
    assert count(store) == 0


# ------------------------------------------------------------------------------------ the cache
def test_the_cache_never_serves_a_value_older_than_the_last_write(store):
    repo = store.points
    define_site(repo)
    repo.write(SOC, seconds(60, values=np.full(60, 0.3)))
    window = (T0, T0 + timedelta(minutes=1))
    for _ in range(3):  # the second and third come from Redis where it is in front
        assert repo.read(SOC, *window)["value"].to_list() == [0.3] * 60
        assert repo.latest(SOC)[1] == 0.3
    if store.cache_url:
        assert repo.hits == 4 and repo.misses == 2
    repo.write(SOC, seconds(60, values=np.full(60, 0.6)))
    assert repo.read(SOC, *window)["value"].to_list() == [0.6] * 60
    assert repo.latest(SOC)[1] == 0.6
    repo.write(SOC, seconds(1, start=T0 + timedelta(minutes=5), values=[0.65]))
    assert repo.latest(SOC) == (T0 + timedelta(minutes=5), 0.65)


def test_live_values_are_published_to_subscribers(cached_store):
    repo = cached_store.points
    define_site(repo)
    got, ready = [], threading.Event()

    def listen():
        stream = repo.subscribe("site/de1/asset/bess1", timeout_s=5, ready=ready)
        for message in stream:
            got.append(message)
            if len(got) == 2:
                return

    t = threading.Thread(target=listen)
    t.start()
    assert ready.wait(5)
    repo.write_many({SOC: seconds(3), "site/de1/asset/bess2/soc": seconds(3)})
    repo.write(POWER, seconds(1, values=[0.25]))
    t.join(10)
    assert [(m["id"], m["value"]) for m in got] == [(SOC, pytest.approx(0.9)), (POWER, 0.25)]


# ------------------------------------------------------------------------------------ records
def test_keys_audit_jobs_and_scenarios_live_in_the_same_store(store, tmp_path):
    from bess_ray.data import read_series

    keys = KeyStore(store)
    key, record = keys.create("operator", "desk")
    assert keys.verify(key)["role"] == "operator" and keys.revoke(record["id"]) and keys.verify(key) is None
    keys.audit(record["id"], "operator", "POST", "/v1/jobs", 201, "r1")
    assert [e["request_id"] for e in keys.audit_log()] == ["r1"]
    jobs = JobStore(store, root=tmp_path / "jobs_home", runner="a")
    job = jobs.create("backtest", "x", record["id"], "r1", 10, "days")
    jobs.update(job["id"], status="running", done=3)
    assert JobStore(store, runner="b").interrupted() == 0  # another API's restart leaves it be
    assert jobs.interrupted() == 1 and jobs.get(job["id"])["status"] == "failed"
    scenarios = ScenarioStore(store)
    series = read_series("sample:DE_LU_2023")
    scenarios.add("de23", series)
    assert scenarios.load("de23").frame.equals(series.frame)
