"""The HTTP API over real HTTP against a real Ray Serve instance: auth matrix, schedules, scenarios,
audit log and bad input."""
import json
import urllib.error
import urllib.request

import pytest
import yaml

from bess_ray.net import free_port
from bess_ray.data.samples import sample_path
from bess_ray.store.keys import ROLES

from tests.conftest import CONFIGS
from tests.api_client import call

SITE = yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text())
TIMES = [f"2023-06-01T{h:02d}:{m:02d}:00Z" for h in range(24) for m in (0, 15, 30, 45)]
PRICES = {"timestamps": TIMES, "day_ahead_eur_mwh": [40.0 + (i % 48) for i in range(96)],
          "capacity_eur_mw_h": {"fcr": [8.0] * 96}}


def schedule_body(**over):
    return {"site": SITE, "prices": PRICES, "products": "da_plus_fcr", **over}


def test_health_needs_no_key_and_docs_describe_the_api(api):
    assert call(api, "GET", "/healthz") == (200, {"status": "ok", "version": "0.1.0"})
    status, spec = call(api, "GET", "/openapi.json")
    assert status == 200 and {"/v1/schedules", "/v1/scenarios", "/metrics"} <= set(spec["paths"])


# every route of the API and the least role it needs; the test below fails on a route missing here
NEEDED = {
    ("GET", "/metrics"): "viewer",
    ("POST", "/v1/schedules"): "analyst",
    ("POST", "/v1/scenarios"): "analyst", ("GET", "/v1/scenarios"): "viewer",
    ("GET", "/v1/scenarios/{name}"): "viewer", ("DELETE", "/v1/scenarios/{name}"): "analyst",
    ("GET", "/v1/cache"): "viewer", ("POST", "/v1/cache/{name}"): "analyst",
    ("DELETE", "/v1/cache/{name}"): "analyst",
    ("POST", "/v1/backtests"): "analyst", ("POST", "/v1/simulations"): "analyst", ("POST", "/v1/sweeps"): "analyst",
    ("GET", "/v1/backtests"): "viewer", ("GET", "/v1/simulations"): "viewer", ("GET", "/v1/sweeps"): "viewer",
    ("GET", "/v1/{kind}/{job_id}"): "viewer",
    ("GET", "/v1/{kind}/{job_id}/result"): "viewer", ("GET", "/v1/{kind}/{job_id}/files"): "viewer",
    ("GET", "/v1/{kind}/{job_id}/files/{path}"): "viewer", ("DELETE", "/v1/{kind}/{job_id}"): "analyst",
    ("GET", "/v1/sites"): "viewer", ("GET", "/v1/sites/{site}"): "viewer",
    ("POST", "/v1/sites/{site}/stop"): "operator", ("POST", "/v1/sites/{site}/resume"): "operator",
    ("POST", "/v1/sites/{site}/ack"): "operator", ("POST", "/v1/sites/{site}/schedule"): "operator",
    ("GET", "/v1/sites/{site}/schedule"): "viewer", ("GET", "/v1/sites/{site}/events"): "viewer",
    ("GET", "/v1/sites/{site}/telemetry"): "viewer",
    # a flow that hands a schedule to a site needs operator as well (tests/e2e/test_flows_ray.py)
    ("GET", "/v1/flows"): "viewer", ("GET", "/v1/flows/runs"): "viewer",
    ("GET", "/v1/flows/runs/{run_id}"): "viewer", ("POST", "/v1/flows/runs"): "analyst",
}
PUBLIC = {("GET", "/healthz")}


def test_auth_matrix_every_role_against_every_endpoint(api):
    spec = call(api, "GET", "/openapi.json")[1]
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert routes == set(NEEDED) | PUBLIC, routes ^ (set(NEEDED) | PUBLIC)
    for (method, template), needed in NEEDED.items():
        path = template.format(name="none_such", kind="sweeps", job_id="sw_none", path="summary.json", site="none_such",
                                 run_id="trading/none_such/2023-06-05")
        assert call(api, method, path, {})[0] == 401, path
        assert call(api, method, path, {}, token="bessray_00000000_forged")[0] == 401, path
        for role in ROLES:
            status, answer = call(api, method, path, {}, role=role)
            if ROLES.index(role) >= ROLES.index(needed):
                # allowed: past auth, the empty body or the unknown name answers for itself
                assert status not in (401, 403, 500), (method, path, role, answer)
            else:
                assert status == 403 and f"needs {needed} or higher" in answer["detail"], (method, path, role)


