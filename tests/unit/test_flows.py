"""Flows without Ray: the flows file's checks, the triggers over DST days, each flow's outputs, and
the orchestrator's records, retries and exactly-once rule (flows run inline on the embedded store)."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

from bess_ray.errors import ConfigError
from bess_ray.flows import Orchestrator, load_flows
from bess_ray.flows.book import compose, settle_book
from bess_ray.flows.context import day_grid
from bess_ray.flows.spec import trigger_instants, Trigger
from bess_ray.store import open_store
from bess_ray.store.flow_runs import FlowRuns

from tests.conftest import CONFIGS

OPS = CONFIGS / "operations"
WEEK = (date(2023, 6, 5), date(2023, 6, 12))


def flows_file(tmp_path: Path, flows: list[dict], sites=("de_lu_1mw_2mwh_sim",), **top) -> Path:
    doc = {"schema_version": 1, "name": top.pop("name", "test_flows"), "sites": [str(OPS / f"{s}.yaml") for s in sites],
           "retries": {"attempts": 3, "backoff_s": 600, "factor": 2}, "flows": flows, **top}
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


DATA = {"flow": "data_update", "at": {"gate": "day_ahead", "offset_min": 75},
        "params": {"day_ahead": "sample:DE_LU_2023"}}
TRADING = {"flow": "trading", "version": "v2", "at": {"gate": "day_ahead", "offset_min": -30}}
INTRADAY = {"flow": "intraday", "at": {"cron": "30 14 * * *", "delivery": "next_day"}}


def run(path, first=WEEK[0], last=WEEK[1], **kw):
    return Orchestrator(load_flows(path), first, last, clock="simulated", executor="inline", **kw).run()


# ----------------------------------------------------------------------------------- the file
@pytest.mark.parametrize("entry, words", [
    ({"flow": "tradingg", "at": {"gate": "day_ahead"}}, ["flows[0].flow", "no flow 'tradingg'"]),
    ({"flow": "trading", "version": "v9", "at": {"gate": "day_ahead"}}, ["flows[0].flow", "versions: v1, v2"]),
    ({"flow": "trading", "at": {"gate": "noon"}}, ["flows.0.at", "gate 'noon'"]),
    ({"flow": "trading", "at": {"cron": "61 * * * *"}}, ["flows.0.at", "not a valid cron"]),
    ({"flow": "trading", "at": {"gate": "day_ahead", "cron": "0 1 * * *"}}, ["exactly one of gate, cron"]),
    ({"flow": "trading", "at": {"gate": "day_ahead"}, "params": {"lags": [1]}}, ["flows[0].params", "lags"]),
    ({"flow": "trading", "at": {"gate": "day_ahead", "offset_min": 10}},
     ["flows[0].at", "after the day_ahead gate", "closes da"]),
    ({"flow": "manual", "at": {"cron": "0 9 * * *"}, "params": {}}, ["flows[0].params", "exactly one of blocks"]),
    ({"flow": "afrr_activation", "at": {"gate": "day_ahead"}}, ["flows[0].at", "hourly: true"]),
    ({"flow": "afrr", "at": {"gate": "afrr_auction", "offset_min": -30}}, ["does not trade aFRR"]),
    ({"flow": "trading", "sites": ["nowhere"], "at": {"gate": "day_ahead", "offset_min": -30}},
     ["flows[0].sites", "'nowhere'"]),
    ({"flow": "data_update", "at": {"gate": "day_ahead", "offset_min": 75}, "params": {"day_ahead": "missing.csv"}},
     ["flows[0].params.day_ahead", "missing.csv: no such file"]),
])
def test_a_bad_flows_file_names_the_field_and_the_reason(tmp_path, entry, words):
    with pytest.raises(ConfigError) as e:
        load_flows(flows_file(tmp_path, [entry]))
    for w in words:
        assert w in str(e.value), str(e.value)
    assert not FlowRuns().list()  # nothing ran, nothing recorded


def test_a_trading_flow_after_an_earlier_gate_of_its_products_is_refused(tmp_path):
    # the portfolio trades FCR (gate 08:00): trading at 11:30 could no longer commit it
    with pytest.raises(ConfigError, match="after the fcr_auction gate .* closes fcr"):
        load_flows(flows_file(tmp_path, [TRADING], sites=("de_lu_portfolio_3x",)))


def test_the_same_flow_twice_for_a_site_and_a_free_final_soc_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="configured twice for site de_lu_1mw_2mwh"):
        load_flows(flows_file(tmp_path, [TRADING, TRADING]))
    site = yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text())
    site["assets"][0]["final_soc"] = "free"
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site))
    (tmp_path / "ops.yaml").write_text(yaml.safe_dump({"schema_version": 1, "site": "site.yaml"}))
    doc = yaml.safe_load(flows_file(tmp_path, [TRADING]).read_text())
    doc["sites"] = [str(tmp_path / "ops.yaml")]
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="final_soc: free"):
        load_flows(tmp_path / "flows.yaml")


# ------------------------------------------------------------------------------ time and DST
@pytest.mark.parametrize("day, n", [(date(2023, 3, 26), 92), (date(2023, 6, 6), 96), (date(2023, 10, 29), 100)])
def test_delivery_days_are_local_days_of_23_24_and_25_hours(day, n):
    grid = day_grid(day, "Europe/Berlin")
    assert grid.periods == n
    hourly = trigger_instants(Trigger(hourly=True, offset_min=-5), day, "Europe/Berlin")
    assert len(hourly) == n // 4


def test_cron_and_gate_triggers_keep_local_time_across_dst():
    cron = Trigger(cron="30 14 * * *", delivery="next_day")
    summer = trigger_instants(cron, date(2023, 6, 6), "Europe/Berlin")[0]
    winter = trigger_instants(cron, date(2023, 1, 10), "Europe/Berlin")[0]
    assert (summer.hour, winter.hour) == (12, 13)  # 14:30 CEST and CET in UTC
    assert summer.date() == date(2023, 6, 5)
    gate = trigger_instants(Trigger(gate="day_ahead", offset_min=-30), date(2023, 3, 26), "Europe/Berlin")[0]
    assert gate == datetime(2023, 3, 25, 10, 30, tzinfo=timezone.utc)  # 11:30 CET, the day before the change


# ------------------------------------------------------------------------------- a trading week
def test_a_simulated_week_runs_each_flow_once_per_day_and_settles_at_the_real_prices(tmp_path):
    path = flows_file(tmp_path, [DATA, TRADING, INTRADAY])
    summary = run(path)
    rows = FlowRuns().list(delivery_from="2023-06-05", delivery_to="2023-06-12")
    keys = [(r["flow"], r["site"], r["delivery"]) for r in rows]
    assert len(keys) == len(set(keys)) == 21 and {r["status"] for r in rows} == {"done"}
    assert all(r["attempts"] == 1 for r in rows)
    # every decision was made before its gate and with the forecast's inputs recorded
    trading = [r for r in rows if r["flow"] == "trading"]
    assert all(r["inputs"]["now"] < r["delivery"] for r in trading)
    # the money is the one money model over the book, at the prices the store holds (DE-LU 2023)
    money = summary["settlement"]["de_lu_1mw_2mwh"]
    assert set(money["streams_eur"]) == {"da", "intraday"}
    assert 500 < money["revenue_eur"] < 2500
    assert money["revenue_eur"] == pytest.approx(sum(money["streams_eur"].values()), abs=0.02)
    # run again on a fresh store: the same schedules and money to the cent
    again = run(path, store=f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert again["settlement"] == summary["settlement"]
    first = FlowRuns().list(flow="trading")
    second = FlowRuns(f"sqlite:///{tmp_path / 'other.sqlite'}").list(flow="trading")
    assert [r["outputs"] for r in first] == [r["outputs"] for r in second]
    assert [r["inputs_hash"] for r in first] == [r["inputs_hash"] for r in second]


def test_an_orchestrator_run_again_does_nothing_twice(tmp_path):
    path = flows_file(tmp_path, [DATA, TRADING])
    first = run(path)
    again = run(path)
    assert again["attempts_now"] == 0 and again["settlement"] == first["settlement"]


@pytest.mark.parametrize("first, last, short", [(date(2023, 3, 23), date(2023, 3, 30), "2023-03-26"),
                                                (date(2023, 10, 26), date(2023, 11, 2), "2023-10-29")])
def test_dst_weeks_trade_days_of_23_and_25_hours(tmp_path, first, last, short):
    manual = {"flow": "manual", "at": {"cron": "0 16 * * *", "delivery": "next_day"},
              "days": [short], "params": {"blocks": [{"start": "01:00", "end": "04:00", "mw": 0.2}]}}
    summary = run(flows_file(tmp_path, [DATA, TRADING, INTRADAY, manual]), first, last)
    assert summary["status"] == {"done": 22}
    day = {r["flow"]: r["outputs"] for r in FlowRuns().list(delivery_from=short, delivery_to=short + "Z")}
    n = 92 if short.endswith("26") else 100
    assert len(day["trading"]["schedule"]["net_mw"]) == n
    assert len(day["intraday"]["schedule"]["intraday_mw"]) == n
    # 01:00-04:00 local on a day whose clock jumps (or repeats) an hour: 2 or 4 hours of intervals
    assert day["manual"]["intervals"] == (8 if n == 92 else 16)


# ---------------------------------------------------------------------------------- failures
def test_a_flow_on_bad_data_is_retried_by_the_rule_then_failed_with_its_reason_and_hands_nothing(tmp_path):
    # prices of the wrong year: the data update finds nothing to import, trading nothing to forecast from
    bad = {**DATA, "params": {"day_ahead": "sample:DE_LU_2024"}}
    summary = run(flows_file(tmp_path, [bad, TRADING]), date(2023, 6, 5), date(2023, 6, 7))
    rows = {(r["flow"], r["delivery"]): r for r in FlowRuns().list()}
    trading = rows[("trading", "2023-06-05")]
    assert trading["status"] == "failed" and trading["attempts"] == 3
    # its last attempt met the closed gate; the record keeps what went wrong first
    assert "gate for 2023-06-05 closed" in trading["error"] and "history in the store has gaps" in trading["error"]
    assert trading["outputs"] is None and trading["handed"] is None
    assert "holds no day-ahead prices" in rows[("data_update", "2023-06-05")]["error"]
    assert summary["status"] == {"failed": 4} and summary["settlement"]["de_lu_1mw_2mwh"] is None
    # the retries waited 600 s then 1200 s of clock time (backoff 600, factor 2)
    assert trading["next_try_utc"] is None and trading["attempts"] == 3


def test_a_manual_schedule_beyond_the_site_limits_is_refused_naming_the_interval(tmp_path):
    too_much = {"flow": "manual", "at": {"cron": "0 16 * * *", "delivery": "next_day"},
                "params": {"blocks": [{"start": "00:00", "end": "08:00", "mw": 0.5}]}}  # 4 MWh from a 1 MWh start
    power = {"flow": "manual", "at": {"cron": "0 16 * * *", "delivery": "next_day"},
             "params": {"net_mw": [2.0] + [0.0] * 95}}
    run(flows_file(tmp_path, [too_much]), date(2023, 6, 6), date(2023, 6, 7))
    rec = FlowRuns().list(flow="manual")[0]
    assert rec["status"] == "failed" and "net_mw[" in rec["error"] and "outside 0..2 MWh" in rec["error"]
    assert rec["handed"] is None and rec["outputs"] is None
    (tmp_path / "b").mkdir()
    run(flows_file(tmp_path / "b", [power], name="power"), date(2023, 6, 6), date(2023, 6, 7),
        store=f"sqlite:///{tmp_path / 'p.sqlite'}")
    rec = FlowRuns(f"sqlite:///{tmp_path / 'p.sqlite'}").list(flow="manual")[0]
    assert "net_mw[0]" in rec["error"] and "2 MW is more than the batteries can" in rec["error"]


# ------------------------------------------------------------------------------------ outputs
def test_auction_bids_are_monotone_supply_curves_per_interval(tmp_path):
    auction = {"flow": "auction", "at": {"gate": "day_ahead", "offset_min": -60}}
    run(flows_file(tmp_path, [DATA, auction]), date(2023, 6, 12), date(2023, 6, 13))
    bids = FlowRuns().list(flow="auction")[0]["outputs"]["bids"]
    assert bids["schema"] == "bess-ray/bids/1" and len(bids["intervals"]) == 96
    for iv in bids["intervals"]:
        prices = [p for p, _ in iv["curve"]]
        mw = [q for _, q in iv["curve"]]
        assert prices == sorted(prices) and all(b >= a - 1e-9 for a, b in zip(mw, mw[1:]))
        assert -1.0 - 1e-6 <= mw[0] and mw[-1] <= 1.0 + 1e-6
    assert any(iv["curve"][1][1] < iv["curve"][-2][1] for iv in bids["intervals"])  # the price moves the bid


def test_book_layers_later_pieces_over_earlier_ones_and_leaves_gaps_empty():
    t = ["2023-06-06T00:00:00Z", "2023-06-06T00:15:00Z"]
    plan = compose([{"timestamps": t, "net_mw": [1.0, 1.0]},
                    {"timestamps": ["2023-06-08T00:00:00Z"], "resolution_min": 15, "net_mw": [-1.0]},
                    {"timestamps": t[1:], "resolution_min": 15, "intraday_mw": [0.5]}])
    s = plan.layers["day_ahead"]
    t0 = datetime(2023, 6, 6, tzinfo=timezone.utc).timestamp()
    assert [s.at(t0), s.at(t0 + 900), s.at(t0 + 1800), s.at(t0 + 2 * 86400)] == [1.0, 1.0, None, -1.0]
    assert plan.layers["intraday"].at(t0) is None and plan.layers["intraday"].at(t0 + 900) == 0.5
    money = settle_book(plan, np.array([t0, t0 + 900]), 0.25, {"da": np.array([100.0, 100.0])})
    # 0.5 MWh sold day-ahead at 100, 0.125 MWh bought back intraday at 100
    assert money["streams_eur"] == {"da": 50.0, "intraday": -12.5}


# ------------------------------------------------------------------------------- send & lease
class Receiver(BaseHTTPRequestHandler):
    fail_first = 2
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.seen.append((self.headers["Idempotency-Key"], json.loads(body)))
        code = 503 if len(Receiver.seen) <= Receiver.fail_first else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if code == 200 else b"busy")

    def log_message(self, *a):
        pass


@pytest.fixture
def receiver():
    Receiver.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bids"
    server.shutdown()


def test_send_posts_the_days_outputs_with_one_idempotency_key_through_retries(tmp_path, receiver):
    send = {"flow": "send", "at": {"cron": "0 15 * * *", "delivery": "next_day"},
            "params": {"url": receiver, "backoff_s": 0.01}}
    run(flows_file(tmp_path, [DATA, TRADING, send]), date(2023, 6, 6), date(2023, 6, 7))
    rec = FlowRuns().list(flow="send")[0]
    assert rec["status"] == "done" and rec["outputs"]["tries"] == 3 and rec["outputs"]["status"] == 200
    keys = {k for k, _ in Receiver.seen}
    assert len(Receiver.seen) == 3 and keys == {rec["outputs"]["idempotency_key"]}
    body = Receiver.seen[-1][1]
    assert body["site"] == "de_lu_1mw_2mwh" and set(body["outputs"]) == {"data_update", "trading"}
    assert len(body["outputs"]["trading"]["schedule"]["net_mw"]) == 96


def test_send_fails_at_once_on_a_client_error_and_after_its_tries_on_a_dead_endpoint(tmp_path, receiver):
    Receiver.fail_first = 0
    dead = {"flow": "send", "at": {"cron": "0 15 * * *", "delivery": "next_day"},
            "params": {"url": "http://127.0.0.1:9/none", "attempts": 2, "backoff_s": 0.0, "timeout_s": 1}}
    run(flows_file(tmp_path, [DATA, dead], retries={"attempts": 1, "backoff_s": 0}), date(2023, 6, 6), date(2023, 6, 7))
    rec = FlowRuns().list(flow="send")[0]
    assert rec["status"] == "failed" and "did not take the payload after 2 tries" in rec["error"]
    Receiver.fail_first = 2


def test_one_orchestrator_per_flows_file_and_a_dead_holders_lease_is_taken(tmp_path):
    runs = FlowRuns(open_store())
    assert runs.lease("flows:x", "a") == ""
    assert runs.lease("flows:x", "b") is None  # a live holder (this process)
    runs.db.execute("UPDATE flow_leases SET pid = ? WHERE name = ?", (2 ** 22 + 12345, "flows:x"))
    assert runs.lease("flows:x", "b") == "a"  # its process is gone: taken at once
    runs.release("flows:x", "b")
    assert runs.lease("flows:x", "c") == ""


def test_an_infeasible_day_is_failed_with_the_lps_explanation(tmp_path):
    # a battery that loses energy standing, must end where it began, and may not import: no plan exists
    site = yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text())
    site["poi"]["import_mw"] = 0.0
    site["assets"][0].update(final_soc="equal_initial", standby_loss_per_hour=0.01)
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site))
    doc = yaml.safe_load(flows_file(tmp_path, [DATA, TRADING]).read_text())
    doc["sites"] = [str(tmp_path / "site.yaml")]
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc))
    run(tmp_path / "flows.yaml", date(2023, 6, 6), date(2023, 6, 7))
    rec = FlowRuns().list(flow="trading")[0]
    assert rec["status"] == "failed" and "the LP has no solution" in rec["error"], rec["error"]
    assert rec["outputs"] is None


def _past(tmp_path, missed: str):
    """A manual flow whose triggers are two days before the gate: for today's delivery (begun) and
    tomorrow's (not begun), both triggers have passed when the orchestrator starts on the real clock."""
    manual = {"flow": "manual", "at": {"gate": "day_ahead", "offset_min": -2880},
              "params": {"blocks": [{"start": "10:00", "end": "11:00", "mw": 0.1}]}}
    from zoneinfo import ZoneInfo

    # a delivery day is a day of the zone's local time: after local midnight it is tomorrow in UTC
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    path = flows_file(tmp_path, [manual], missed=missed, name=f"past_{missed}")
    from datetime import timedelta

    Orchestrator(load_flows(path), today, today + timedelta(days=2), executor="inline").run()
    return {r["delivery"]: r for r in FlowRuns().list(flow="manual")}, today


