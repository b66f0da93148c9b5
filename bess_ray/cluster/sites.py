"""Live sites on Ray: one named actor per site (`site:{site}`) and per asset (`asset:{site}/{asset}`)
in namespace `bess`, and the field simulator as an actor for `--sim`.

Plain classes wrapped with `ray.remote`, so that tests can also drive them without Ray:

- `AssetHost` owns its device adapter on its own event-loop thread. It applies the site's commands
  (each once, by id; clipped to its rating as a last line of defence), and its watchdog writes 0 kW
  by itself when no valid command has come for a command's validity, so that a dead or cut-off site
  loop leaves the device at 0 kW. (The device's own reversion timeout covers a dead asset actor.)
- `SiteHost` runs the site's control loop: the pipeline of `control/` (validation, state machine,
  POI limit and split, priority resolution, ramp and limiters) over its assets, on absolute
  deadlines, on its own thread. It holds the versioned schedule, takes operator actions, writes
  telemetry and events to the store in batches, and persists what is safety-relevant (operator
  stop and its reason, e-stop, maintenance, latched modes, the schedule's version); a restarted site
  restores it and, as at every start, sends 0 kW until its assets report fresh valid measurements.

Queries read immutable snapshots on Ray's threads (the "query" concurrency group) and never wait
for, or delay, a cycle.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections import deque

import ray

from ..clock import RealClock, SimulatedClock
from ..control.loop import ControlLoop, LoopThread
from ..control.pipeline import AssetState, Controller, OperatorAction, SiteState
from ..control.schedules import EMPTY, Plan
from ..control.settings import Operation
from ..control.site_schedules import check, iso, plan_from_payload, revise, to_payload
from ..control.states import AssetMode, Mode
from ..errors import DataError
from ..store.operations import OperationsStore

NAMESPACE = "bess"
LATCHED = (Mode.FAULT, Mode.EMERGENCY_STOP, Mode.MAINTENANCE)


def site_name(site: str) -> str:
    return f"site:{site}"


def asset_name(site: str, asset: str) -> str:
    return f"asset:{site}/{asset}"


# ---------------------------------------------------------------------------------------- assets
class AssetHost:
    """One battery asset: its device, its last command, its watchdog."""

    def __init__(self, site: str, asset: str, device_url: str, *, rating_mw: float, period_s: float,
                 reversion_s: int, register_map: str | None = None, store: str | None = None) -> None:
        from ..devices.connect import adapter

        self.site, self.asset, self.url = site, asset, device_url
        self.rating = rating_mw
        self.period = period_s
        self.ops = OperationsStore(store)
        self.name = asset_name(site, asset)
        restored = self.ops.load_state(self.name) or {}
        self.last_id: str | None = restored.get("command_id")  # a retried call after a restart: applied once
        self.last_mw = 0.0
        self.last_error: str | None = None
        self.valid_until = 0.0  # after a (re)start nothing is valid: 0 kW until the site commands again
        self.fallbacks = 0
        self.applied = 0  # commands written to the device (a retried one is not counted again)
        self.zero_confirmed = False  # the watchdog's 0 kW was taken by the device (until the next command)
        self.thread = LoopThread(self.name)
        self.device = adapter(device_url, asset, register_map=register_map, reversion_s=reversion_s)
        # a (re)started asset first puts its device at 0 kW and refuses the site's first command, so
        # that the site's state machine sees the restart and waits for good cycles before power
        self.accepting = False
        with contextlib.suppress(Exception):
            self.thread.submit(self.device.write(0.0, f"start/{asset}")).result(timeout=10)
        self.thread.submit(self._watchdog())

    async def read(self):
        """The device's measurements now (a `control.measurements.Raw`)."""
        return await self.thread.run(self.device.read())

    async def write(self, setpoint_mw: float, command_id: str, valid_until: float) -> str | None:
        """Apply one command of the site; an error text if the device did not confirm it."""
        if command_id and command_id == self.last_id:
            return self.last_error  # the same command again (a retried call): not applied twice
        if not self.accepting:
            self.accepting = True
            self.last_id, self.last_error = command_id, "asset actor (re)started: 0 kW until the site has good cycles"
            return self.last_error
        mw = max(-self.rating, min(self.rating, setpoint_mw))
        error = await self.thread.run(self.device.write(mw, command_id))
        self.applied += 1
        self.last_id, self.last_mw, self.last_error = command_id, mw, error
        self.zero_confirmed = False
        self.valid_until = valid_until
        self.thread.submit(asyncio.to_thread(self.ops.save_state, self.name,
                                             {"command_id": command_id, "mw": mw, "t": time.time()}))
        return error

    async def _watchdog(self) -> None:
        """0 kW when no valid command has come: the site loop is gone, late or cut off."""
        while True:
            await asyncio.sleep(self.period)
            if time.time() > self.valid_until and not self.zero_confirmed:  # again each period until taken
                self.fallbacks += 1
                command_id = f"watchdog/{self.asset}/{self.fallbacks}"
                try:
                    self.last_error = await self.device.write(0.0, command_id)
                except Exception as e:  # noqa: BLE001 - the device's own reversion is the backstop
                    self.last_error = f"{type(e).__name__}: {e}"
                self.last_id, self.last_mw = command_id, 0.0
                self.zero_confirmed = self.last_error is None

    @ray.method(concurrency_group="query")
    def status(self) -> dict:
        return {"asset": self.asset, "device": self.url, "last_command_id": self.last_id, "last_mw": self.last_mw,
                "last_error": self.last_error, "valid_until": self.valid_until, "watchdog_fallbacks": self.fallbacks,
                "applied": self.applied, "pid": os.getpid()}

    def close(self) -> None:
        self.thread.submit(self.device.close())


