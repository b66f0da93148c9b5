"""Closed loop over real Modbus TCP sockets: the control loop against the field simulator, one test
per injected fault. Each checks the state the asset goes to, that it is at 0 kW within the stated
cycles (and the simulated inverter with it), and that it recovers once the fault clears."""
from __future__ import annotations

import asyncio
import time

import pytest

from bess_ray.config import Site
from bess_ray.control.loop import ControlLoop
from bess_ray.control.pipeline import Controller, OperatorAction
from bess_ray.control.schedules import Plan, Series
from bess_ray.control.settings import Operation
from bess_ray.devices.fieldsim.run import FieldSim
from bess_ray.net import free_port
from bess_ray.operate import devices_for
from tests.conftest import battery, site_dict

pytest.importorskip("pymodbus")

CONTROL = dict(period_s=0.2, max_age_s=1.5, frozen_s=1.5, follow_timeout_s=1.5, reversion_s=1, command_valid_s=1.0)
SETPOINT = 0.5


def site(n=1) -> Site:
    return Site.from_dict(site_dict(*[battery(id=f"bess{i + 1}", charge_efficiency=0.95, discharge_efficiency=0.95)
                                      for i in range(n)], poi=(5.0, 5.0)))


class Rig:
    """A field simulator on a free port and a control loop driving it."""

    def __init__(self, n=1, **control):
        self.site = site(n)
        self.op = Operation(site=self.site, control=CONTROL | control)
        self.sim = FieldSim.of(self.site)

    async def __aenter__(self):
        self.port = free_port()
        self.server = await self.sim.serve_modbus(port=self.port)
        self.physics = asyncio.create_task(self.sim.run_physics())
        now = time.time()
        plan = Plan({"day_ahead": Series((now - 60,), (SETPOINT * len(self.sim.units),), now + 3600)}, {})
        self.loop = ControlLoop(Controller.of(self.op), devices_for(self.op, f"modbus://127.0.0.1:{self.port}"), plan)
        return self

    async def __aexit__(self, *exc):
        await self.loop.close()
        self.physics.cancel()
        await self.server.shutdown()

    @property
    def plant(self):
        return self.sim.units[0].plant

    async def until(self, predicate, cycles: int, what: str):
        for k in range(cycles):
            await asyncio.sleep(self.op.control.period_s)
            await self.loop.run(cycles=1)
            if predicate(self.loop.last[0]):
                return k + 1
        cmd = self.loop.last[0]
        raise AssertionError(f"not {what} within {cycles} cycles: {cmd.mode} {cmd.setpoint_mw} {cmd.reasons}")

    async def running(self):
        await self.until(lambda c: c.mode == "RUNNING" and abs(c.setpoint_mw - SETPOINT) < 1e-6, 30, "running")
        await asyncio.sleep(0.5)
        assert abs(self.plant.power_mw - SETPOINT) < 0.02

    async def stopped(self, mode: str, reason: str, cycles: int):
        n = await self.until(lambda c: c.setpoint_mw == 0.0 and c.mode == mode, cycles, f"{mode} at 0 kW")
        assert any(reason in r for r in self.loop.last[0].reasons), self.loop.last[0].reasons
        return n