def test_missed_triggers_are_caught_up_until_their_delivery_begins_and_skipped_after(tmp_path):
    from datetime import timedelta

    rows, today = _past(tmp_path, "catch_up")
    begun, ahead = rows[str(today)], rows[str(today + timedelta(days=1))]
    assert begun["status"] == "skipped" and "its delivery period had begun" in begun["error"]
    assert ahead["status"] == "done" and ahead["attempts"] == 1  # caught up at once


def test_missed_triggers_are_all_skipped_with_missed_skip(tmp_path):
    rows, _ = _past(tmp_path, "skip")
    assert {r["status"] for r in rows.values()} == {"skipped"}
    assert all("missed: skip" in r["error"] for r in rows.values())


def test_a_backfill_records_outputs_and_hands_nothing(tmp_path):
    path = flows_file(tmp_path, [DATA, TRADING])
    summary = Orchestrator(load_flows(path), date(2023, 6, 5), date(2023, 6, 7), executor="inline",
                           backfill=True).run()
    assert summary["clock"] == "simulated" and summary["status"] == {"done": 4}
    trading = FlowRuns().list(flow="trading")
    assert all(r["handed"] == {"handed": False, "reason": "backfill: no site takes a past schedule"} for r in trading)


def test_a_trading_run_before_its_history_is_published_names_the_local_day_and_when_it_comes(tmp_path):
    """Trading day D forecasts from D-1, whose prices appear at D-2's gate: a run just before that
    names D-1 (a local day, not the UTC day its first hour falls on) and its publication time; the
    same run after it succeeds. Fixed clocks, so the answer does not depend on the hour of the test."""
    from bess_ray.flows.context import published_at
    from bess_ray.flows.orchestrator import execute
    from bess_ray.operate import load_operation

    site = load_operation(CONFIGS / "operations" / "de_lu_1mw_2mwh_sim.yaml").site.model_dump(mode="json")
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    shown = published_at("da", date(2023, 6, 7)).timestamp()  # D-1 = June 7 of trading day June 8
    for now in (shown - 60, shown + 60):
        out = execute("data_update", "v1", site, "2023-06-07", now, None, {}, {"day_ahead": "sample:DE_LU_2023"},
                      url, None)
        assert out["outputs"]["written"]["da"] > 0, out
    early = execute("trading", "v1", site, "2023-06-08", shown - 60, None, {}, {}, url, None)
    assert early["error"].startswith("forecast of da for 2023-06-08: the history in the store has gaps on "
                                     "2023-06-07 (run"), early
    assert "2023-06-07 is published only at 2023-06-06T11:00:00+00:00" in early["error"]
    late = execute("trading", "v1", site, "2023-06-08", shown + 60, None, {}, {}, url, None)
    assert "error" not in late and late["outputs"]["schedule"], late


