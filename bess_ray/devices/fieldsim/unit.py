"""One simulated SunSpec device: a plant behind a register image built from the official models.

The image is laid out by pysunspec2 (`Model.get_mb()`: the models' real lengths, not-implemented
values everywhere), then the points the plant drives are written into it before every read. Writes
go through `write()`, which refuses read-only registers as a device does (illegal address) and hands
setpoints, reversion settings and the controller heartbeat to the plant.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from .. import sunspec
from .faults import Fault
from .plant import INV_FAULT, Plant

EPOCH_2000 = 946684800.0  # SunSpec timestamps count seconds from 2000-01-01 UTC
NOMINAL_V = 800.0
# scale factors the simulator uses (10^SF of the unit)
HZ_SF, PCT_SF, V_SF, A_SF = -3, -2, -1, -1
NOISE = 5e-4  # measurement noise on active power, share of rated power (a real meter is never exact)


def _w_sf(max_w: float) -> int:
    """The smallest power-of-ten scale factor at which 1.5 x rated power fits an int16."""
    sf = 0
    while 1.5 * max_w / 10 ** sf > 32767:
        sf += 1
    return sf


@dataclass
class Unit:
    asset: str
    plant: Plant
    base: int = 40000
    frequency: object = None            # callable(t) -> Hz, or None for 50 Hz with noise
    seed: int = 0
    image: list[int] = field(default_factory=list)
    starts: dict[int, int] = field(default_factory=dict)  # model id -> address of its ID register
    faults: list[Fault] = field(default_factory=list)
    frozen_image: list[int] | None = None
    clock_stopped_at: float | None = None

    def __post_init__(self):
        from sunspec2 import device

        self.rng = random.Random(self.seed)
        self.w_sf = _w_sf(self.plant.max_mw * 1e6)
        regs = list(sunspec.MARKER)
        for mid in sunspec.MODELS:
            self.starts[mid] = self.base + len(regs)
            mb = device.Model(mid).get_mb()
            regs += [int.from_bytes(mb[i:i + 2], "big") for i in range(0, len(mb), 2)]
        regs += [sunspec.END, 0]
        self.image = regs
        self._set_static()
        now = time.time()
        if self.plant.t == 0.0:  # a plant starts at the simulator's start, not at the epoch
            self.plant.t = now
        self.refresh(now)

    # -- addressing ----------------------------------------------------------------------------
    def address(self, model: int, name: str) -> int:
        return self.starts[model] + sunspec.point(model, name).offset

    def put(self, model: int, name: str, raw: int | None) -> None:
        p = sunspec.point(model, name)
        a = self.address(model, name) - self.base
        self.image[a:a + p.size] = sunspec.not_implemented(p) if raw is None else sunspec.encode(int(raw), p)

    def get(self, model: int, name: str) -> int | None:
        p = sunspec.point(model, name)
        a = self.address(model, name) - self.base
        return sunspec.decode(self.image[a:a + p.size], p)

    # -- the register image ----------------------------------------------------------------------
    def _set_static(self) -> None:
        pl, w = self.plant, 10.0 ** self.w_sf
        for name, value in (("Mn", "bess-ray"), ("Md", "fieldsim"), ("SN", self.asset), ("Vr", "1")):
            p = sunspec.point(1, name)
            data = value.encode()[: 2 * p.size].ljust(2 * p.size, b"\0")
            a = self.address(1, name) - self.base
            self.image[a:a + p.size] = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
        self.put(1, "DA", 1)
        for name, mw in (("WMaxRtg", pl.max_mw), ("WChaRteMaxRtg", pl.charge_mw), ("WDisChaRteMaxRtg", pl.discharge_mw),
                         ("WMax", pl.max_mw), ("WChaRteMax", pl.charge_mw), ("WDisChaRteMax", pl.discharge_mw)):
            self.put(702, name, round(mw * 1e6 / w))
        self.put(702, "W_SF", self.w_sf)
        self.put(701, "W_SF", self.w_sf)
        self.put(701, "Hz_SF", HZ_SF)
        self.put(701, "ACType", 3)
        for name, v in (("WSetEna", 0), ("WSetMod", 1), ("WSet", 0), ("WSetRvrt", 0), ("WSetEnaRvrt", 1),
                        ("WSetRvrtTms", 0), ("WSetRvrtRem", 0), ("WSetPct", 0), ("WSet_SF", self.w_sf),
                        ("WSetPct_SF", 0), ("WRmp", 100)):
            self.put(704, name, v)
        self.put(713, "WH_SF", 3)
        self.put(713, "Pct_SF", PCT_SF)
        self.put(713, "WHRtg", round(pl.energy_mwh * 1e3))
        self.put(713, "SoH", 100 * 10 ** -PCT_SF)
        for name, sf in (("SoC_SF", PCT_SF), ("V_SF", V_SF), ("AMax_SF", A_SF), ("A_SF", A_SF), ("W_SF", self.w_sf),
                         ("SoH_SF", PCT_SF), ("WHRtg_SF", 3), ("WChaDisChaMax_SF", self.w_sf)):
            self.put(802, name, sf)
        self.put(802, "WHRtg", round(pl.energy_mwh * 1e3))
        self.put(802, "SoCMax", 100 * 10 ** -PCT_SF)
        self.put(802, "SoCMin", 0)
        self.put(802, "CtrlHb", 0)
        self.put(802, "Hb", 0)
        self.put(802, "LocRemCtl", 0)

    def refresh(self, now: float) -> None:
        """Advance the plant to `now` and write what it measures into the image."""
        pl = self.plant
        pl.advance(now)
        pl.reversion_s = self.get(704, "WSetRvrtTms") or 0
        w = 10.0 ** self.w_sf
        noise = self.rng.uniform(-NOISE, NOISE) * pl.max_mw if abs(pl.power_mw) > 1e-6 else 0.0
        self.put(701, "W", round((pl.power_mw + noise) * 1e6 / w))
        self.put(701, "St", 1)
        self.put(701, "InvSt", pl.inverter_state())
        self.put(701, "ConnSt", 0 if pl.tripped else 1)
        self.put(701, "Alrm", 0)
        hz = self.frequency(now) if self.frequency else 50.0 + self.rng.uniform(-0.02, 0.02)
        self.put(701, "Hz", round(hz * 10 ** -HZ_SF))
        soc = round(pl.soc * 100 * 10 ** -PCT_SF)
        self.put(713, "SoC", soc)
        self.put(713, "WHAvail", round(pl.soc * pl.energy_mwh * 1e3))
        self.put(713, "Sta", 2 if pl.tripped else 0)
        self.put(802, "SoC", soc)
        cha, dis = pl.bms_limits()
        self.put(802, "V", round(NOMINAL_V * 10 ** -V_SF))
        self.put(802, "AChaMax", round(cha * 1e6 / NOMINAL_V * 10 ** -A_SF))
        self.put(802, "ADisChaMax", round(dis * 1e6 / NOMINAL_V * 10 ** -A_SF))
        self.put(802, "W", round(pl.power_mw * 1e6 / w))
        self.put(802, "State", 99 if pl.tripped else 3)
        self.put(802, "Evt1", 1 << 20 if pl.tripped else 0)  # CONTACTOR_ERROR
        self.put(802, "Hb", int(now) & 0xFFFF)
        self.put(704, "WSetRvrtRem", int(round(pl.reversion_remaining(now))))
        if pl.reverted:
            self.put(704, "WSet", round(pl.reversion_mw * 1e6 / w))
        clock = self.clock_stopped_at if self.clock_stopped_at is not None else now
        skew = sum(f.offset_s for f in self.faults if f.kind == "skewed_timestamp")
        self.put(122, "Tms", int(clock + skew - EPOCH_2000))
        for f in self.faults:
            if f.kind in ("out_of_range", "not_implemented"):
                model, _, name = f.point.partition(".")
                self.put(int(model), name, f.value if f.kind == "out_of_range" else None)

    def read(self, address: int, count: int, now: float) -> list[int]:
        self.refresh(now)
        image = self.image
        if self.frozen_image is not None:  # values stop; the device clock (122 Tms) keeps running
            image = list(self.frozen_image)
            a, size = self.address(122, "Tms") - self.base, sunspec.point(122, "Tms").size
            image[a:a + size] = self.image[a:a + size]
        return image[address - self.base: address - self.base + count]

    def writable(self, address: int, count: int) -> bool:
        """Every register of the write belongs to a read-write point of a model."""
        for a in range(address, address + count):
            mid = max((m for m, s in self.starts.items() if s <= a), default=None, key=lambda m: self.starts[m])
            if mid is None:
                return False
            off = a - self.starts[mid]
            if not any(p.writable and p.offset <= off < p.offset + p.size for p in sunspec.points(mid).values()):
                return False
        return True

    def write(self, address: int, values: list[int], now: float) -> bool:
        """Apply a write as the device would; False: refused (not a writable register)."""
        if not self.writable(address, len(values)):
            return False
        self.plant.advance(now)
        a = address - self.base
        self.image[a:a + len(values)] = [v & 0xFFFF for v in values]
        touched = set(range(address, address + len(values)))

        def hit(model: int, name: str) -> bool:
            p = sunspec.point(model, name)
            s = self.address(model, name)
            return bool(touched & set(range(s, s + p.size)))

        pl, w = self.plant, 10.0 ** self.w_sf
        pl.setpoint_enabled = self.get(704, "WSetEna") == 1
        pl.reversion_mw = (self.get(704, "WSetRvrt") or 0) * w / 1e6
        pl.reversion_s = self.get(704, "WSetRvrtTms") or 0
        if hit(704, "WSet") or hit(704, "WSetPct") or hit(704, "WSetEna"):
            if self.get(704, "WSetMod") == 0:  # percent of WMax
                mw = (self.get(704, "WSetPct") or 0) / 100.0 * pl.max_mw
            else:
                mw = (self.get(704, "WSet") or 0) * w / 1e6
            pl.write_setpoint(mw, now)
        if hit(802, "CtrlHb"):
            pl.write_heartbeat(self.get(802, "CtrlHb") or 0, now)
        if hit(802, "AlmRst") and (self.get(802, "AlmRst") or 0) and not any(f.kind == "bms_trip" for f in self.faults):
            pl.tripped = False
        return True

    @property
    def faulted(self) -> bool:
        return self.plant.inverter_state() == INV_FAULT
