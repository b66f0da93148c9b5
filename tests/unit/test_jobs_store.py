"""The API's job table and its guard against server files in submitted configs (no Ray)."""
import pytest

from bess_ray.errors import ConfigError
from bess_ray.store.jobs import JobStore
from bess_ray.store.scenarios import ScenarioStore


def test_a_job_moves_through_its_states_and_lists_newest_first(tmp_path):
    store = JobStore(tmp_path)
    first = store.create("backtest", "one", "key1", "req1", total=7, unit="days")
    second = store.create("sweep", "two", "key1", "req2", total=0, unit="cases")
    assert first["status"] == "queued" and first["started_utc"] is None and store.folder(first["id"]).is_dir()
    store.update(first["id"], status="running")
    store.update(first["id"], done=3)
    assert store.get(first["id"])["done"] == 3 and store.get(first["id"])["started_utc"]
    store.update(first["id"], status="done", done=7, summary={"revenue_eur": 12.5})
    job = store.get(first["id"])
    assert job["status"] == "done" and job["summary"] == {"revenue_eur": 12.5} and job["finished_utc"]
    assert [j["id"] for j in store.list()] == [second["id"], first["id"]]
    assert [j["id"] for j in store.list("backtest")] == [first["id"]]
    assert store.get(first["id"], "sweep") is None and store.get("nope") is None
    with pytest.raises(ValueError, match="kind 'optimisation'"):
        store.create("optimisation", "x", None, None, 1, "days")


def test_jobs_left_running_by_a_stopped_api_are_marked_failed(tmp_path):
    store = JobStore(tmp_path)
    queued = store.create("backtest", "a", None, None, 1, "days")
    running = store.create("simulation", "b", None, None, 2, "years")
    done = store.create("backtest", "c", None, None, 1, "days")
    store.update(running["id"], status="running")
    store.update(done["id"], status="done", summary={})
    assert JobStore(tmp_path).interrupted() == 2
    assert {store.get(j["id"])["status"] for j in (queued, running)} == {"failed"}
    assert "interrupted" in store.get(running["id"])["error"] and store.get(done["id"])["status"] == "done"


@pytest.mark.parametrize("config, message", [
    ({"prices": {"day_ahead": "/etc/passwd"}}, "prices.day_ahead: '/etc/passwd' names a file"),
    ({"prices": {"reserves": ["fcr=../x.csv"]}}, "prices.reserves.0"),
    ({"site": "sites/a.yaml"}, "site: 'sites/a.yaml' names a file"),
    ({"prices": {"day_ahead": "sample:NOPE@2024"}}, "unknown sample 'NOPE'"),
    ({"prices": {"day_ahead": "scenario:nope"}}, "unknown scenario 'nope'"),
    ({"forecast": {"type": "custom_python", "class": "os:system"}}, "forecast: a custom_python forecaster"),
])
def test_configs_over_http_may_name_only_samples_and_stored_scenarios(tmp_path, config, message):
    from bess_ray.serve.refs import check_refs

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_refs(config, ScenarioStore(tmp_path))


def test_samples_scenarios_and_plain_values_pass(tmp_path):
    from bess_ray.serve.refs import check_refs

    check_refs({"name": "DE/LU a/b", "prices": {"day_ahead": ["sample:DE_LU_2023", "sample:DE_LU_2024"],
                                                "reserves": ["fcr=sample:FCR_2021@2023"]},
                "workflow": "da_plus_fcr", "resolution": "15min", "window": {"start": "2023-01-02"}},
               ScenarioStore(tmp_path))
