"""The orchestrator: runs a flows file's flows at their triggers, each as a Ray task, exactly once
per (flow, site, delivery period), and hands their schedules to the sites.

- **Plan.** For every delivery day of the window, each entry's trigger instants (gate table, cron or
  hourly) for each of its sites; a run record per (flow, site, period) is created once in the store.
- **Run.** In trigger order, on the clock it is given: real time (it sleeps until a trigger) or
  simulated (time jumps to the next trigger, so a week runs as fast as the machine allows). Runs
  due at the same instant run side by side across sites and in file order within a site (a data
  update before the trading that reads it).
- **Retry.** A failed attempt is recorded with its reason and tried again after `backoff_s` x
  `factor`^(attempt-1) clock seconds, up to `attempts`; then the run is `failed`. A failed run hands
  nothing: a schedule reaches a site only from a run that returned all of its outputs.
- **Exactly once.** Outputs are stored before the hand-off, and the hand-off carries the run's id as
  its source: a run whose schedule the site already holds is not handed again. A killed orchestrator
  started again resumes from the records: done runs stay done, a run that was running runs again
  (flows are deterministic functions of their recorded inputs), a stored but unhanded schedule is
  handed. One orchestrator per flows file holds a lease in the store.
- **Missed triggers** (real clock: triggers that passed while no orchestrator ran): with
  `missed: catch_up` (the default) a run whose delivery period has not begun runs at once, one whose
  period has begun is skipped with that reason; with `missed: skip` every missed run is skipped.
- **Backfill** (`backfill=True`): a past window on a simulated clock, outputs recorded, nothing
  handed (a site cannot deliver the past).
"""
from __future__ import annotations

import hashlib
import heapq
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ..clock import RealClock, SimulatedClock
from ..markets import get_zone
from ..store import open_store
from ..store.flow_runs import FINISHED, FlowRuns, run_id
from ..store.operations import OperationsStore
from ..timegrid import TimeGrid, local_date, local_midnight_utc, utc_iso
from .book import compose, payload, settle_book
from .context import FlowContext, day_grid, price_point, stored_on_grid
from .registry import FlowError, get_flow
from .spec import Flows, trigger_instants


@dataclass(frozen=True, order=True)
class Planned:
    at: float  # the trigger (UTC epoch seconds)
    entry: int  # the entry's place in the file: runs due together run in file order
    site: str
    rid: str
    flow: str
    version: str
    delivery: date
    period_start: float | None  # hourly flows: the hour


def execute(flow: str, version: str, site: dict, delivery: str, now: float, period_start: float | None,
            earlier: dict, params: dict, store_url: str, base_dir: str | None) -> dict:
    """One attempt of one run (what a Ray task runs): {'outputs': ...} or {'error': reason}."""
    from ..config import Site

    t0 = time.perf_counter()
    try:
        f = get_flow(flow, version)
        ctx = FlowContext(flow, version, Site.model_validate(site), date.fromisoformat(delivery), now,
                          open_store(store_url), period_start, earlier, Path(base_dir) if base_dir else None)
        out = {"outputs": f.fn(ctx, f.params.model_validate(params))}
    except FlowError as e:
        out = {"error": str(e)}
    except Exception as e:  # noqa: BLE001 - a bug or an unexpected input is a failed attempt, recorded
        out = {"error": f"{type(e).__name__}: {e}"}
    out["seconds"] = time.perf_counter() - t0
    return out