def test_a_revoked_key_is_refused(api):
    token, record = api["keys"].create("admin", "short-lived")
    assert call(api, "GET", "/v1/scenarios", token=token)[0] == 200
    api["keys"].revoke(record["id"])
    status, answer = call(api, "GET", "/v1/scenarios", token=token)
    assert status == 401 and "revoked" in answer["detail"]


def test_schedule_answers_the_money_and_the_schedule(api):
    status, r = call(api, "POST", "/v1/schedules", schedule_body(), role="analyst")
    assert status == 200 and r["status"] == "optimal"
    assert r["revenue_eur"] == pytest.approx(sum(r["revenue_by_product_eur"].values()))
    assert r["revenue_by_product_eur"]["fcr"] > 0 and r["intervals"] == 96 and len(r["schedule"]) == 96
    row = r["schedule"][0]
    assert row["timestamp"] == "2023-06-01T00:00:00Z" and row["asset"] == "bess1"
    assert {"charge_mw", "discharge_mw", "soc_end_mwh", "reserve_fcr_mw", "revenue_eur"} <= set(row)
    assert all(0.0 - 1e-9 <= x["soc_end_mwh"] <= 2.0 + 1e-9 for x in r["schedule"])


@pytest.mark.parametrize("body, path, reason", [
    (schedule_body(prices={**PRICES, "day_ahead_eur_mwh": [1.0] * 95}), "prices", "95 values for 96 timestamps"),
    (schedule_body(prices={**PRICES, "capacity_eur_mw_h": {"fcrr": [1.0] * 96}}), "prices", "fcrr: not a capacity"),
    (schedule_body(prices={**PRICES, "timestamps": [t.rstrip("Z") for t in TIMES]}), "prices", "give an offset"),
    (schedule_body(prices={**PRICES, "day_ahead_eur_mwh": ["cheap"] + [1.0] * 95}), "prices.day_ahead_eur_mwh.0",
     "valid number"),
    (schedule_body(extra=1), "extra", "Extra inputs are not permitted"),
    ({"site": SITE}, "", "exactly one of prices"),
])
def test_bad_schedule_requests_name_the_field(api, body, path, reason):
    status, answer = call(api, "POST", "/v1/schedules", body, role="analyst")
    assert status == 422, answer
    assert any(d["path"] == path and reason in d["reason"] for d in answer["detail"]), answer


def test_bad_site_unknown_scenario_and_malformed_json_are_4xx(api):
    site = {**SITE, "assets": [{**SITE["assets"][0], "charge_mw": -1}]}
    status, answer = call(api, "POST", "/v1/schedules", schedule_body(site=site), role="analyst")
    assert status == 422 and "assets.0.charge_mw" in answer["detail"] and "greater than 0" in answer["detail"]
    window = {"day_ahead": "no_such_scenario", "start": "2023-06-01T00:00:00Z", "end": "2023-06-02T00:00:00Z"}
    status, answer = call(api, "POST", "/v1/schedules", {"site": SITE, "scenario": window}, role="analyst")
    assert status == 422 and "no_such_scenario" in answer["detail"]
    status, answer = call(api, "POST", "/v1/schedules", raw=b'{"site": {', role="analyst")
    assert status == 422 and answer["detail"][0]["reason"].startswith("JSON decode error")


def test_a_site_with_its_own_python_constraints_is_refused_over_http(api):
    site = {**SITE, "constraints": [{"function": "os:system", "params": {}}]}
    status, answer = call(api, "POST", "/v1/schedules", schedule_body(site=site), role="analyst")
    assert status == 422 and "site.constraints" in answer["detail"] and "run Python code" in answer["detail"]


PV = {"type": "pv", "id": "pv1", "capacity_mw": 2.0, "profile": "sample:DE_SOLAR_2024", "feed_in_premium_eur_mwh": 5.0}


def test_a_site_with_pv_gets_its_generation_dispatched(api):
    site = {**SITE, "assets": [*SITE["assets"], PV]}
    status, r = call(api, "POST", "/v1/schedules", schedule_body(site=site, products="da"), role="analyst")
    assert status == 200, r
    pv = [row for row in r["schedule"] if row["asset"] == "pv1"]
    assert len(pv) == 96 and sum(row["generation_mw"] for row in pv) > 0
    assert r["revenue_by_product_eur"]["generation_da"] > 0 and r["revenue_by_product_eur"]["feed_in_premium"] > 0
    assert all(row["curtailed_mw"] >= -1e-9 for row in pv)


