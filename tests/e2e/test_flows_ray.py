"""Flows on real Ray: a simulated week of two sites with every flow, the schedules handed to the
sites' actors on the field simulator before their delivery; the orchestrator SIGKILLed halfway
through `bess-ray flows run` and started again; runs listed and triggered over HTTP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from http.server import ThreadingHTTPServer

import pytest
import yaml

from bess_ray.flows import Orchestrator, SiteLink, load_flows
from bess_ray.store import open_store
from bess_ray.store.flow_runs import FlowRuns
from bess_ray.store.operations import OperationsStore
from tests.api_client import call
from tests.conftest import CONFIGS, ROOT
from tests.unit.test_flows import Receiver

WEEK = (date(2023, 6, 5), date(2023, 6, 12))
FIGURES = json.loads((ROOT / "tests" / "data" / "figures.json").read_text())


def _absolute(doc: dict, base) -> dict:
    doc["sites"] = [str((base / s).resolve()) for s in doc["sites"]]
    return doc


@pytest.fixture
def receiver():
    Receiver.seen, Receiver.fail_first = [], 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/desk"
    server.shutdown()
    Receiver.fail_first = 2


def test_a_week_of_every_flow_for_two_sites_reaches_the_site_actors_before_delivery(ray_session, tmp_path, receiver):
    doc = _absolute(yaml.safe_load((CONFIGS / "flows" / "de_lu_all_flows.yaml").read_text()), CONFIGS / "flows")
    doc["flows"].append({"flow": "send", "at": {"cron": "0 17 * * *", "delivery": "next_day"},
                         "params": {"url": receiver, "backoff_s": 0.01}})
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc))
    flows = load_flows(tmp_path / "flows.yaml")
    store = open_store()
    link = SiteLink(flows, store.db.url, simulated=True)
    try:
        summary = Orchestrator(flows, *WEEK, store=store.db.url, clock="simulated", sites=link).run()
        held = {s: link.schedule(s) for s in flows.operations}
    finally:
        link.close()
    rows = FlowRuns().list(delivery_from=str(WEEK[0]), delivery_to=str(WEEK[1]))
    keys = [r["run_id"] for r in rows]
    per_day = {"de_lu_1mw_2mwh": 5, "de_lu_portfolio_3x": 6}  # daily flows per site (and manual on one day)
    hours = 7 * 24
    assert len(keys) == len(set(keys)) == 7 * sum(per_day.values()) + 1 + hours
    assert {r["status"] for r in rows} == {"done"}, [(r["run_id"], r["error"]) for r in rows if r["error"]]
    # every schedule reached its site's actor before its delivery period began, once
    handed = [r for r in rows if r["handed"]]
    assert handed and all(r["handed"]["handed"] and r["handed"]["before_delivery"] for r in handed)
    assert all(r["handed"]["accepted_at"] == r["handed"]["handed_at"] for r in handed)  # the actor's own clock
    ops = OperationsStore(store)
    for site in flows.operations:
        sources = [r["source"] for r in ops.db.rows("SELECT source FROM site_schedules WHERE site = ?", (site,))]
        assert len(sources) == len(set(sources)) == len([r for r in handed if r["site"] == site])
        assert held[site]["source"] == sources[-1]
    # the last day's plan is what the sites hold: the book's day-ahead layer of 2023-06-11
    last = [r for r in rows if r["flow"] == "trading" and r["site"] == "de_lu_1mw_2mwh"][-1]["outputs"]["schedule"]
    payload = held["de_lu_1mw_2mwh"]["payload"]
    at = {t: v for t, v in zip(payload["timestamps"], payload["net_mw"])}
    assert [at[t] for t in last["timestamps"]] == last["net_mw"]
    portfolio = held["de_lu_portfolio_3x"]["payload"]
    assert {"fcr", "afrr_up", "afrr_down"} == set(portfolio["reserves_mw"]) and "obligation_mw" in portfolio
    # the week settles against the real prices, stream by stream
    money = summary["settlement"]
    assert set(money["de_lu_1mw_2mwh"]["streams_eur"]) == {"da", "intraday"}
    assert {"da", "fcr", "afrr_up", "afrr_down"} <= set(money["de_lu_portfolio_3x"]["streams_eur"])
    pinned = FIGURES["flows/de_lu_all_flows"]  # as run inline, to the cent
    assert {s: m["revenue_eur"] for s, m in money.items()} == {
        s: pinned[f"{s}/revenue_eur"] for s in ("de_lu_1mw_2mwh", "de_lu_portfolio_3x")}
    # the desk received every day's outputs once per day, with one key per payload
    days = {body["delivery"] for _, body in Receiver.seen}
    assert len(days) == 7 and len(Receiver.seen) == 15  # the first POST was refused (503) and retried
    assert len({k for k, _ in Receiver.seen}) == 14


def _bess_ray(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "bess_ray.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def test_a_sigkilled_orchestrator_resumes_with_the_same_result_and_nothing_doubled(tmp_path):
    env = {**os.environ, "BESS_RAY_HOME": str(tmp_path / "home"), "RAY_ADDRESS": ""}
    flows = str(CONFIGS / "flows" / "de_lu_trading_week.yaml")
    window = ["--clock", "simulated", "--from", str(WEEK[0]), "--to", str(WEEK[1])]
    first = _bess_ray("flows", "run", flows, *window, "--pace", "0.4", env=env)
    store = f"sqlite:///{tmp_path / 'home' / 'bess_ray.sqlite'}"
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and first.poll() is None:
        try:
            done = len(FlowRuns(store).list(status="done"))
        except Exception:  # noqa: BLE001 - the store is not created yet
            done = 0
        if done >= 10:
            break
        time.sleep(0.1)
    assert first.poll() is None, first.stdout.read()
    os.killpg(first.pid, signal.SIGKILL)  # the orchestrator and the Ray it started
    first.wait()
    assert 10 <= done < 23
    again = _bess_ray("flows", "run", flows, *window, "--json", env=env)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    summary = json.loads(out[out.index("{"):])
    assert summary["status"] == {"done": 22}
    assert summary["attempts_now"] <= 23 - done + 1  # only what was left (and the run the kill interrupted)
    rows = FlowRuns(store).list()
    assert len(rows) == len({r["run_id"] for r in rows}) == 23 and all(r["attempts"] <= 2 for r in rows)
    sources = [r["source"] for r in OperationsStore(store).db.rows("SELECT source FROM site_schedules")]
    assert len(sources) == len(set(sources)) == len([r for r in rows if r["handed"]])
    # the same money as a run that was never interrupted
    clean = Orchestrator(load_flows(flows), *WEEK, store=f"sqlite:///{tmp_path / 'clean.sqlite'}", clock="simulated",
                         executor="inline").run()
    assert summary["settlement"] == clean["settlement"]
    pinned = FIGURES["flows/de_lu_trading_week"]  # the README's figure, to the cent
    assert clean["settlement"]["de_lu_1mw_2mwh"]["revenue_eur"] == pinned["de_lu_1mw_2mwh/revenue_eur"]
    history = subprocess.run([sys.executable, "-m", "bess_ray.cli", "flows", "history", "--json"], env=env,
                             capture_output=True, text=True, check=True)
    listed = json.loads(history.stdout)
    assert len(listed) == 23
    assert {"flow", "version", "site", "delivery", "status", "inputs", "outputs"} <= set(listed[0])
    assert all(date.fromisoformat(r["delivery"]) for r in listed)


# -------------------------------------------------------------------------------------- HTTP
@pytest.fixture(scope="module")
def flows_api(ray_session, tmp_path_factory):
    from ray import serve

    from bess_ray.cluster.launch import start_simulator, start_site, stop_site
    from bess_ray.control.settings import load_operation
    from bess_ray.net import free_port
    from bess_ray.serve.app import build_app
    from bess_ray.store.keys import ROLES, KeyStore

    home = tmp_path_factory.mktemp("flows_api")
    store = f"sqlite:///{home / 'bess_ray.sqlite'}"
    ops = CONFIGS / "operations" / "de_lu_1mw_2mwh_sim.yaml"
    year = datetime.now(ZoneInfo("Europe/Berlin")).year  # the year of the history day the test imports
    # trading forecasts from the day two days before (lag 2): that day is published and the traded
    # day's gate still ahead at every hour (with lag 1, between the gate and the publication of the
    # next day's prices - 11:00 to 12:00 UTC in winter - no day is both)
    doc = {"schema_version": 1, "name": "http_flows", "sites": [str(ops)], "flows": [
        {"flow": "data_update", "at": {"gate": "day_ahead", "offset_min": 75},
         "params": {"day_ahead": f"sample:DE_LU_2023@{year}"}},
        {"flow": "trading", "at": {"gate": "day_ahead", "offset_min": -30}, "params": {"lags_days": [2]}}]}
    (home / "flows.yaml").write_text(yaml.safe_dump(doc))
    op = load_operation(ops)
    port = free_port()
    sim = start_simulator(op, port)
    handles = start_site(op, store=store, sim_port=port)  # held: Ray ends an actor nobody holds
    http = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": http})
    serve.run(build_app({"home": str(home), "store": store, "flows": str(home / "flows.yaml")}),
              name="flows", route_prefix="/")
    keys = KeyStore(store)
    tokens = {role: keys.create(role, f"test {role}")[0] for role in ROLES}
    yield {"url": f"http://127.0.0.1:{http}", "tokens": tokens, "store": store, "handles": handles}
    serve.shutdown()
    stop_site(op.site.id, ["bess1"])
    ray_session.kill(sim, no_restart=True)


def test_runs_are_triggered_once_and_listed_over_http_with_the_roles_of_what_they_do(flows_api):
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()  # delivery days are the zone's local days
    # trading day D forecasts from day D-2 (the flows file's lag): today's prices are published and
    # the gate of the day after tomorrow is ahead, at any hour
    history, after = str(today), str(today + timedelta(days=2))
    site = "de_lu_1mw_2mwh"
    status, rec = call(flows_api, "POST", "/v1/flows/runs", {"flow": "data_update", "site": site, "delivery": history},
                       role="analyst")
    assert status == 200 and rec["status"] == "done" and rec["outputs"]["written"]["da"] > 0, rec
    # trading hands a schedule to a live site: operator only
    status, answer = call(flows_api, "POST", "/v1/flows/runs", {"flow": "trading", "site": site, "delivery": after},
                          role="analyst")
    assert status == 403 and "needs operator" in answer["detail"]
    status, rec = call(flows_api, "POST", "/v1/flows/runs", {"flow": "trading", "site": site, "delivery": after},
                       role="operator")
    assert status == 200 and rec["status"] == "done", rec
    assert rec["handed"]["handed"] and rec["handed"]["before_delivery"] and rec["handed"]["version"] >= 1
    held = call(flows_api, "GET", f"/v1/sites/{site}/schedule", role="viewer")[1]
    assert held["source"] == f"flow:trading/{site}/{after}"
    # exactly once: the same run again is a conflict, and nothing new reaches the site
    status, answer = call(flows_api, "POST", "/v1/flows/runs", {"flow": "trading", "site": site, "delivery": after},
                          role="operator")
    assert status == 409 and "done already" in answer["detail"]
    assert call(flows_api, "GET", f"/v1/sites/{site}/schedule", role="viewer")[1]["version"] == held["version"]
    status, runs = call(flows_api, "GET", f"/v1/flows/runs?site={site}", role="viewer")
    assert status == 200 and [r["flow"] for r in runs] == ["data_update", "trading"]
    status, one = call(flows_api, "GET", f"/v1/flows/runs/trading/{site}/{after}", role="viewer")
    assert status == 200 and one["outputs"]["schedule"]["net_mw"] == rec["outputs"]["schedule"]["net_mw"]
    assert call(flows_api, "GET", "/v1/flows/runs/nope/x/y", role="viewer")[0] == 404
    assert call(flows_api, "GET", "/v1/flows/runs")[0] == 401
    status, answer = call(flows_api, "POST", "/v1/flows/runs", {"flow": "auction", "site": site, "delivery": after},
                          role="operator")
    assert status == 404 and "not configured" in answer["detail"]
    status, answer = call(flows_api, "POST", "/v1/flows/runs", {"flow": "trading", "site": site, "delivery": "soon"},
                          role="operator")
    assert status == 422 and answer["detail"][0]["path"] == "delivery"
    flows = call(flows_api, "GET", "/v1/flows", role="viewer")[1]
    assert {("trading", "v1"), ("trading", "v2"), ("send", "v1")} <= {(f["flow"], f["version"]) for f in flows}
