"""Two API deployments on one shared PostgreSQL store, as a cluster runs them: each with its own
home folder (nothing shared on disk), so that they can agree only through the database."""

import pytest

from bess_ray.net import free_port
from bess_ray.cli import main
from bess_ray.data.samples import sample_path
from bess_ray.store import open_store

from tests.api_client import call
from tests.conftest import postgres_database
from tests.e2e.test_serve_jobs import backtest_body, wait_for


@pytest.fixture(scope="module")
def apis(ray_session, tmp_path_factory):
    from ray import serve

    from bess_ray.serve.app import build_app

    port = free_port()
    with postgres_database() as url:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for name in ("a", "b"):
            home = tmp_path_factory.mktemp(f"home_{name}")
            serve.run(build_app({"home": str(home), "store": url, "solver_cpus": 0, "wait_s": 0}), name=name,
                      route_prefix=f"/{name}")
        yield {"a": {"url": f"http://127.0.0.1:{port}/a", "tokens": {}}, "b": {"url": f"http://127.0.0.1:{port}/b",
                                                                               "tokens": {}}, "store": url}
        serve.shutdown()


def key(apis, monkeypatch, capsys, role: str) -> str:
    """A key made as an operator makes one: the CLI, on any node, with the cluster's store URL."""
    monkeypatch.setenv("BESS_RAY_STORE", apis["store"])
    assert main(["keys", "create", "--role", role]) == 0
    return capsys.readouterr().out.strip()


def test_a_key_made_for_the_store_is_accepted_by_both_and_revoked_for_both(apis, monkeypatch, capsys):
    token = key(apis, monkeypatch, capsys, "analyst")
    for name in ("a", "b"):
        assert call(apis[name], "GET", "/v1/scenarios", token=token)[0] == 200
    key_id = token.split("_")[1]
    assert main(["keys", "revoke", key_id]) == 0
    for name in ("a", "b"):
        assert call(apis[name], "GET", "/v1/scenarios", token=token)[0] == 401


def test_a_scenario_and_a_job_written_through_one_are_seen_by_the_other_and_audited_once(apis, monkeypatch, capsys):
    token = key(apis, monkeypatch, capsys, "analyst")
    raw = sample_path("DE_LU_2023")[0].read_bytes()
    status, meta = call(apis["a"], "POST", "/v1/scenarios?name=de23&product=da&zone=DE-LU", raw=raw,
                        content_type="text/csv", token=token)
    assert status == 201, meta
    assert call(apis["b"], "GET", "/v1/scenarios/de23", token=token)[1]["rows"] == meta["rows"]

    status, job = call(apis["a"], "POST", "/v1/backtests", backtest_body(days=2), token=token)
    assert status == 202, job
    done = wait_for({**apis["b"], "tokens": {"viewer": token}}, f"/v1/backtests/{job['id']}")  # followed through b
    assert done["status"] == "done" and done["result"]["revenue_eur"] > 0
    for name in ("a", "b"):
        listed = call(apis[name], "GET", "/v1/backtests", token=token)[1]
        assert [j["id"] for j in listed] == [job["id"]]

    audit = open_store(apis["store"]).db.rows("SELECT action, target, status FROM audit_log ORDER BY seq")
    writes = [(e["action"], e["target"], e["status"]) for e in audit if e["action"] != "GET"]
    assert writes == [("POST", "/a/v1/scenarios", 201), ("POST", "/a/v1/backtests", 202)]  # each once, by a