class SiteLink:
    """Hands schedules to the sites' actors (started here, or the live ones of `bess-ray operate`)."""

    def __init__(self, flows: Flows, store_url: str, *, simulated: bool, sim_devices: bool = True,
                 start: bool = True) -> None:
        import ray

        from ..cluster.launch import site_handle, start_simulator, start_site
        from ..net import free_port

        self.ops = OperationsStore(store_url)
        self.handles: dict = {}
        self.mine: list[str] = []  # sites started here (stopped on close)
        self.simulators: list = []
        self.held: list = []  # every handle this link started: Ray ends an actor nobody holds
        for op in flows.operations.values():
            handle = None if simulated else site_handle(op.site.id)
            if handle is None and not start:
                continue
            if handle is None:
                port = None
                if sim_devices:
                    port = free_port()
                    self.simulators.append(start_simulator(op, port))
                started = start_site(op, store=store_url, sim_port=port, clock="simulated" if simulated else "real")
                self.held.append(started)
                self.mine.append(op.site.id)
                handle = started["site"]
            self.handles[op.site.id] = handle
        self.ray = ray
        self.operations = flows.operations

    def hand(self, site: str, body: dict, source: str, now: float) -> dict:
        version = self.ops.has_source(site, source)
        if version is not None:  # handed before a kill: the site holds it already
            return {"version": version, "already": True}
        handle = self.handles.get(site)
        if handle is None:
            return {"handed": False, "reason": f"site {site} is not live (bess-ray operate starts it)"}
        self.ray.get(handle.advance.remote(now))
        return self.ray.get(handle.set_schedule.remote(body, source, "bess-ray flows"))

    def schedule(self, site: str) -> dict | None:
        return self.ray.get(self.handles[site].schedule.remote())

    def close(self) -> None:
        """Stop the sites this link started (0 kW first) and their simulators; live ones stay."""
        from ..cluster.launch import stop_site

        for site in self.mine:
            op = self.operations[site]
            stop_site(site, [b.id for b in op.batteries], wait_s=2.0)
        for sim in self.simulators:
            try:
                self.ray.kill(sim, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


class Orchestrator:
    def __init__(self, flows: Flows, first: date, last: date, *, store: str | None = None, clock: str = "real",
                 sites: SiteLink | None = None, executor: str = "ray", backfill: bool = False, log=None,
                 pace_s: float = 0.0) -> None:
        if last <= first:
            raise FlowError(f"--to {last} must be after --from {first}")
        self.flows, self.first, self.last = flows, first, last
        self.store = open_store(store)
        self.store_url = self.store.db.url
        self.runs = FlowRuns(self.store)
        self.clock = SimulatedClock() if clock == "simulated" or backfill else RealClock()
        self.simulated = isinstance(self.clock, SimulatedClock)
        self.sites, self.backfill = sites, backfill
        self.executor = executor
        self.owner = uuid.uuid4().hex[:12]
        self.log = log or (lambda *_: None)
        self.task_seconds = 0.0
        self.attempts = 0
        self._remote = None
        self._errors: dict[str, str] = {}  # a run's error of its previous attempt
        self.pace_s = pace_s  # simulated clock: wall seconds per trigger instant (to watch a run)

    # ---------------------------------------------------------------------------------- plan
    def plan(self) -> list[Planned]:
        out = []
        for i, entry in enumerate(self.flows.spec.flows):
            for site in self.flows.sites_of(entry):
                tz = get_zone(self.flows.operations[site].site.zone).timezone
                # data is imported for the day before the window too: its first trading day needs history
                day = self.first - timedelta(days=1) if entry.flow == "data_update" else self.first
                while day < self.last:
                    if entry.days is None or day in entry.days:
                        for t in trigger_instants(entry.at, day, tz):
                            start = None
                            if entry.at.hourly:
                                start = t - timedelta(minutes=entry.at.offset_min)
                                period = start.strftime("%Y-%m-%dT%H:%MZ")
                            else:
                                period = str(day)
                            out.append(Planned(t.timestamp(), i, site, run_id(entry.flow, site, period), entry.flow,
                                               entry.version, day, start.timestamp() if start else None))
                    day += timedelta(days=1)
        return sorted(out)

    # ----------------------------------------------------------------------------------- run
    def run(self) -> dict:
        self.lease_name = lease = f"flows:{self.flows.name}"
        if self.runs.lease(lease, self.owner) is None:
            raise FlowError(f"another orchestrator is running {self.flows.name} (its lease is in the store)")
        t0 = time.perf_counter()
        try:
            planned = self.plan()
            for p in planned:
                self.runs.add(p.rid, p.flow, p.version, p.site, str(p.delivery),
                              p.rid.split("/", 2)[2], utc_iso(p.at))
            queue = self._queue(planned)
            while queue:
                due = queue[0][0]
                self._wait(due)
                batch = []
                while queue and queue[0][0] == due:
                    batch.append(heapq.heappop(queue)[1])
                for wave in _waves(batch):
                    self._renew()
                    for p, retry_at in self._attempt(wave):
                        if retry_at is not None:
                            heapq.heappush(queue, (retry_at, p))
        finally:
            self.runs.release(lease, self.owner)
        wall = time.perf_counter() - t0
        return self.summary(wall)

    def _queue(self, planned: list[Planned]) -> list:
        """What is left to do, by due time: new and interrupted runs at their triggers, retries at
        their next try, stored but unhanded schedules at once; missed triggers by the file's rule."""
        queue = []
        now = self.clock.now()
        for p in planned:
            rec = self.runs.get(p.rid)
            if rec["status"] in FINISHED:
                continue
            due = p.at
            if rec["status"] == "retry" and rec["next_try_utc"]:
                due = _epoch(rec["next_try_utc"])
            if not self.simulated and due < now - 1.0 and rec["status"] in ("pending", "retry"):
                begins = self._period_start(p)
                if self.flows.spec.missed == "skip" or begins <= now:
                    why = "missed trigger" + (" (missed: skip)" if self.flows.spec.missed == "skip"
                                              else ": its delivery period had begun")
                    self.runs.skipped(p.rid, f"{why} ({utc_iso(p.at)}, orchestrator started {utc_iso(now)})")
                    continue
                due = now  # caught up
            queue.append((due, p))
        heapq.heapify(queue)
        if self.simulated and queue:
            self.clock.t = max(self.clock.t, queue[0][0])
        return queue

    def _period_start(self, p: Planned) -> float:
        if p.period_start is not None:
            return p.period_start
        tz = get_zone(self.flows.operations[p.site].site.zone).timezone
        return float(local_midnight_utc(p.delivery, tz).astype("datetime64[us]").astype(np.int64) / 1e6)

    def _wait(self, due: float) -> None:
        if self.simulated:
            self.clock.t = max(self.clock.t, due)
            if self.pace_s:
                time.sleep(self.pace_s)
        else:
            while (left := due - self.clock.now()) > 0:
                self._renew()  # a waiting orchestrator keeps its lease
                time.sleep(min(left, 10.0))

    def _renew(self) -> None:
        if self.runs.lease(self.lease_name, self.owner) is None:
            raise FlowError(f"lost the lease on {self.flows.name} to another orchestrator: stopping")

    def _attempt(self, wave: list[Planned], retry: bool = True) -> list[tuple[Planned, float | None]]:
        """One attempt of each run of a wave, side by side; (run, next try or None) for each. Only
        the lease holder takes over a run left `running` (by a killed orchestrator)."""
        now = self.clock.now()
        jobs = []
        for p in wave:
            rec = self.runs.get(p.rid)
            if rec["status"] in FINISHED:
                continue
            if rec["status"] == "succeeded":  # outputs stored before a kill: only the hand-off is left
                jobs.append((p, None, {"outputs": rec["outputs"], "seconds": 0.0}))
                continue
            entry = self.flows.spec.flows[p.entry]
            op = self.flows.operations[p.site]
            earlier = {k: v for k, v in self.runs.outputs(p.site, str(p.delivery)).items() if k != p.flow}
            args = (p.flow, p.version, op.site.model_dump(mode="json"), str(p.delivery), now, p.period_start,
                    earlier, entry.params, self.store_url, str(self.flows.base_dir))
            inputs = {"flow": p.flow, "version": p.version, "site": p.site, "delivery": str(p.delivery),
                      "now": utc_iso(now), "period_start": p.period_start, "params": entry.params,
                      "earlier": {k: _digest(v) for k, v in earlier.items()}}
            if rec.get("error"):
                self._errors[p.rid] = rec["error"]
            attempt = self.runs.start(p.rid, inputs, _digest({**inputs, "site_config": args[2]}), self.owner,
                                      take_running=retry)
            if attempt is None:
                if not retry:  # a trigger from outside met a run in progress
                    raise FlowError(f"flow run {p.rid} is running now (since {rec['started_utc']}): try later")
                continue
            jobs.append((p, attempt, args))
        results = self._execute([a for _, n, a in jobs if n is not None])
        out = []
        it = iter(results)
        for p, attempt, args in jobs:
            result = args if attempt is None else next(it)
            self.task_seconds += result.get("seconds", 0.0)
            out.append((p, self._finish(p, attempt, result, now, retry)))
        return out

    def _execute(self, calls: list[tuple]) -> list[dict]:
        if not calls:
            return []
        self.attempts += len(calls)
        if self.executor == "inline":
            return [execute(*c) for c in calls]
        import ray

        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=0)(execute)
        refs = [self._remote.remote(*c) for c in calls]
        out = []
        for ref in refs:
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayError as e:  # a worker that died: a failed attempt
                out.append({"error": f"the Ray task failed: {type(e).__name__}: {e}", "seconds": 0.0})
        return out

    def _finish(self, p: Planned, attempt: int | None, result: dict, now: float, retry: bool = True) -> float | None:
        flow = get_flow(p.flow, p.version)
        if "error" in result:
            before = self._errors.get(p.rid)
            if before and before != result["error"] and attempt and attempt > 1:  # keep what went wrong first
                result["error"] = f"{result['error']} (earlier attempt: {before.split(' (earlier attempt: ')[0]})"
            retries = self.flows.retries(self.flows.spec.flows[p.entry])
            if retry and attempt is not None and attempt < retries.attempts:
                retry_at = now + retries.backoff_s * retries.factor ** (attempt - 1)
                self.runs.failed(p.rid, result["error"], utc_iso(retry_at))
                self.log(f"{utc_iso(now)} {p.rid}: attempt {attempt} failed, retry at {utc_iso(retry_at)}: "
                         f"{result['error']}")
                return retry_at
            self.runs.failed(p.rid, result["error"], None)
            self.log(f"{utc_iso(now)} {p.rid}: FAILED after {attempt} attempts: {result['error']}")
            return None
        outputs = result["outputs"]
        hands = flow.hands_schedule and outputs.get("schedule") is not None
        if attempt is not None:
            self.runs.succeeded(p.rid, outputs, hands)
        if hands:
            receipt = self._hand(p, now)
            if receipt.get("handed") is False and self.sites is not None and not self.backfill:
                self.log(f"{utc_iso(now)} {p.rid}: outputs stored, not handed: {receipt['reason']}")
                return None  # stays `succeeded`: the next orchestrator hands it
            self.runs.handed(p.rid, receipt)
        self.log(f"{utc_iso(now)} {p.rid}: done")
        return None

    def _hand(self, p: Planned, now: float) -> dict:
        """The site's schedule from today on, with this run's piece, to the site's actor."""
        if self.sites is None or self.backfill:
            return {"handed": False, "reason": "backfill: no site takes a past schedule" if self.backfill
                    else "no sites attached (outputs only)"}
        tz = get_zone(self.flows.operations[p.site].site.zone).timezone
        today = local_date(np.datetime64(int(now * 1e6), "us"), tz)
        pieces = self.pieces(p.site, today)
        receipt = self.sites.hand(p.site, payload(pieces), f"flow:{p.rid}", now)
        if receipt.get("handed") is False:
            return receipt
        begins = self._period_start(p)
        return {**receipt, "handed": True, "handed_at": utc_iso(now), "delivery_starts": utc_iso(begins),
                "before_delivery": now < begins}

    def pieces(self, site: str, from_day: date, to_day: date | None = None) -> list[dict]:
        rows = self.runs.list(site=site, delivery_from=str(from_day), delivery_to=str(to_day) if to_day else None)
        return [r["outputs"]["schedule"] for r in rows
                if r["status"] in ("succeeded", "done") and r["outputs"] and r["outputs"].get("schedule")]

    def trigger(self, flow: str, site: str, delivery: date, hour: str | None = None) -> dict:
        """Run one (flow, site, delivery) now, once: a run that is done is not run again (its record
        is the answer, with `already`); a failed or skipped one gets one more attempt."""
        entry = next((i for i, e in enumerate(self.flows.spec.flows)
                      if e.flow == flow and site in self.flows.sites_of(e)), None)
        if entry is None:
            raise FlowError(f"flow {flow!r} is not configured for site {site!r} in {self.flows.path.name}")
        e = self.flows.spec.flows[entry]
        start = None
        if e.at.hourly:
            if not hour:
                raise FlowError(f"flow {flow} runs per hour: give the hour (ISO, UTC)")
            start = datetime.fromisoformat(hour.replace("Z", "+00:00")).astimezone(timezone.utc)
            period = start.strftime("%Y-%m-%dT%H:%MZ")
        else:
            period = str(delivery)
        now = self.clock.now()
        p = Planned(now, entry, site, run_id(flow, site, period), flow, e.version, delivery,
                    start.timestamp() if start else None)
        self.runs.add(p.rid, flow, e.version, site, str(delivery), period, utc_iso(now))
        rec = self.runs.get(p.rid)
        if rec["status"] == "done":
            return {**rec, "already": True}
        self._attempt([p], retry=False)
        return self.runs.get(p.rid)

    # ------------------------------------------------------------------------------- results
    def settlement(self, site: str) -> dict | None:
        """The money of the window's book of a site at the real prices in the store."""
        op = self.flows.operations[site]
        tz = get_zone(op.site.zone).timezone
        pieces = self.pieces(site, self.first, self.last)
        if not pieces:
            return None
        start, end = day_grid(self.first, tz).start, day_grid(self.last - timedelta(days=1), tz).end
        grid = TimeGrid(start, int((end - start) // np.timedelta64(15, "m")), 15)
        prices = {}
        for product in [*op.site.markets.products, "intraday"]:
            values = stored_on_grid(self.store, price_point(op.site.zone, product), grid)
            if product == "da" and np.isnan(values).any():
                return {"error": f"day-ahead prices of {self.first}..{self.last} are not all in the store"}
            if not np.isnan(values).any():
                prices[product] = values
        ts = grid.timestamps.astype("datetime64[us]").astype(np.int64) / 1e6
        return settle_book(compose(pieces), ts, grid.dt_hours, prices)

    def summary(self, wall: float) -> dict:
        rows = self.runs.list(delivery_from=str(self.first), delivery_to=str(self.last))
        mine = [r for r in rows if r["site"] in self.flows.operations]
        by_status: dict[str, int] = {}
        for r in mine:
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        money = {s: self.settlement(s) for s in self.flows.operations}
        return {"flows": self.flows.name, "window": [str(self.first), str(self.last)],
                "clock": "simulated" if self.simulated else "real", "runs": len(mine), "status": by_status,
                "attempts_now": self.attempts, "wall_s": round(wall, 3), "task_s": round(self.task_seconds, 3),
                "overhead_ms_per_run": round(1000 * max(wall - self.task_seconds, 0.0) / max(self.attempts, 1), 2),
                "settlement": money}


def _waves(batch: list[Planned]) -> list[list[Planned]]:
    """Runs due at one instant: sites side by side, each site's runs in file order."""
    by_site: dict[str, list[Planned]] = {}
    for p in sorted(batch, key=lambda p: (p.entry, p.site)):
        by_site.setdefault(p.site, []).append(p)
    depth = max(len(v) for v in by_site.values())
    return [[v[k] for v in by_site.values() if k < len(v)] for k in range(depth)]


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
