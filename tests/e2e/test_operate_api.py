"""The operator endpoints over real HTTP against a live site on Ray (actors and field simulator),
the live page in a real headless browser, and the API's replica killed under a stopped site."""
from __future__ import annotations


import pytest

from bess_ray.cluster.launch import start_simulator, start_site, stop_site
from bess_ray.control.settings import load_operation
from bess_ray.net import free_port
from bess_ray.store.keys import ROLES, KeyStore

from tests.api_client import call
from tests.conftest import browser_dom
from tests.e2e.test_operate_sites import OPS, schedule, until


@pytest.fixture(scope="module")
def ops_api(ray_session, tmp_path_factory):
    from ray import serve

    from bess_ray.serve.app import build_app

    home = tmp_path_factory.mktemp("ops_api")
    store = f"sqlite:///{home / 'bess_ray.sqlite'}"
    op = load_operation(OPS)
    port = free_port()
    sim = start_simulator(op, port)
    handles = start_site(op, store=store, sim_port=port, telemetry_s=1.0)
    http = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": http})
    serve.run(build_app({"home": str(home), "store": store, "solver_cpus": 0}), name="ops", route_prefix="/")
    keys = KeyStore(store)
    tokens = {role: keys.create(role, f"test {role}")[0] for role in ROLES}
    yield {"url": f"http://127.0.0.1:{http}", "tokens": tokens, "site": op.site.id, "sim": sim, "handles": handles,
           "ray": ray_session, "store": store}
    serve.shutdown()
    stop_site(op.site.id, ["bess1"])
    ray_session.kill(sim, no_restart=True)


def device(api) -> dict:
    return api["ray"].get(api["sim"].units.remote())[0]


def test_a_schedule_uploaded_over_http_drives_the_device_and_the_status_shows_it(ops_api):
    site = ops_api["site"]
    status, accepted = call(ops_api, "POST", f"/v1/sites/{site}/schedule?source=desk", schedule(0.4), role="operator")
    assert status == 201 and accepted["version"] >= 1, accepted
    until("0.4 MW at the device", lambda: abs(device(ops_api)["power_mw"] - 0.4) < 0.01)
    status, s = call(ops_api, "GET", f"/v1/sites/{site}", role="viewer")
    assert status == 200 and s["site"] == site and s["schedule_version"] == f"v{accepted['version']}"
    asset = s["assets"][0]
    assert {"id", "state", "power_mw", "soc_frac", "command_mw", "reasons", "allowed_mw", "alarms"} <= set(asset)
    assert [x["site"] for x in call(ops_api, "GET", "/v1/sites", role="viewer")[1]] == [site]
    stored = call(ops_api, "GET", f"/v1/sites/{site}/schedule", role="viewer")[1]
    assert stored["version"] == accepted["version"] and stored["source"] == "desk"


@pytest.mark.parametrize("body, message", [
    ({"timestamps": ["2026-01-01T00:00:00"], "net_mw": [0.1]}, "has no time zone"),
    ("not a schedule", "expected a JSON object"),
    ({**schedule(0.1), "net_mw": [9.0] * 8}, "outside the POI limits"),
])
def test_a_bad_schedule_is_refused_with_the_field_and_the_active_one_stays(ops_api, body, message):
    site = ops_api["site"]
    before = call(ops_api, "GET", f"/v1/sites/{site}", role="viewer")[1]["schedule_version"]
    status, answer = call(ops_api, "POST", f"/v1/sites/{site}/schedule", body, role="operator")
    assert status == 422 and message in answer["detail"], answer
    assert call(ops_api, "GET", f"/v1/sites/{site}", role="viewer")[1]["schedule_version"] == before


def test_an_unknown_site_is_404_and_a_viewer_may_not_stop_a_site(ops_api):
    status, answer = call(ops_api, "GET", "/v1/sites/nope", role="viewer")
    assert status == 404 and f"live sites: {ops_api['site']}" in answer["detail"]
    status, answer = call(ops_api, "POST", f"/v1/sites/{ops_api['site']}/stop", {"reason": "x"}, role="analyst")
    assert status == 403 and "needs operator" in answer["detail"]
    status, answer = call(ops_api, "POST", f"/v1/sites/{ops_api['site']}/stop", {}, role="operator")
    assert status == 422 and answer["detail"][0]["path"] == "reason"


