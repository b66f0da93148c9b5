"""The operating half's commands: `bess-ray control` and `bess-ray fieldsim` (no Ray: one loop in
this process), and `bess-ray operate` (live sites as Ray actors behind the HTTP API).

`control` wires an operations config to device adapters (or to a field simulator started in this
process), runs the control loop on absolute deadlines and prints every command with its reason. The
actors of `cluster/sites.py` run the same `ControlLoop`.
"""
from __future__ import annotations

import asyncio
import contextlib
import sys

from .control.loop import ControlLoop
from .control.pipeline import Controller
from .control.replay import Recorder, replay
from .control.schedule_files import read_plan
from .control.schedules import EMPTY
from .control.settings import load_operation
from .net import free_port


def devices_for(operation, device: str | None, sim_port: int | None = None) -> list:
    """One adapter per battery: `device` (sim, modbus://HOST:PORT, mqtt://HOST:PORT/PREFIX) for all,
    or each asset's own from the operations file. For modbus:// without a unit, units count 1, 2, ..."""
    from .devices.connect import adapter

    return [adapter(url, b.id, register_map=operation.asset(b.id).register_map, reversion_s=operation.control.reversion_s)
            for b, url in zip(operation.batteries, operation.device_urls(device, sim_port))]


async def control(path: str, device: str | None = None, schedule: str | None = None, cycles: int | None = None,
                  record: str | None = None, quiet: bool = False, out=sys.stdout) -> dict:
    """Run the control loop of a site; returns the loop's timing summary."""
    operation = load_operation(path)
    controller = Controller.of(operation)
    plan = read_plan(schedule) if schedule else EMPTY
    uses_sim = (device or "") == "sim" or (device is None and any(operation.asset(b.id).device == "sim"
                                                                   for b in operation.batteries))
    async with contextlib.AsyncExitStack() as stack:
        port = None
        if uses_sim:
            from .devices.fieldsim.run import FieldSim

            sim = FieldSim.of(operation.site)
            port = free_port()
            server = await sim.serve_modbus(port=port)
            stack.push_async_callback(server.shutdown)
            physics = asyncio.create_task(sim.run_physics())
            stack.callback(physics.cancel)
            print(f"field simulator on modbus://127.0.0.1:{port} (unit ids 1..{len(sim.units)})", file=out)

        def show(commands, errors) -> None:
            if quiet:
                return
            print(f"cycle {commands[0].cycle}", file=out)
            for c, e in zip(commands, errors):
                print(f"  {c.describe()}" + (f"  WRITE FAILED: {e}" if e else ""), file=out)
            out.flush()

        recorder = Recorder(record, controller) if record else None
        loop = ControlLoop(controller, devices_for(operation, device, port), plan, recorder=recorder, on_cycle=show)
        stack.push_async_callback(loop.close)
        try:
            timing = await loop.run(cycles)
        finally:  # leave every device at 0 kW on the way out (its reversion timeout is the backstop)
            await asyncio.gather(*(d.write(0.0, "shutdown") for d in loop.devices), return_exceptions=True)
        return timing.summary()


async def fieldsim(path: str, modbus_port: int = 5020, mqtt: str | None = None, faults: str | None = None,
                   host: str = "127.0.0.1", seconds: float | None = None, out=sys.stdout) -> None:
    """Serve a site's batteries as simulated devices until interrupted (or for `seconds`)."""
    from .devices.fieldsim.faults import read_faults
    from .devices.fieldsim.run import FieldSim

    operation = load_operation(path)
    ids = [b.id for b in operation.batteries]
    sim = FieldSim.of(operation.site, faults=read_faults(faults, ids) if faults else [])
    server = await sim.serve_modbus(host=host, port=modbus_port)
    tasks = [asyncio.create_task(sim.run_physics())]
    print(f"field simulator (a test tool: plain TCP, no credentials) for site {operation.site.id}:", file=out)
    print(f"  Modbus TCP {host}:{modbus_port}, SunSpec base 40000, unit ids: "
          + ", ".join(f"{i + 1} = {a}" for i, a in enumerate(ids)), file=out)
    if mqtt:
        from .devices.fieldsim.mqtt import serve_mqtt

        tasks.append(asyncio.create_task(serve_mqtt(sim, mqtt)))
        print(f"  MQTT {mqtt}, topics {mqtt.rstrip('/').rsplit('/', 1)[-1] if mqtt.count('/') > 2 else 'bess'}/<asset>/...",
              file=out)
    out.flush()
    try:
        if seconds is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(seconds)
    finally:
        for t in tasks:
            t.cancel()
        await server.shutdown()


