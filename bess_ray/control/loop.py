"""The control loop: the shell around the pure pipeline that owns the clock and the devices.

Each cycle starts on an absolute deadline (start + k x period): read every device at once, step the
pipeline, write every command at once (each read back by its adapter), record. A cycle that overruns
skips the deadlines it missed (counted) rather than bunching them. Devices are anything with
`async read() -> Raw`, `async write(mw, command_id) -> error | None` and `async close()`; the loop
never imports an adapter.

`LoopThread` gives a loop (or a device) an event loop on a thread of its own, so that what else
runs in the process (Ray's calls, queries) never delays a cycle.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from collections import deque
from dataclasses import dataclass, field

from ..clock import RealClock
from .pipeline import Command, Controller, Inputs, OperatorAction
from .schedules import EMPTY, Plan


KEPT = 86_400  # the figures of the last day of 1 s cycles: a loop that runs for months keeps no more


@dataclass
class Timing:
    """Lateness of each cycle's start against its deadline, and what one cycle took."""

    lateness_s: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT))
    read_to_write_s: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT))
    missed: int = 0

    def summary(self) -> dict:
        def pct(xs, q):
            xs = sorted(xs)  # one copy: the loop may append meanwhile (queries run on other threads)
            return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
        return {"cycles": len(self.lateness_s), "missed": self.missed,
                "lateness_p50_ms": 1000 * pct(self.lateness_s, 0.5), "lateness_p99_ms": 1000 * pct(self.lateness_s, 0.99),
                "read_to_write_p50_ms": 1000 * pct(self.read_to_write_s, 0.5),
                "read_to_write_p99_ms": 1000 * pct(self.read_to_write_s, 0.99)}


class ControlLoop:
    def __init__(self, controller: Controller, devices: list, plan: Plan = EMPTY, clock=None, recorder=None,
                 on_cycle=None):
        if len(devices) != len(controller.assets):
            raise ValueError(f"{len(devices)} devices for {len(controller.assets)} batteries")
        self.controller, self.devices, self.plan = controller, devices, plan
        self.clock = clock or RealClock()
        self.recorder, self.on_cycle = recorder, on_cycle
        self.state = controller.initial()
        self.pending: deque[OperatorAction] = deque()  # appended from other threads (operators)
        self.write_errors: tuple[str | None, ...] = (None,) * len(devices)
        self.timing = Timing()
        self.last: tuple[Command, ...] = ()
        self.start_t: float | None = None

    def act(self, action: OperatorAction) -> None:
        """An operator action, taken at the next cycle."""
        self.pending.append(action)

    async def cycle(self) -> tuple[Command, ...]:
        raws = tuple(await asyncio.gather(*(d.read() for d in self.devices)))
        now = self.clock.now()
        actions = tuple(self.pending.popleft() for _ in range(len(self.pending)))
        inputs = Inputs(now, raws, self.plan.at(now), actions, self.write_errors)
        before = self.state
        self.state, commands = self.controller.step(before, inputs)
        self.write_errors = tuple(await asyncio.gather(*(d.write(c.setpoint_mw, c.id)
                                                         for d, c in zip(self.devices, commands))))
        self.timing.read_to_write_s.append(self.clock.now() - now)
        if self.recorder is not None:
            self.recorder.record(before, inputs, commands)
        self.last = commands
        if self.on_cycle is not None:
            self.on_cycle(commands, self.write_errors)
        return commands

    async def run(self, cycles: int | None = None, stop: asyncio.Event | None = None) -> Timing:
        """Run `cycles` cycles (None: until `stop` is set or the task is cancelled)."""
        period = self.controller.period_s
        start = self.start_t = self.clock.now()
        k = done = 0
        while (cycles is None or done < cycles) and not (stop is not None and stop.is_set()):
            deadline = start + k * period
            await self.clock.sleep_until(deadline)
            late = self.clock.now() - deadline
            if late >= period:  # overran: skip to the current slot, count what was missed
                skip = math.floor(late / period)
                self.timing.missed += skip
                k += skip
                deadline = start + k * period
                late = self.clock.now() - deadline
            self.timing.lateness_s.append(late)
            await self.cycle()
            done += 1
            k += 1
        return self.timing

    async def close(self) -> None:
        await asyncio.gather(*(d.close() for d in self.devices), return_exceptions=True)
        if self.recorder is not None:
            self.recorder.close()


class LoopThread:
    """An asyncio event loop on a thread of its own: what a control loop or a device runs on."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro):
        """Await `coro` on this thread's loop from another loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