@pytest.mark.parametrize("asset, where", [
    ({**PV, "profile": "/etc/hostname"}, "site.assets.1.profile"),
    ({**PV, "profile": None, "location": {"latitude": 52.5, "longitude": 13.4, "weather": "weather.csv"}},
     "site.assets.1.location.weather"),
])
def test_a_site_naming_a_server_file_is_refused(api, asset, where):
    site = {**SITE, "assets": [*SITE["assets"], asset]}
    status, answer = call(api, "POST", "/v1/schedules", schedule_body(site=site, products="da"), role="analyst")
    assert status == 422 and where in answer["detail"] and "names a file" in answer["detail"], answer


def test_scenarios_upload_use_and_delete(api):
    csv = sample_path("DE_LU_2023")[0].read_bytes()
    status, meta = call(api, "POST", "/v1/scenarios?name=de_2023&product=da&zone=DE-LU", raw=csv,
                        content_type="text/csv", role="analyst")
    assert status == 201, meta
    assert meta["rows"] == 8760 and meta["resolution_min"] == 60
    assert [s["name"] for s in call(api, "GET", "/v1/scenarios", role="viewer")[1]] == ["de_2023"]
    assert call(api, "GET", "/v1/scenarios/de_2023", role="viewer")[1]["rows"] == 8760
    again = call(api, "POST", "/v1/scenarios?name=de_2023&product=da&zone=DE-LU", raw=csv,
                 content_type="text/csv", role="analyst")
    assert again[0] == 409

    window = {"day_ahead": "de_2023", "start": "2023-06-01T00:00:00Z", "end": "2023-06-03T00:00:00Z"}
    status, r = call(api, "POST", "/v1/schedules", {"site": SITE, "scenario": window}, role="analyst")
    assert status == 200 and r["intervals"] == 192 and r["revenue_eur"] > 0

    assert call(api, "DELETE", "/v1/scenarios/de_2023", role="analyst") == (200, {"deleted": "de_2023"})
    assert call(api, "GET", "/v1/scenarios/de_2023", role="viewer")[0] == 404


def test_bad_uploads_leave_nothing_behind(api):
    status, answer = call(api, "POST", "/v1/scenarios?name=big", raw=b"x" * (1024 * 1024 + 1),
                          content_type="text/csv", role="analyst")
    assert status == 413 and "over the limit" in answer["detail"]
    bad = b"timestamp,price_eur_mwh\n2023-01-01T00:00:00Z,10\n2023-01-01T01:00:00Z,oops\n"
    status, answer = call(api, "POST", "/v1/scenarios?name=bad&product=da", raw=bad, content_type="text/csv",
                          role="analyst")
    assert status == 422 and "rows [3]" in answer["detail"], answer
    status, answer = call(api, "POST", "/v1/scenarios?name=x", raw=b"{}", role="analyst")
    assert status == 415
    assert [s["name"] for s in call(api, "GET", "/v1/scenarios", role="viewer")[1]] == []


