"""Control-loop speed: the pure step, a 1 s loop against the field simulator over Modbus TCP, and the
same loop while both cores solve LPs. Prints figures against the issue's targets side by side.

    python scripts/bench_control.py [--cycles 1000] [--period 1.0] [--quick]

--quick runs 60 cycles at 0.1 s (a smoke run, not the figures to quote).
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time

from bess_ray.config import Site
from bess_ray.control.loop import ControlLoop
from bess_ray.control.measurements import DEVICE_RUNNING, Raw
from bess_ray.control.pipeline import Controller, Inputs
from bess_ray.control.schedules import Plan, Series, Wishes
from bess_ray.control.settings import Operation
from bess_ray.devices.fieldsim.run import FieldSim
from bess_ray.net import free_port
from bess_ray.operate import devices_for


def site(n: int) -> Site:
    bats = [dict(type="battery", id=f"b{i}", charge_mw=1.0, discharge_mw=1.0, energy_mwh=2.0) for i in range(n)]
    return Site.from_dict(dict(id=f"bench{n}", zone="DE-LU", poi=dict(import_mw=n * 0.8, export_mw=n * 0.8),
                               assets=bats, markets=dict(products=["da", "fcr"])))


def step_us(n: int, repeats: int = 3000) -> float:
    c = Controller.of(Operation(site=site(n)))
    state = c.initial()
    wishes = Wishes(day_ahead_mw=0.5 * n, reserves=(("fcr", 0.2 * n),))
    times = []
    for k in range(repeats):
        t = 1000.0 + k
        raws = tuple(Raw({"power_mw": a.last_mw + (1e-5 if k % 2 else -1e-5), "soc": 0.5, "charge_limit_mw": 1.0,
                          "discharge_limit_mw": 1.0, "state": DEVICE_RUNNING, "alarms": 0,
                          "frequency_hz": 50.0 + 0.01 * ((k % 7) - 3)}, received=t, timestamp=t) for a in state.assets)
        inputs = Inputs(t, raws, wishes)
        t0 = time.perf_counter()
        state, _ = c.step(state, inputs)
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times[100:])


def _burn(seconds: float) -> None:
    """An LP sweep's worth of CPU: HiGHS solving real one-day LPs until time is up."""
    from bess_ray.optimization import optimize

    end = time.time() + seconds
    while time.time() < end:
        optimize("configs/sites/de_lu_1mw_2mwh.yaml", "sample:DE_LU_2023", start="2023-06-05", end="2023-06-12")


async def loop_figures(cycles: int, period: float) -> dict:
    s = site(1)
    op = Operation(site=s, control=dict(period_s=period, max_age_s=max(3.0, period), reversion_s=max(5, int(3 * period) + 1)))
    sim = FieldSim.of(s)
    port = free_port()
    server = await sim.serve_modbus(port=port)
    physics = asyncio.create_task(sim.run_physics())
    now = time.time()
    loop = ControlLoop(Controller.of(op), devices_for(op, f"modbus://127.0.0.1:{port}"),
                       Plan({"day_ahead": Series((now - 60,), (0.5,), now + 10 * cycles * period)}, {}))
    dev = loop.devices[0]
    await loop.cycle()  # connect and scan outside the measured cycles
    reads = []
    for _ in range(200):
        t0 = time.perf_counter()
        for start, count in dev.spans:
            await dev._regs(start, count)
        reads.append(time.perf_counter() - t0)
    loop.timing.lateness_s.clear()
    loop.timing.read_to_write_s.clear()
    timing = await loop.run(cycles)
    await loop.close()
    physics.cancel()
    await server.shutdown()
    out = timing.summary()
    out["drift_ms"] = 1000 * timing.lateness_s[-1]
    reads.sort()
    out["read_p50_ms"], out["read_p99_ms"] = 1000 * reads[len(reads) // 2], 1000 * reads[int(0.99 * len(reads))]
    out["requests"] = len(dev.spans)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--period", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.cycles, a.period = 60, 0.1

    one, eight = step_us(1), step_us(8)
    print("pure pipeline step (median)            figure      target   ratio")
    print(f"  one asset                           {one:8.1f} us   50 us   {one / 50:5.2f}")
    print(f"  site of 8 assets                    {eight:8.1f} us  500 us   {eight / 500:5.2f}")

    idle = asyncio.run(loop_figures(a.cycles, a.period))
    procs = [mp.Process(target=_burn, args=(a.cycles * a.period + 30,)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(5)  # let the solvers get going
    busy = asyncio.run(loop_figures(a.cycles, a.period))
    for p in procs:
        p.terminate()

    print(f"\n{a.cycles} cycles of {a.period:g} s against the field simulator over Modbus TCP")
    print("                                      idle      2 cores solving LPs   targets (idle / busy)")
    for key, label, target in (("drift_ms", "drift at the last cycle", "5 / -"),
                               ("lateness_p50_ms", "lateness p50", "- / -"),
                               ("lateness_p99_ms", "lateness p99", "20 / 50"),
                               ("missed", "missed cycles", "0 / 0"),
                               ("read_p50_ms", f"SunSpec block read p50 ({idle['requests']} requests)", "-"),
                               ("read_p99_ms", "SunSpec block read p99", "-"),
                               ("read_to_write_p50_ms", "measurement -> command written p50", "-"),
                               ("read_to_write_p99_ms", "measurement -> command written p99", "-")):
        unit = "" if key == "missed" else "ms"
        print(f"  {label:<36}{idle[key]:8.2f} {unit:<2}  {busy[key]:10.2f} {unit:<2}       {target}")


if __name__ == "__main__":
    main()