def test_trading_v3_forecasts_with_the_learned_model_on_the_visible_history(tmp_path):
    learned = {**TRADING, "version": "v3", "params": {"train_days": 60}}
    data = {**DATA, "params": {**DATA["params"], "history_days": 70}}  # what the model learns from
    path = flows_file(tmp_path, [data, learned])
    run(path, date(2023, 6, 5), date(2023, 6, 7))
    rows = [r for r in FlowRuns().list(flow="trading") if r["status"] == "done"]
    assert [r["version"] for r in rows] == ["v3", "v3"]
    (tmp_path / "again").mkdir()
    again_path = flows_file(tmp_path / "again", [data, learned])
    run(again_path, date(2023, 6, 5), date(2023, 6, 7), store=f"sqlite:///{tmp_path / 'other.sqlite'}")
    other = FlowRuns(f"sqlite:///{tmp_path / 'other.sqlite'}").list(flow="trading")
    assert [r["outputs"]["forecast"] for r in rows] == [r["outputs"]["forecast"] for r in other]  # to the digit
    # not the persistence blend: the model was fitted on the store's two months before the day
    (tmp_path / "blend").mkdir()
    blend = flows_file(tmp_path / "blend", [data, TRADING])
    run(blend, date(2023, 6, 5), date(2023, 6, 6), store=f"sqlite:///{tmp_path / 'blend.sqlite'}")
    persistence = FlowRuns(f"sqlite:///{tmp_path / 'blend.sqlite'}").list(flow="trading")[0]["outputs"]["forecast"]
    assert rows[0]["outputs"]["forecast"]["da"] != persistence["da"]
