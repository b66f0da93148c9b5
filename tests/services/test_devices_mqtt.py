"""Closed loop over MQTT through the machine's real Mosquitto: commands at QoS 1 acknowledged by id,
the device's own sign convention mapped in the adapter, broker loss and the last will."""
from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid

import pytest

from bess_ray.control.loop import ControlLoop
from bess_ray.control.pipeline import Controller
from bess_ray.control.schedules import Plan, Series
from bess_ray.control.settings import Operation
from bess_ray.devices.fieldsim.mqtt import serve_mqtt
from bess_ray.devices.fieldsim.run import FieldSim
from bess_ray.operate import devices_for
from tests.services.test_devices_modbus import CONTROL, SETPOINT, site

HOST, PORT = os.environ.get("BESS_RAY_MQTT_HOST", "127.0.0.1"), int(os.environ.get("BESS_RAY_MQTT_PORT", "1883"))


def _broker_up() -> bool:
    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
        return True
    except OSError:
        return False


if not _broker_up():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI=true and no MQTT broker at {HOST}:{PORT}")
    pytest.skip(f"no MQTT broker at {HOST}:{PORT}", allow_module_level=True)


async def rig(test):
    s = site()
    op = Operation(site=s, control=CONTROL | {"max_age_s": 1.5})
    sim = FieldSim.of(s)
    url = f"mqtt://{HOST}:{PORT}/bess-test-{uuid.uuid4().hex[:8]}"
    physics = asyncio.create_task(sim.run_physics())
    device = asyncio.create_task(serve_mqtt(sim, url))
    now = time.time()
    plan = Plan({"day_ahead": Series((now - 60,), (SETPOINT,), now + 3600)}, {})
    loop = ControlLoop(Controller.of(op), devices_for(op, url), plan)
    try:
        await test(sim, loop, device, url)
    finally:
        await loop.close()
        device.cancel()
        physics.cancel()


async def cycles_until(loop, predicate, n, what):
    for _ in range(n):
        await asyncio.sleep(0.2)
        await loop.run(cycles=1)
        if predicate(loop.last[0]):
            return
    c = loop.last[0]
    raise AssertionError(f"not {what} in {n} cycles: {c.mode} {c.setpoint_mw} {c.reasons}")


def running(c):
    return c.mode == "RUNNING" and abs(c.setpoint_mw - SETPOINT) < 1e-6


def test_mqtt_device_follows_acknowledged_commands_and_survives_a_broker_loss():
    async def test(sim, loop, device, url):
        await cycles_until(loop, running, 40, "running")
        await asyncio.sleep(0.6)
        plant = sim.units[0].plant
        assert plant.power_mw == pytest.approx(SETPOINT, abs=0.02)   # discharging, though the device says charge > 0
        assert loop.write_errors == (None,)
        sim.inject({"kind": "broker_loss"})
        await cycles_until(loop, lambda c: c.mode == "SAFE_STOP" and c.setpoint_mw == 0.0, 20, "safe stop")
        assert "stale" in loop.last[0].reasons[0] or "write not confirmed" in loop.last[0].reasons[0]
        await asyncio.sleep(1.5)
        assert abs(plant.power_mw) < 1e-6, "the device's own reversion must take it to 0 W"
        sim.clear()
        await cycles_until(loop, running, 40, "running again")
    asyncio.run(asyncio.wait_for(rig(test), 60))


def test_a_dead_device_is_seen_through_its_last_will():
    async def test(sim, loop, device, url):
        await cycles_until(loop, running, 40, "running")
        device.cancel()  # the device process dies; the broker publishes its will after the keepalive
        await cycles_until(loop, lambda c: c.setpoint_mw == 0.0 and c.mode == "SAFE_STOP", 60, "safe stop")
    asyncio.run(asyncio.wait_for(rig(test), 60))


def test_faults_can_be_injected_and_cleared_at_run_time_over_mqtt():
    import aiomqtt

    async def test(sim, loop, device, url):
        await cycles_until(loop, running, 40, "running")
        prefix = url.rsplit("/", 1)[-1]
        async with aiomqtt.Client(HOST, PORT) as client:
            await client.subscribe(f"{prefix}/fieldsim/error", qos=1)
            await client.publish(f"{prefix}/fieldsim/inject", b'{"kind": "bms_trip"}', qos=1)
            await cycles_until(loop, lambda c: c.mode == "FAULT" and c.setpoint_mw == 0.0, 20, "fault")
            await client.publish(f"{prefix}/fieldsim/inject", b'{"kind": "melt"}', qos=1)
            msg = await asyncio.wait_for(anext(aiter(client.messages)), 5)
            assert b"kind" in msg.payload
            await client.publish(f"{prefix}/fieldsim/clear", b"{}", qos=1)
            await asyncio.sleep(0.5)
            assert not sim.units[0].plant.tripped
    asyncio.run(asyncio.wait_for(rig(test), 60))