def test_every_write_is_audited_with_key_and_request_id(api):
    req = urllib.request.Request(api["url"] + "/v1/scenarios/nothing", method="DELETE",
                                 headers={"Authorization": f"Bearer {api['tokens']['viewer']}", "X-Request-ID": "audit-1"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 403 and e.value.headers["x-request-id"] == "audit-1"
    entry = next(a for a in api["keys"].audit_log(500) if a["request_id"] == "audit-1")
    viewer = api["keys"].verify(api["tokens"]["viewer"])
    assert (entry["key_id"], entry["role"], entry["action"], entry["target"], entry["status"]) == \
        (viewer["id"], "viewer", "DELETE", "/v1/scenarios/nothing", 403)
    # without one, the request gets an id: once in the answer, and the same in the audit log
    status, _, headers = call(api, "DELETE", "/v1/scenarios/nothing", role="analyst", answer_headers=True)
    assert status == 404 and len(headers.get_all("x-request-id")) == 1
    assert api["keys"].audit_log(1)[0]["request_id"] == headers["x-request-id"]


def test_metrics_count_requests(api):
    call(api, "GET", "/healthz")
    status, text = call(api, "GET", "/metrics", role="viewer")
    assert status == 200 and 'bess_ray_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_serve_config_is_valid_and_names_the_builder():
    from ray.serve.schema import ServeDeploySchema

    from bess_ray.serve import app as serve_app

    config = yaml.safe_load((CONFIGS.parent / "deployments" / "serve.yaml").read_text())
    schema = ServeDeploySchema.model_validate(config)
    (application,) = schema.applications
    module, builder = application.import_path.split(":")
    assert module == serve_app.__name__ and callable(getattr(serve_app, builder))
    assert {d.name for d in application.deployments} == {"Ingress", "Jobs", "ScenarioCache"}


def test_cli_serve_starts_the_api(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    port = free_port()
    env = {**os.environ, "BESS_RAY_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "bess_ray.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, answer = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    answer = json.loads(r.read())
                    break
            except OSError:  # not listening yet, or not answering yet
                time.sleep(0.5)
        assert answer == {"status": "ok", "version": "0.1.0"}, proc.stderr.read() if proc.poll() is not None else ""
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def test_scenario_cache_load_use_evict_unload(api):
    csv = sample_path("DE_LU_2023")[0].read_bytes()
    for name in ("cache_a", "cache_b", "cache_c"):
        assert call(api, "POST", f"/v1/scenarios?name={name}&product=da&zone=DE-LU", raw=csv,
                    content_type="text/csv", role="analyst")[0] == 201
    window = {"day_ahead": "cache_a", "start": "2023-06-01T00:00:00Z", "end": "2023-06-02T00:00:00Z"}
    from_disk = call(api, "POST", "/v1/schedules", {"site": SITE, "scenario": window}, role="analyst")[1]

    status, loaded = call(api, "POST", "/v1/cache/cache_a", role="analyst")
    assert status == 200 and loaded["entry"]["rows"] == 8760 and loaded["evicted"] == []
    from_memory = call(api, "POST", "/v1/schedules", {"site": SITE, "scenario": window}, role="analyst")[1]
    assert from_memory["revenue_eur"] == from_disk["revenue_eur"] and from_memory["schedule"] == from_disk["schedule"]
    stats = call(api, "GET", "/v1/cache", role="viewer")[1]
    assert stats["hits"] >= 1 and stats["entries"][0]["name"] == "cache_a" and stats["entries"][0]["hits"] == 1
    assert stats["used_bytes"] == loaded["entry"]["bytes"] <= stats["limit_bytes"] == 512 * 1024

    # the limit (0.5 MB) holds two of these years: loading a third unloads the least recently used
    assert call(api, "POST", "/v1/cache/cache_b", role="analyst")[1]["evicted"] == []
    call(api, "POST", "/v1/schedules", {"site": SITE, "scenario": window}, role="analyst")  # cache_a used last
    assert call(api, "POST", "/v1/cache/cache_c", role="analyst")[1]["evicted"] == ["cache_b"]
    stats = call(api, "GET", "/v1/cache", role="viewer")[1]
    assert [e["name"] for e in stats["entries"]] == ["cache_c", "cache_a"] and stats["evictions"] == 1

    assert call(api, "DELETE", "/v1/cache/cache_c", role="analyst") == (200, {"unloaded": "cache_c"})
    assert call(api, "DELETE", "/v1/cache/cache_c", role="analyst")[0] == 404
    assert call(api, "POST", "/v1/cache/no_such", role="analyst")[0] == 404
    assert call(api, "POST", "/v1/cache/cache_a", role="viewer")[0] == 403
    # deleting a scenario drops it from the cache too
    call(api, "DELETE", "/v1/scenarios/cache_a", role="analyst")
    assert [e["name"] for e in call(api, "GET", "/v1/cache", role="viewer")[1]["entries"]] == []
    for name in ("cache_b", "cache_c"):
        call(api, "DELETE", f"/v1/scenarios/{name}", role="analyst")


def test_a_scenario_larger_than_the_cache_is_refused(api):
    rows = "".join(f"2023-01-01T00:00:00Z,{i}\n".replace("2023-01-01T00:00:00Z", t)
                   for i, t in enumerate(_quarter_hours(30_000)))
    status, _ = call(api, "POST", "/v1/scenarios?name=big_15min&product=da", raw=("timestamp,price_eur_mwh\n" + rows)
                     .encode(), content_type="text/csv", role="analyst")
    assert status == 201
    status, answer = call(api, "POST", "/v1/cache/big_15min", role="analyst")
    assert status == 413 and "more than the cache's limit" in answer["detail"]
    call(api, "DELETE", "/v1/scenarios/big_15min", role="analyst")


def _quarter_hours(n: int) -> list[str]:
    import numpy as np

    ts = np.datetime64("2023-01-01T00:00") + np.arange(n) * np.timedelta64(15, "m")
    return [f"{np.datetime_as_string(t, 'm')}:00Z" for t in ts]