class _AssetProxy:
    """What the control loop sees as a device: the asset actor behind it. A call that fails or
    does not answer within `timeout_s` is a failed read or write, never a stalled cycle."""

    def __init__(self, handle, valid_s: float, timeout_s: float) -> None:
        self.handle, self.valid_s, self.timeout_s = handle, valid_s, timeout_s

    async def read(self):
        try:
            return await asyncio.wait_for(self.handle.read.remote(), self.timeout_s)
        except (ray.exceptions.RayError, asyncio.TimeoutError) as e:  # every value missing: validation stops it
            from ..control.measurements import Raw

            return Raw({}, received=time.time(), error=f"asset actor did not answer: {type(e).__name__}")

    async def write(self, setpoint_mw: float, command_id: str = "") -> str | None:
        try:
            return await asyncio.wait_for(
                self.handle.write.remote(setpoint_mw, command_id, time.time() + self.valid_s), self.timeout_s)
        except (ray.exceptions.RayError, asyncio.TimeoutError) as e:
            return f"asset actor did not answer: {type(e).__name__}"

    async def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------- sites
class SiteHost:
    """One site's control loop, schedule, operator actions, telemetry and persisted state."""

    def __init__(self, operation: dict, *, store: str | None = None, telemetry_s: float = 5.0,
                 clock: str = "real") -> None:
        self.operation = Operation.model_validate(operation)
        # the clock the site's schedules are judged by (what is past, locked, due): real, or the
        # simulated time of a flows run (`advance`); the device loop keeps real time with the devices
        self.clock = SimulatedClock() if clock == "simulated" else RealClock()
        self.controller = Controller.of(self.operation)
        self.id = self.operation.site.id
        self.name = site_name(self.id)
        self.ops = OperationsStore(store)
        self.ops.define_telemetry(self.id, list(self.controller.assets))
        self.telemetry_s = telemetry_s
        saved = self.ops.load_state(self.name) or {}
        self.stopped = saved.get("stopped")
        # every store write of this site, in order and off the loop's thread: a cycle's save can
        # never land after (and undo) an operator's
        self.writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{self.name} store")
        newest = self.ops.schedule(self.id)
        plan = plan_from_payload(newest["payload"], f"v{newest['version']}") if newest else EMPTY
        control = self.operation.control
        devices = [_AssetProxy(ray.get_actor(asset_name(self.id, a), namespace=NAMESPACE), control.command_valid_s,
                               0.8 * control.period_s) for a in self.controller.assets]
        self.loop = ControlLoop(self.controller, devices, plan, on_cycle=self._after_cycle)
        self.loop.state = self._restored(saved)
        self.rows: list = []
        self.events: deque = deque()
        self.last_flush = time.time()
        self.shown: dict[str, tuple] = {}
        self.saved = self._safety()
        self._event(None, "start", "restored after a restart: 0 kW until measurements are valid" if saved
                    else "started")
        self.thread = LoopThread(self.name)
        self.thread.submit(self.loop.run())

    def _restored(self, saved: dict) -> SiteState:
        """The persisted safety state on a fresh loop: the operator stop (site-wide, its one record)
        and latched modes stay; any other mode starts from OFFLINE, so power waits for fresh valid
        measurements. (The schedule is the newest stored version.)"""
        stop = f"operator stop: {self.stopped['reason']}" if self.stopped else None
        assets = []
        for a in self.controller.assets:
            s = (saved.get("assets") or {}).get(a, {})
            mode = Mode(s.get("mode", "OFFLINE"))
            restored = AssetMode(mode, s.get("reason", "")) if mode in LATCHED else AssetMode(Mode.OFFLINE, "restarted")
            assets.append(AssetState(mode=restored, stop=stop, estop=s.get("estop"), maintenance=s.get("maintenance")))
        return SiteState(assets=tuple(assets))

    def _safety(self) -> dict:
        return {"stopped": self.stopped,
                "assets": {a: {"mode": s.mode.mode.value, "reason": s.mode.reason, "estop": s.estop,
                               "maintenance": s.maintenance}
                           for a, s in zip(self.controller.assets, self.loop.state.assets)}}

    def _persist(self) -> None:
        """Save the safety state if it changed (checked on the loop's thread, written on the writer's)."""
        safety = self._safety()
        if safety != self.saved:
            self.saved = safety
            self.writer.submit(self.ops.save_state, self.name, safety)

    def _event(self, asset: str | None, kind: str, text: str) -> None:
        self.events.append((time.time(), asset, kind, text))

    def _after_cycle(self, commands, errors) -> None:
        snap = self.loop.state.snapshot
        for c, r, e in zip(commands, snap.readings, errors):
            self.rows.append((snap.t, c.asset, {"power_mw": r["power_mw"].value, "soc_frac": r["soc"].value,
                                                "command_mw": c.setpoint_mw}))
            seen = (c.mode, c.decided_by, e is None)  # a change of decision, not of wording
            if self.shown.get(c.asset) != seen:
                self.shown[c.asset] = seen
                self._event(c.asset, "command", c.describe() + (f"  WRITE FAILED: {e}" if e else ""))
        self._persist()
        if time.time() - self.last_flush >= self.telemetry_s:
            self.last_flush = time.time()
            rows, self.rows = self.rows, []
            events = [self.events.popleft() for _ in range(len(self.events))]
            self.writer.submit(self._flush, rows, events)

    def _flush(self, rows, events) -> None:
        self.ops.write_telemetry(self.id, rows)
        self.ops.add_events(self.id, events)

    # ------------------------------------------------------------------------------ operators
    def stop(self, reason: str, by: str | None = None) -> dict:
        """Stop every asset of the site at the next cycle (SAFE_STOP, 0 kW); kept across restarts."""
        if not reason.strip():
            raise DataError("stop: give a reason")
        self.stopped = {"reason": reason, "by": by, "since": iso(time.time())}
        self.loop.act(OperatorAction("stop", None, reason))
        self.writer.submit(self.ops.save_state, self.name, self._safety()).result()  # kept before we answer
        self._event(None, "stop", f"operator stop by {by or 'unknown'}: {reason}")
        return self.status()

    def resume(self, by: str | None = None) -> dict:
        self.stopped = None
        self.loop.act(OperatorAction("start", None, "resume"))
        self.writer.submit(self.ops.save_state, self.name, self._safety()).result()
        self._event(None, "resume", f"resumed by {by or 'unknown'}")
        return self.status()

    def acknowledge(self, asset: str | None = None, by: str | None = None) -> dict:
        if asset is not None and asset not in self.controller.assets:
            raise DataError(f"ack: {asset!r} is not an asset of site {self.id} ({', '.join(self.controller.assets)})")
        self.loop.act(OperatorAction("ack", asset, f"by {by or 'unknown'}"))
        self._event(asset, "ack", f"faults acknowledged by {by or 'unknown'}")
        return self.status()

    def set_schedule(self, payload: dict, source: str = "upload", by: str | None = None) -> dict:
        """Check a new schedule against the site's limits and make it the active version; the past
        and committed reserves stay as they were."""
        now = self.clock.now()
        new = plan_from_payload(payload)
        site = self.operation.site
        check(new, import_mw=site.poi.import_mw, export_mw=site.poi.export_mw,
              rated_mw=sum(max(b.charge_mw, b.discharge_mw) for b in site.batteries),
              products=set(_reserve_products(site)),
              now=now)
        merged = revise(self.loop.plan, new, now, "")
        stored = to_payload(merged)
        version = self.ops.add_schedule(self.id, stored, source, by)
        self.loop.plan = Plan(merged.layers, merged.reserves, f"v{version}")
        self._event(None, "schedule", f"schedule v{version} from {source} by {by or 'unknown'}")
        return {"site": self.id, "version": version, "source": source, "intervals": len(stored["timestamps"]),
                "accepted_at": iso(now)}

    def advance(self, t: float) -> float:
        """Move a simulated schedule clock on to `t` (never back); the clock's time."""
        if isinstance(self.clock, SimulatedClock):
            self.clock.t = max(self.clock.t, t)
        return self.clock.now()

    # -------------------------------------------------------------------------------- queries
    @ray.method(concurrency_group="query")
    def status(self) -> dict:
        """The site as its last cycle saw it (an immutable snapshot) and what it asks now."""
        state = self.loop.state  # one immutable state: the snapshot and the modes of one cycle
        snap = state.snapshot
        timing = self.loop.timing.summary()
        assets = []
        for i, a in enumerate(self.controller.assets):
            s = state.assets[i]
            out = {"id": a, "state": s.mode.mode.value, "reason": s.mode.reason, "stop": s.stop, "estop": s.estop,
                   "power_mw": None, "soc_frac": None, "command_mw": None, "reasons": [], "decided_by": None,
                   "alarms": None, "allowed_mw": [0.0, 0.0], "measured": "no cycle yet"}
            if snap is not None:
                r, c = snap.readings[i], snap.commands[i]
                limits = next((st for st in c.steps if st.layer == "limits"), None)
                out.update(power_mw=r["power_mw"].value, soc_frac=r["soc"].value, command_mw=c.setpoint_mw,
                           reasons=list(c.reasons), decided_by=c.decided_by, alarms=r["alarms"].value,
                           allowed_mw=[limits.lo, limits.hi] if limits else [0.0, 0.0],
                           measured="; ".join(r.problems()) or "valid")
            assets.append(out)
        modes = [x["state"] for x in assets]
        site_state = ("STOPPED" if self.stopped else next((m for m in ("EMERGENCY_STOP", "FAULT") if m in modes), None)
                      or ("RUNNING" if any(m in ("RUNNING", "DERATED") for m in modes) else modes[0]))
        return {"site": self.id, "state": site_state, "stopped": self.stopped, "pid": os.getpid(),
                "schedule_version": self.loop.plan.version or None, "cycle": snap.cycle if snap else 0,
                "time": iso(snap.t) if snap else None, "frequency_hz": snap.frequency_hz if snap else None,
                "wishes": _wishes(snap.wishes) if snap else None, "assets": assets,
                "timing": {k: (round(v, 3) if isinstance(v, float) and v == v else v) for k, v in timing.items()}}

    @ray.method(concurrency_group="query")
    def timing(self, reset: bool = False) -> dict:
        """The loop's lateness and missed cycles since the last reset."""
        summary = self.loop.timing.summary()
        if reset:
            from ..control.loop import Timing

            self.loop.timing = Timing()
        return summary

    @ray.method(concurrency_group="query")
    def schedule(self, version: int | None = None) -> dict | None:
        return self.ops.schedule(self.id, version)

    def close(self) -> None:
        self.thread.submit(self.loop.close())