def scenario(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.mark.parametrize("fault, mode, reason, cycles", [
    ({"kind": "exception", "code": 4}, "SAFE_STOP", "missing", 2),
    ({"kind": "no_answer"}, "SAFE_STOP", "missing", 2),
    ({"kind": "stale_timestamp"}, "SAFE_STOP", "stale", 15),
    ({"kind": "skewed_timestamp", "offset_s": 30}, "SAFE_STOP", "skewed", 2),
    ({"kind": "frozen"}, "SAFE_STOP", "power_mw: frozen", 15),
    ({"kind": "out_of_range", "point": "713.SoC", "value": 15000}, "SAFE_STOP", "soc: out_of_range", 2),
    ({"kind": "not_implemented", "point": "713.SoC"}, "SAFE_STOP", "soc: not_implemented", 2),
    ({"kind": "soc_jump", "delta": 0.2}, "SAFE_STOP", "soc: implausible_rate", 2),
])
def test_bad_data_gives_zero_and_the_asset_recovers_when_it_clears(fault, mode, reason, cycles):
    async def run():
        async with Rig() as rig:
            await rig.running()
            rig.sim.inject(fault)
            await rig.stopped(mode, reason, cycles)
            await asyncio.sleep(1.6)  # the reversion time (1 s) and the inverter's response
            assert abs(rig.plant.power_mw) < 1e-6, "the inverter must be at 0 W"
            rig.sim.clear()
            await rig.running()
    scenario(run())


def test_bms_trip_latches_fault_until_acknowledged():
    async def run():
        async with Rig() as rig:
            await rig.running()
            rig.sim.inject({"kind": "bms_trip"})
            await rig.stopped("FAULT", "BMS trip", 2)
            assert rig.plant.power_mw == 0.0
            rig.sim.clear()
            for _ in range(5):
                await asyncio.sleep(0.2)
                await rig.loop.run(cycles=1)
            assert rig.loop.last[0].mode == "FAULT" and rig.loop.last[0].setpoint_mw == 0.0
            rig.loop.act(OperatorAction("ack", reason="BMS inspected"))
            await rig.running()
    scenario(run())


@pytest.mark.parametrize("fault", [{"kind": "ignore_setpoints"}, {"kind": "slow_ramp", "factor": 0.01}])
def test_a_device_that_does_not_follow_goes_to_fault(fault):
    async def run():
        async with Rig() as rig:
            rig.sim.inject(fault)
            await rig.stopped("FAULT", "does not follow its setpoint", 40)
            rig.sim.clear()
            rig.loop.act(OperatorAction("ack"))
            await rig.running()
    scenario(run())


def test_a_killed_loop_leaves_the_device_at_zero_within_its_reversion_time():
    async def run():
        async with Rig() as rig:
            await rig.running()
            # the loop dies: no more writes, no shutdown command
            t0 = time.time()
            while abs(rig.plant.power_mw) > 1e-6 and time.time() - t0 < 5:
                await asyncio.sleep(0.05)
            fell = time.time() - t0
            assert abs(rig.plant.power_mw) < 1e-6 and rig.plant.reverted
            assert fell <= 1.0 + 0.2 + 1.0 + 0.3  # reversion 1 s + response delay + a full-power ramp + margin
            unit = rig.sim.units[0]
            unit.refresh(time.time())  # what the next read would see
            assert unit.get(704, "WSetRvrtRem") == 0
    scenario(run())


def test_writes_are_read_back_and_a_refused_write_is_an_error():
    async def run():
        async with Rig() as rig:
            await rig.running()
            dev = rig.loop.devices[0]
            assert await dev.write(0.25, "t1") is None
            unit = rig.sim.units[0]
            assert unit.get(704, "WSet") * 10 ** unit.w_sf == pytest.approx(250_000)
            assert unit.get(704, "WSetRvrtTms") == 1 and unit.get(704, "WSetEna") == 1
            # a read-only register refuses a write, as a device does: illegal address
            r = await dev.client.write_registers(unit.address(701, "W"), [1], device_id=1)
            assert r.isError()
    scenario(run())


def test_several_units_on_one_server_share_the_site_setpoint():
    async def run():
        async with Rig(n=3) as rig:
            await rig.until(lambda c: all(x.mode == "RUNNING" for x in rig.loop.last) and
                            abs(sum(x.setpoint_mw for x in rig.loop.last) - 3 * SETPOINT) < 1e-6, 30, "running")
            await asyncio.sleep(0.5)
            assert sum(u.plant.power_mw for u in rig.sim.units) == pytest.approx(3 * SETPOINT, abs=0.05)
    scenario(run())


def test_pysunspec2_scans_the_simulator_and_reads_its_models():
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    async def run():
        async with Rig(n=2) as rig:
            await rig.running()

            def scan():
                d = SunSpecModbusClientDeviceTCP(slave_id=2, ipaddr="127.0.0.1", ipport=rig.port, timeout=2)
                try:
                    d.scan()
                    ids = sorted(k for k in d.models if isinstance(k, int))
                    m701, m713, m802 = d.models[701][0], d.models[713][0], d.models[802][0]
                    return ids, d.models[1][0].SN.value, m701.W.cvalue, m713.SoC.cvalue, m802.AChaMax.cvalue * m802.V.cvalue
                finally:
                    d.close()
            ids, sn, w, soc, cha = await asyncio.to_thread(scan)
            assert ids == [1, 122, 701, 702, 704, 713, 802]
            assert sn == "bess2"
            assert w == pytest.approx(SETPOINT * 1e6, rel=0.01)   # W > 0: discharge, bess-ray's sign
            assert 0 < soc < 100
            assert cha == pytest.approx(1e6, rel=0.01)           # 1 MW allowed charge at mid SoC
    scenario(run())


def test_a_plain_register_map_reads_a_device_without_scanning():
    """A device without SunSpec: absolute addresses, fixed scale factors, its own sign convention."""
    from bess_ray.devices import sunspec
    from bess_ray.devices.modbus import ModbusDevice
    from bess_ray.devices.registers import RegisterMap

    async def run():
        async with Rig() as rig:
            await rig.running()
            u = rig.sim.units[0]

            def reg(model, name, sf=0, type_=None):
                p = sunspec.point(model, name)
                return {"address": u.address(model, name), "type": type_ or p.type.replace("enum", "uint"), "sf": sf}
            rmap = RegisterMap.from_dict({
                "kind": "plain", "reversion": False,
                "values": {
                    "power_mw": {"point": reg(701, "W", u.w_sf), "scale": 1e-6, "sign": -1},  # this device: > 0 charges
                    "soc": {"point": reg(713, "SoC", -2), "scale": 0.01},
                    "charge_limit_mw": {"point": reg(802, "AChaMax", -1), "times": reg(802, "V", -1), "scale": 1e-6},
                    "discharge_limit_mw": {"point": reg(802, "ADisChaMax", -1), "times": reg(802, "V", -1), "scale": 1e-6},
                    "state": {"point": reg(701, "InvSt"), "states": {3: "running", 7: "standby", 6: "fault"}}},
                "alarms": [{"point": reg(802, "State"), "equals": 99, "alarm": "bms_trip"}],
                "setpoint": {"point": reg(704, "WSet", u.w_sf, "int32"), "scale": 1e-6}}, "plain map")
            dev = ModbusDevice("127.0.0.1", rig.port, 1, rmap)
            try:
                raw = await dev.read()
                assert raw.error is None and dev.spans and not raw.not_implemented - {"frequency_hz"}
                assert raw.values["power_mw"] == pytest.approx(-SETPOINT, abs=0.01)   # mapped to the device's sign
                assert raw.values["soc"] == pytest.approx(rig.plant.soc, abs=1e-3)
                assert raw.values["state"] == 3.0 and raw.values["alarms"] == 0.0
                assert await dev.write(0.3) is None                                    # read back
            finally:
                await dev.close()
    scenario(run())


def test_a_device_polled_every_cycle_reconnects_after_an_outage_longer_than_its_backoff():
    """Polling faster than the backoff must not keep postponing the next attempt (it once did: the
    adapter never reconnected while the loop kept asking)."""
    async def body():
        from bess_ray.devices.connect import adapter

        sim = FieldSim.of(site())
        port = free_port()
        server = await sim.serve_modbus(port=port)
        device = adapter(f"modbus://127.0.0.1:{port}/1", "b1")
        assert (await device.read()).error is None
        await server.shutdown()
        for _ in range(40):  # 10 s of failed polls every 0.25 s, and concurrent writes: the backoff reaches its cap
            await asyncio.gather(device.read(), device.write(0.0, "x"))
            await asyncio.sleep(0.25)
        server = await sim.serve_modbus(port=port)
        t0 = time.monotonic()
        while (await device.read()).error is not None:
            assert time.monotonic() - t0 < 30, "never reconnected"
            await asyncio.sleep(0.25)
        await device.close()
        await server.shutdown()

    asyncio.run(body())
