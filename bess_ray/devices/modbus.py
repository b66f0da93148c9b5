"""The Modbus TCP adapter (pymodbus async client): translates, never decides.

- Bounded: every request times out after `timeout_s`, no retries inside pymodbus (the next cycle is
  the retry); a failed request closes the connection, and reconnects back off from 0.5 s to 8 s.
- SunSpec devices are scanned once per connection (marker, model chain); point addresses follow from
  the model definitions. The needed registers are read in as few requests as fit (<= 125 registers).
- Every setpoint write is read back: a device that did not take it is reported, not trusted.
- Fail-safe by itself: on connect, the SunSpec 704 reversion is armed (WSetRvrt 0 W, WSetRvrtTms);
  each write restarts the device's timer, and the controller heartbeat (802 CtrlHb) counts up, so a
  device whose controller died falls to 0 W on its own.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ..control.measurements import (ALARM_BMS_TRIP, ALARM_ESTOP, ALARM_INVERTER_FAULT, ALARM_OVER_TEMPERATURE, Raw)
from . import sunspec
from .registers import STATE_NAMES, Plain, RegisterMap, Value

EPOCH_2000 = 946684800.0
MAX_READ = 125
ALARM_BITS = {"bms_trip": ALARM_BMS_TRIP, "inverter_fault": ALARM_INVERTER_FAULT, "estop": ALARM_ESTOP,
              "over_temperature": ALARM_OVER_TEMPERATURE}


class DeviceError(Exception):
    """A device did not answer, answered with an exception, or answered nonsense."""


class Waiting(DeviceError):
    """Not connected, and the next attempt is not due yet (backing off)."""


@dataclass(frozen=True)
class _Addr:
    address: int
    point: sunspec.PointDef
    sf: "_Addr | None" = None
    fixed_sf: int = 0


class ModbusDevice:
    def __init__(self, host: str, port: int, unit: int, rmap: RegisterMap, *, timeout_s: float = 0.5,
                 reversion_s: int = 5, clock=time.time):
        self.host, self.port, self.unit, self.map = host, port, unit, rmap
        self.timeout_s, self.reversion_s, self.clock = timeout_s, reversion_s, clock
        self.client = None
        self.addrs: dict[str, _Addr] = {}
        self.spans: list[tuple[int, int]] = []
        self.backoff_s = 0.0
        self.next_attempt = 0.0
        self.heartbeat = 0
        self.reconnects = 0
        self.image: dict[int, int] = {}  # the last read's registers
        # one exchange at a time: a read, a write and a watchdog's write may come at once, and two
        # concurrent reconnects would close each other's connection
        self._serial = asyncio.Lock()

    @property
    def name(self) -> str:
        return f"modbus://{self.host}:{self.port}/{self.unit}"

    # -- connection ------------------------------------------------------------------------------
    async def _ensure(self) -> None:
        if self.client is not None and self.client.connected:
            return
        now = self.clock()
        if now < self.next_attempt:
            raise Waiting(f"not connected; next attempt in {self.next_attempt - now:.1f} s")
        from pymodbus.client import AsyncModbusTcpClient

        self.client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0,
                                           reconnect_delay=0)  # 0: no reconnect loop inside pymodbus; ours backs off
        try:
            if not await self.client.connect():
                raise DeviceError(f"cannot connect to {self.host}:{self.port}")
            await self._resolve()
            if self.map.reversion:
                await self._arm_reversion()
        except Exception as e:
            self._drop()
            raise e if isinstance(e, DeviceError) else DeviceError(f"{type(e).__name__}: {e}") from None
        self.backoff_s = 0.0
        self.reconnects += 1

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None
        self.backoff_s = min(max(0.5, 2 * self.backoff_s), 8.0)
        self.next_attempt = self.clock() + self.backoff_s

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def _regs(self, address: int, count: int) -> list[int]:
        r = await self.client.read_holding_registers(address, count=count, device_id=self.unit)
        if r.isError():
            raise DeviceError(f"read {address}+{count}: {r}")
        if len(r.registers) != count:
            raise DeviceError(f"read {address}+{count}: {len(r.registers)} registers in the answer")
        return r.registers

    async def _write(self, address: int, values: list[int]) -> None:
        r = await self.client.write_registers(address, values, device_id=self.unit)
        if r.isError():
            raise DeviceError(f"write {address}: {r}")

    async def _resolve(self) -> None:
        """Addresses of every point the map names (a SunSpec scan when the map is SunSpec)."""
        starts: dict[int, int] = {}
        if self.map.kind == "sunspec":
            bases = (self.map.base,) if self.map.base is not None else sunspec.BASES
            for base in bases:
                try:
                    if tuple(await self._regs(base, 2)) == sunspec.MARKER:
                        break
                except DeviceError:
                    continue
            else:
                raise DeviceError(f"no SunSpec marker at {', '.join(map(str, bases))}")
            a = base + 2
            while True:
                mid, length = await self._regs(a, 2)
                if mid == sunspec.END:
                    break
                starts[mid] = a
                a += 2 + length
        self.addrs = {}

        def addr(ref) -> _Addr:
            if isinstance(ref, Plain):
                return _Addr(ref.address, ref.definition(), fixed_sf=ref.sf)
            model, _, name = ref.partition(".")
            model = int(model)
            if model not in starts:
                raise DeviceError(f"the device has no SunSpec model {model} (has {sorted(starts)})")
            p = sunspec.point(model, name)
            sf = _Addr(starts[model] + sunspec.point(model, p.sf).offset, sunspec.point(model, p.sf)) if p.sf else None
            return _Addr(starts[model] + p.offset, p, sf)

        for key, v in self.map.values.items():
            self.addrs[key] = addr(v.point)
            if v.times is not None:
                self.addrs[f"{key}:times"] = addr(v.times)
        for i, al in enumerate(self.map.alarms):
            self.addrs[f"alarm:{i}"] = addr(al.point)
        if self.map.timestamp is not None:
            self.addrs["timestamp"] = addr(self.map.timestamp.point)
        self.addrs["setpoint"] = addr(self.map.setpoint.point)
        if self.map.heartbeat is not None:
            self.addrs["heartbeat"] = addr(self.map.heartbeat)
        self._starts = starts
        regs = sorted({r for k, a in self.addrs.items() if k != "heartbeat" for x in (a, a.sf) if x
                       for r in range(x.address, x.address + x.point.size)})
        self.spans = []
        for r in regs:  # merge into requests of at most 125 registers, bridging gaps below 32
            if self.spans and r - self.spans[-1][0] < MAX_READ and r - (self.spans[-1][0] + self.spans[-1][1]) < 32:
                self.spans[-1] = (self.spans[-1][0], r - self.spans[-1][0] + 1)
            else:
                self.spans.append((r, 1))

    async def _arm_reversion(self) -> None:
        s = self._starts[704]
        p = sunspec.points(704)
        for name, v in (("WSetMod", 1), ("WSetRvrt", 0), ("WSetEnaRvrt", 1), ("WSetRvrtTms", self.reversion_s),
                        ("WSet", 0), ("WSetEna", 1)):
            await self._write(s + p[name].offset, sunspec.encode(v, p[name]))

    # -- reading ---------------------------------------------------------------------------------
    async def read(self) -> Raw:
        async with self._serial:
            return await self._read()

    async def _read(self) -> Raw:
        try:
            await self._ensure()
            image: dict[int, int] = {}
            for start, count in self.spans:
                for i, r in enumerate(await self._regs(start, count)):
                    image[start + i] = r
        except Exception as e:
            if not isinstance(e, DeviceError):
                e = DeviceError(f"{type(e).__name__}: {e}")
            if not isinstance(e, Waiting):  # a call while backing off must not extend the backoff
                self._drop()
            self.image = {}
            return Raw({}, received=self.clock(), error=str(e))
        self.image = image
        return self._translate(image, self.clock())

    def _raw(self, image: dict[int, int], key: str) -> tuple[int | None, int]:
        a = self.addrs[key]
        raw = sunspec.decode([image[a.address + i] for i in range(a.point.size)], a.point)
        sf = a.fixed_sf
        if a.sf is not None:
            sf = sunspec.decode([image[a.sf.address]], a.sf.point)
            if sf is None:
                return None, 0
        return raw, sf

    def _scaled(self, image, key: str, v: Value) -> float | None:
        raw, sf = self._raw(image, key)
        if raw is None:
            return None
        value = raw * 10.0 ** sf * v.scale * v.sign
        if v.times is not None:
            t_raw, t_sf = self._raw(image, f"{key}:times")
            if t_raw is None:
                return None
            value *= t_raw * 10.0 ** t_sf
        return value

    def _translate(self, image: dict[int, int], received: float) -> Raw:
        values: dict[str, float | None] = {}
        ni = set()
        for key, v in self.map.values.items():
            if key == "state":
                code, _ = self._raw(image, key)
                name = v.states.get(code) if code is not None else None
                values[key] = float(STATE_NAMES[name]) if name else (None if code is None else -1.0)
            else:
                values[key] = self._scaled(image, key, v)
            if values[key] is None:
                ni.add(key)
        bits = 0
        for i, al in enumerate(self.map.alarms):
            raw, _ = self._raw(image, f"alarm:{i}")
            if raw is not None and (raw == al.equals if al.equals is not None else raw >> al.bit & 1):
                bits |= ALARM_BITS[al.alarm]
        values["alarms"] = float(bits)
        ts = None
        if self.map.timestamp is not None:
            raw, _ = self._raw(image, "timestamp")
            ts = None if raw is None else raw + EPOCH_2000
        return Raw(values, received=received, timestamp=ts, not_implemented=frozenset(ni))

    # -- writing ---------------------------------------------------------------------------------
    async def write(self, setpoint_mw: float, command_id: str = "") -> str | None:
        """Write a setpoint and read it back; None when the device took it, else why not."""
        async with self._serial:
            return await self._write_setpoint(setpoint_mw)

    async def _write_setpoint(self, setpoint_mw: float) -> str | None:
        try:
            await self._ensure()
            a, v = self.addrs["setpoint"], self.map.setpoint
            sf = a.fixed_sf
            if a.sf is not None:  # the setpoint's scale factor, from this cycle's read when it has it
                reg = self.image.get(a.sf.address)
                sf = sunspec.decode([reg if reg is not None else (await self._regs(a.sf.address, 1))[0]], a.sf.point)
                if sf is None:
                    return "the setpoint's scale factor is not implemented"
            raw = round(setpoint_mw / v.sign / v.scale / 10.0 ** (sf or 0))
            limit = 1 << (16 * a.point.size - 1)
            if not -limit <= raw < limit:
                return f"{setpoint_mw} MW does not fit the setpoint register"
            regs = sunspec.encode(raw, a.point)
            await self._write(a.address, regs)
            if "heartbeat" in self.addrs:
                self.heartbeat = (self.heartbeat + 1) & 0xFFFF
                hb = self.addrs["heartbeat"]
                await self._write(hb.address, sunspec.encode(self.heartbeat, hb.point))
            back = await self._regs(a.address, a.point.size)
        except Exception as e:
            if not isinstance(e, Waiting):
                self._drop()
            return str(e) if isinstance(e, DeviceError) else f"{type(e).__name__}: {e}"
        if list(back) != regs:
            return f"read back {sunspec.decode(back, a.point)} after writing {raw}"
        return None