def _wishes(w) -> dict:
    return {"day_ahead_mw": w.day_ahead_mw, "intraday_mw": w.intraday_mw, "obligation_mw": w.obligation_mw,
            "reserves_mw": dict(w.reserves), "version": w.version}


def _reserve_products(site) -> list[str]:
    from ..markets import PRODUCTS

    return [p for p in site.markets.products if p in PRODUCTS and PRODUCTS[p].is_reserve]


# ---------------------------------------------------------------------------------- the simulator
class FieldSimHost:
    """The field simulator of a site, serving its batteries over Modbus TCP (a test tool)."""

    def __init__(self, site: dict, port: int, host: str = "127.0.0.1") -> None:
        from ..config import Site
        from ..devices.fieldsim.run import FieldSim

        self.sim = FieldSim.of(Site.model_validate(site))
        self.host, self.port = host, port
        self.thread = LoopThread("fieldsim")
        self.server = self.thread.submit(self.sim.serve_modbus(host, port)).result(timeout=30)
        self.thread.submit(self.sim.run_physics())

    def units(self) -> list[dict]:
        return [{"asset": u.asset, "setpoint_mw": u.plant.setpoint_mw, "power_mw": u.plant.power_mw,
                 "soc": u.plant.soc, "reverted": u.plant.reverted} for u in self.sim.units]

    def inject(self, fault: dict) -> str:
        return self.thread.submit(_call(self.sim.inject, fault)).result(timeout=10).kind

    def clear(self, kind: str | None = None, asset: str | None = None) -> None:
        self.thread.submit(_call(self.sim.clear, kind, asset)).result(timeout=10)

    def drop_connections(self, down_s: float = 0.0) -> None:
        """Close the server and every connection (a cut cable), and listen again after `down_s`."""
        async def cycle():
            await self.server.shutdown()
            await asyncio.sleep(down_s)
            self.server = await self.sim.serve_modbus(self.host, self.port)
        self.thread.submit(cycle()).result(timeout=30 + down_s)


async def _call(fn, *args):
    return fn(*args)


CONTROL = {"num_cpus": 0, "max_restarts": -1, "max_task_retries": 2, "concurrency_groups": {"query": 8}}
AssetActor = ray.remote(**CONTROL)(AssetHost)
SiteActor = ray.remote(**CONTROL)(SiteHost)
FieldSimActor = ray.remote(num_cpus=0, max_restarts=-1)(FieldSimHost)


__all__ = ["AssetActor", "AssetHost", "FieldSimActor", "FieldSimHost", "SiteActor", "SiteHost",
           "asset_name", "site_name"]