def replay_file(path: str, out=sys.stdout) -> int:
    n, diffs = replay(path)
    for d in diffs:
        print(d, file=out)
    print(f"replayed {n} cycles: " + ("every command identical" if not diffs else f"{len(diffs)} commands differ"),
          file=out)
    return 1 if diffs else 0


def demo_schedule(operation, now: float) -> dict:
    """Today's and tomorrow's day-ahead plan of the site on the bundled DE-LU 2023 prices re-stamped
    to this year (energy only, whatever the site's zone): what `operate --sim` runs from the first
    minute, so that a newcomer sees the battery move."""
    from datetime import datetime, timedelta, timezone

    from .control.site_schedules import payload_from_frame
    from .optimization import optimize

    today = datetime.fromtimestamp(now, timezone.utc).date()
    result = optimize(operation.site, f"sample:DE_LU_2023@{today.year}", start=str(today),
                      end=str(today + timedelta(days=2)), products=["da"])
    return payload_from_frame(result.site_schedule)


def operate(paths: list[str], *, sim: bool = False, sim_modbus_port: int | None = None, port: int = 8000,
            host: str = "127.0.0.1", address: str | None = None, schedule: str | None = None,
            seconds: float | None = None, out=sys.stdout) -> int:
    """Live sites: one actor per site and per asset on Ray (started or joined), the field simulator
    with `sim`, and the HTTP API with the operator endpoints; until interrupted (or `seconds`)."""
    import time

    from ray import serve

    from .cluster.launch import start_simulator, start_site, stop_site
    from .cluster.runtime import ensure_ray
    from .control.site_schedules import to_payload
    from .serve.app import build_app
    from .store import open_store

    operations = [load_operation(p) for p in paths]
    ensure_ray(address)
    store = open_store()
    started, handles = [], []  # the driver holds every handle: Ray ends an actor nobody holds
    try:
        for k, op in enumerate(operations):
            sim_port = None
            if sim:
                sim_port = (sim_modbus_port + k) if sim_modbus_port else op.simulator.modbus_port
                handles.append(start_simulator(op, sim_port))
                print(f"field simulator of {op.site.id} on modbus://127.0.0.1:{sim_port} (a test tool)", file=out)
            site = start_site(op, store=store.db.url, sim_port=sim_port)
            handles.append(site)
            started.append(op)
            if schedule:
                payload, source = to_payload(read_plan(schedule)), schedule
            elif sim:
                payload, source = demo_schedule(op, time.time()), "demo: today's plan on DE-LU 2023 prices"
            else:
                payload = None
            if payload is not None:
                import ray

                accepted = ray.get(site["site"].set_schedule.remote(payload, source, "bess-ray operate"))
                print(f"  schedule v{accepted['version']} ({source})", file=out)
            print(f"site {op.site.id}: actors site:{op.site.id} and "
                  + ", ".join(f"asset:{op.site.id}/{b.id}" for b in op.batteries) + " in namespace bess", file=out)
        serve.start(http_options={"host": host, "port": port})
        serve.run(build_app({"store": store.db.url}), name="bess-ray", route_prefix="/")
        print(f"API on http://{host}:{port} (docs at /docs); status at /v1/sites/SITE, live page at /sites/SITE "
              "(bess-ray keys create --role viewer); Ctrl-C stops the sites (0 kW) and the API", file=out)
        out.flush()
        end = time.time() + seconds if seconds is not None else None
        while end is None or time.time() < end:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for op in started:
            stop_site(op.site.id, [b.id for b in op.batteries])
        with contextlib.suppress(Exception):
            serve.delete("bess-ray")
    return 0