def test_stop_over_http_reaches_the_device_is_audited_and_survives_the_api_replica_killed(ops_api):
    import ray
    from ray import serve

    site = ops_api["site"]
    until("running", lambda: abs(device(ops_api)["power_mw"] - 0.4) < 0.01)
    status, s = call(ops_api, "POST", f"/v1/sites/{site}/stop", {"reason": "grid operator request"}, role="operator")
    assert status == 200 and s["state"] == "STOPPED" and s["stopped"]["reason"] == "grid operator request"
    until("0 kW at the device", lambda: device(ops_api)["setpoint_mw"] == 0.0, timeout=10)
    from bess_ray.store import open_store

    audit = open_store(ops_api["store"]).db.rows("SELECT action, target, status FROM audit_log WHERE target = ?",
                                                 (f"/v1/sites/{site}/stop",))
    assert [(a["action"], a["status"]) for a in audit if a["status"] == 200] == [("POST", 200)]

    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "Ingress" in a["name"]]
    for r in replicas:
        ray.kill(ray.get_actor(r["name"], namespace=r["namespace"]), no_restart=False)
    until("the API back", lambda: _get(ops_api, f"/v1/sites/{site}") == 200, timeout=120, every=1)
    assert call(ops_api, "GET", f"/v1/sites/{site}", role="viewer")[1]["stopped"]["reason"] == "grid operator request"
    assert device(ops_api)["setpoint_mw"] == 0.0
    assert serve.status().applications["ops"].status == "RUNNING"

    status, s = call(ops_api, "POST", f"/v1/sites/{site}/resume", role="operator")
    assert status == 200 and s["stopped"] is None
    until("power after resume", lambda: abs(device(ops_api)["power_mw"] - 0.4) < 0.01, timeout=30)
    status, acked = call(ops_api, "POST", f"/v1/sites/{site}/ack", {"asset": "bess1"}, role="operator")
    assert status == 200
    assert call(ops_api, "POST", f"/v1/sites/{site}/ack", {"asset": "nope"}, role="operator")[0] == 422


def test_events_and_telemetry_over_a_window(ops_api):
    site = ops_api["site"]
    status, events = call(ops_api, "GET", f"/v1/sites/{site}/events", role="viewer")
    assert status == 200 and {"schedule", "stop", "resume"} <= {e["kind"] for e in events}
    stop = next(e for e in events if e["kind"] == "stop")
    assert "grid operator request" in stop["text"] and stop["time"].endswith("Z")
    t = until("telemetry", lambda: (x := call(ops_api, "GET", f"/v1/sites/{site}/telemetry", role="viewer")[1])
              ["points"] and x)
    power = t["points"][f"site/{site}/asset/bess1/power_mw"]
    assert len(power["timestamps"]) == len(power["values"]) > 5
    assert call(ops_api, "GET", f"/v1/sites/{site}/telemetry?start=2026-01-01T00:00:00", role="viewer")[0] == 422


def test_the_live_page_shows_the_site_in_a_real_browser(ops_api, tmp_path):
    site = ops_api["site"]
    until("the site running", lambda: call(ops_api, "GET", f"/v1/sites/{site}", role="viewer")[1]["state"] == "RUNNING")
    dom = browser_dom(f"{ops_api['url']}/sites/{site}#key={ops_api['tokens']['viewer']}", tmp_path / "1")
    assert 'id="state" class="state RUNNING"' in dom, dom[-2000:]
    assert 'data-asset="bess1"' in dom and "<td>RUNNING</td>" in dom
    assert f'data-point="site/{site}/asset/bess1/power_mw"' in dom  # the power chart drew its line
    nokey = browser_dom(f"{ops_api['url']}/sites/{site}", tmp_path / "2", 4000)
    assert '<form id="login">' in nokey  # without a key it asks for one (the form no longer hidden)


def _get(api, path) -> int:
    try:
        return call(api, "GET", path, role="viewer")[0]
    except Exception:  # noqa: BLE001 - the proxy answers nothing while the replica restarts
        return 0
