"""The field simulator: one SunSpec unit per battery of a site, their faults, and the wire servers.

`FieldSim(site)` builds the plants (Modbus unit ids 1, 2, ... in the site's battery order, SunSpec base
40000); `await sim.serve_modbus(port)` serves them over Modbus TCP with pymodbus's server (each
request passes `_action`, where faults act); `await sim.serve_mqtt(url)` runs them as MQTT devices
too. A test tool: plain TCP, no credentials.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from .faults import Fault
from .plant import Plant
from .unit import Unit

log = logging.getLogger(__name__)
TICK_S = 0.1


@dataclass
class _Scheduled:
    fault: Fault
    origin: float  # the time its at_s counts from


@dataclass
class FieldSim:
    units: list[Unit]
    faults: list[_Scheduled] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    clock: object = time.time
    _active: dict[int, set[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, site, faults: list[Fault] = (), frequency=None, seed: int = 0, **plant) -> "FieldSim":
        units = [Unit(b.id, Plant.of(b, **plant), frequency=frequency, seed=seed + i)
                 for i, b in enumerate(site.batteries)]
        sim = cls(units)
        for f in faults:
            sim.faults.append(_Scheduled(f, sim.started))
        return sim

    def unit(self, asset: str) -> Unit:
        return next(u for u in self.units if u.asset == asset)

    # -- faults at run time ----------------------------------------------------------------------
    def inject(self, fault: Fault | dict) -> Fault:
        """Start a fault now (its at_s and for_s count from now)."""
        f = fault if isinstance(fault, Fault) else Fault.from_dict(fault, "fault")
        self.faults.append(_Scheduled(f, self.clock()))
        self.apply_faults()
        return f

    def clear(self, kind: str | None = None, asset: str | None = None) -> None:
        """End the faults of a kind (all kinds when None) on an asset (all when None)."""
        self.faults = [s for s in self.faults if not ((kind is None or s.fault.kind == kind)
                                                      and (asset is None or s.fault.applies_to(asset)))]
        self.apply_faults()

    def active(self, unit: Unit, kind: str) -> Fault | None:
        return next((f for f in unit.faults if f.kind == kind), None)

    def apply_faults(self) -> None:
        now = self.clock()
        for u in self.units:
            before = {f.kind for f in u.faults}
            u.faults = [s.fault for s in self.faults if s.fault.applies_to(u.asset) and s.fault.active(now - s.origin)]
            kinds = {f.kind for f in u.faults}
            u.plant.advance(now)
            if "frozen" in kinds and "frozen" not in before:
                u.refresh(now)
                u.frozen_image = list(u.image)
            elif "frozen" not in kinds:
                u.frozen_image = None
            if "stale_timestamp" in kinds and "stale_timestamp" not in before:
                u.clock_stopped_at = now
            elif "stale_timestamp" not in kinds:
                u.clock_stopped_at = None
            if "soc_jump" in kinds and "soc_jump" not in before:
                u.plant.soc = min(max(u.plant.soc + self.active(u, "soc_jump").delta, 0.0), 1.0)
            u.plant.tripped = "bms_trip" in kinds
            u.plant.ignore_setpoints = "ignore_setpoints" in kinds
            slow = self.active(u, "slow_ramp")
            u.plant.ramp_factor = slow.factor if slow else 1.0

    async def run_physics(self) -> None:
        """Advance the plants and the fault schedule every 0.1 s (runs until cancelled)."""
        while True:
            self.apply_faults()
            await asyncio.sleep(TICK_S)

    # -- Modbus TCP --------------------------------------------------------------------------------
    async def _action(self, unit: Unit, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values) -> object:
        from pymodbus.constants import ExcCodes

        while self.active(unit, "no_answer"):  # hold the request until the fault clears; the client times out
            await asyncio.sleep(TICK_S)
            self.apply_faults()
        if f := self.active(unit, "exception"):
            return ExcCodes(f.code)
        now = self.clock()
        if set_values is None:
            values = unit.read(address, count, now)
            registers[address - start_address: address - start_address + count] = values
            return None
        values = [int(v) for v in (set_values if isinstance(set_values, list) else [set_values])]
        if not unit.write(address, values, now):
            return ExcCodes.ILLEGAL_ADDRESS
        return None

    def modbus_devices(self) -> list:
        from functools import partial

        from pymodbus.simulator import DataType, SimData, SimDevice

        return [SimDevice(i + 1, simdata=[SimData(u.base, values=list(u.image), datatype=DataType.REGISTERS)],
                          action=partial(self._action, u)) for i, u in enumerate(self.units)]

    async def serve_modbus(self, host: str = "127.0.0.1", port: int = 5020):
        """Start the Modbus TCP server; returns it once it listens (`await server.shutdown()` ends it)."""
        from pymodbus.server import ModbusTcpServer

        server = ModbusTcpServer(self.modbus_devices(), address=(host, port))
        await server.serve_forever(background=True)
        log.info("field simulator: Modbus TCP on %s:%d, unit ids 1..%d", host, port, len(self.units))
        return server


class FieldSims:
    """Several sites' simulators served over Modbus TCP from one thread of this process (benchmarks
    and tests: their plants can be read directly, without a wire)."""

    def __init__(self, sites, host: str = "127.0.0.1") -> None:
        import socket

        from ...control.loop import LoopThread

        self.thread = LoopThread("fieldsims")
        self.sims, self.ports = [], []
        for site in sites:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
            sim = FieldSim.of(site)
            self.thread.submit(sim.serve_modbus(host, port)).result(timeout=30)
            self.thread.submit(sim.run_physics())
            self.sims.append(sim)
            self.ports.append(port)

    def plant(self, k: int, unit: int = 0):
        return self.sims[k].units[unit].plant


