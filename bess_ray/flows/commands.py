"""`bess-ray flows ...`: run the orchestrator, backfill, trigger one run, list the history."""
from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime, timedelta, timezone

from .registry import FlowError, catalogue
from .spec import load_flows

ROW = "{trigger_utc:<21} {flow:<16} {version:<4} {site:<20} {delivery:<11} {period:<18} {status:<10} {attempts:>3}  {error}"


def run(path: str, *, clock: str = "real", first: str | None = None, last: str | None = None, sites: bool = True,
        backfill: bool = False, address: str | None = None, as_json: bool = False, quiet: bool = False,
        pace: float = 0.0, out=sys.stdout) -> int:
    """The orchestrator over [first, last) (real clock without --to: rolling, until interrupted)."""
    from .orchestrator import Orchestrator, SiteLink

    flows = load_flows(path)  # a bad file stops here, before anything runs
    simulated = clock == "simulated" or backfill
    if simulated and not (first and last):
        raise FlowError("a simulated clock (and a backfill) needs --from and --to")
    start = date.fromisoformat(first) if first else datetime.now(timezone.utc).date()
    log = None if quiet or as_json else (lambda line: print(line, file=out, flush=True))
    link = None
    ray_needed = sites and not backfill
    from ..cluster.runtime import ensure_ray
    from ..store import open_store

    ensure_ray(address)  # flows run as Ray tasks
    store = open_store()
    try:
        if ray_needed:
            link = SiteLink(flows, store.db.url, simulated=simulated)
        while True:
            end = date.fromisoformat(last) if last else start + timedelta(days=2)
            summary = Orchestrator(flows, start, end, store=store.db.url, clock=clock, sites=link,
                                   backfill=backfill, log=log, pace_s=pace).run()
            if last:
                break
            time.sleep(60)  # rolling: plan again as the days move on
            start = datetime.now(timezone.utc).date()
    finally:
        if link is not None:
            link.close()
    if as_json:
        print(json.dumps(summary, indent=1), file=out)
    else:
        print(describe(summary), file=out)
    return 1 if summary["status"].get("failed") else 0


def describe(s: dict) -> str:
    lines = [f"flows {s['flows']}: {s['window'][0]}..{s['window'][1]} ({s['clock']} clock), {s['runs']} runs: "
             + ", ".join(f"{n} {k}" for k, n in sorted(s["status"].items())),
             f"  {s['attempts_now']} attempts in {s['wall_s']:.1f} s ({s['task_s']:.1f} s in the flows, "
             f"orchestrator overhead {s['overhead_ms_per_run']:.1f} ms per run)"]
    for site, m in s["settlement"].items():
        if not m:
            lines.append(f"  {site}: no schedule")
        elif "error" in m:
            lines.append(f"  {site}: {m['error']}")
        else:
            streams = ", ".join(f"{k} {v:,.2f}" for k, v in m["streams_eur"].items())
            lines.append(f"  {site}: {m['revenue_eur']:,.2f} EUR at the real prices ({streams})")
    return "\n".join(lines)


def history(*, site=None, flow=None, status=None, as_json=False, limit=1000, out=sys.stdout) -> int:
    from ..store.flow_runs import FlowRuns

    rows = FlowRuns().list(site=site, flow=flow, status=status, limit=limit)
    if as_json:
        print(json.dumps([public(r) for r in rows], indent=1), file=out)
        return 0
    if not rows:
        print("no flow runs", file=out)
        return 0
    print(ROW.format(trigger_utc="trigger (UTC)", flow="flow", version="ver", site="site", delivery="delivery",
                     period="period", status="status", attempts="try", error="error"), file=out)
    for r in rows:
        print(ROW.format(**{**r, "error": (r["error"] or "")[:100]}), file=out)
    return 0


def public(r: dict) -> dict:
    """A run record as the CLI's --json and the HTTP API show it."""
    return {"run_id": r["run_id"], "flow": r["flow"], "version": r["version"], "site": r["site"],
            "delivery": r["delivery"], "period": r["period"], "trigger": r["trigger_utc"], "status": r["status"],
            "attempts": r["attempts"], "next_try": r["next_try_utc"], "error": r["error"],
            "inputs_hash": r["inputs_hash"], "inputs": r["inputs"], "outputs": r["outputs"], "handed": r["handed"],
            "started": r["started_utc"], "finished": r["finished_utc"]}


def trigger(path: str, flow: str, site: str, delivery: str, hour: str | None = None, address: str | None = None,
            out=sys.stdout) -> int:
    from ..cluster.runtime import ensure_ray
    from ..store import open_store
    from .orchestrator import Orchestrator, SiteLink

    flows = load_flows(path)
    ensure_ray(address)
    store = open_store()
    link = SiteLink(flows, store.db.url, simulated=False, start=False)
    day = date.fromisoformat(delivery)
    rec = Orchestrator(flows, day, day + timedelta(days=1), store=store.db.url, sites=link).trigger(flow, site, day, hour)
    print(json.dumps(public(rec) | {"already": rec.get("already", False)}, indent=1), file=out)
    return 0 if rec["status"] in ("done", "succeeded") else 1


def listing(out=sys.stdout) -> int:
    for f in catalogue():
        print(f"{f.name:<16} {f.version:<3} per {f.period:<4} {'hands a schedule' if f.hands_schedule else '':<17} {f.doc}",
              file=out)
    return 0
