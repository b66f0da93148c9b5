"""The simulator's plants as MQTT devices (aiomqtt, against a real broker).

Per battery, under `PREFIX/ASSET/`: `telemetry` every 0.5 s (JSON, the device's own convention:
`battery_power_kw` > 0 is charging), a retained `status` (`online`; the last will `offline`),
`command` (QoS 1: `{id, setpoint_kw, reversion_s}`, the same sign as telemetry) answered on
`command/ack` (`{id, accepted, setpoint_kw}`). The fault `broker_loss` drops the connection.

Faults at run time: publish a fault (`{"kind": "bms_trip", "asset": "bess1", "for_s": 30}`, as in a
fault file) to `PREFIX/fieldsim/inject`, or `{"kind": ..., "asset": ...}` (either optional) to
`PREFIX/fieldsim/clear`; a wrong one is answered on `PREFIX/fieldsim/error`.
"""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlparse

from .plant import INV_FAULT, INV_RUNNING, INV_STANDBY

STATES = {INV_RUNNING: "running", INV_STANDBY: "standby", INV_FAULT: "fault"}
TELEMETRY_S = 0.5


def parse(url: str) -> tuple[str, int, str]:
    u = urlparse(url)
    return u.hostname or "127.0.0.1", u.port or 1883, u.path.strip("/") or "bess"


async def serve_mqtt(sim, url: str) -> None:
    """Run every unit as an MQTT device, and the fault topics, until cancelled."""
    await asyncio.gather(_faults(sim, url), *(_device(sim, u, url) for u in sim.units))


async def _faults(sim, url: str) -> None:
    import aiomqtt

    from ...errors import ConfigError

    host, port, prefix = parse(url)
    while True:
        try:
            async with aiomqtt.Client(host, port, identifier=f"fieldsim-{prefix}-faults") as client:
                await client.subscribe(f"{prefix}/fieldsim/+", qos=1)
                async for msg in client.messages:
                    verb = str(msg.topic).rsplit("/", 1)[-1]
                    try:
                        body = json.loads(msg.payload or b"{}")
                        if verb == "inject":
                            sim.inject(body)
                        elif verb == "clear":
                            sim.clear(body.get("kind"), body.get("asset"))
                    except (ValueError, ConfigError, AttributeError) as e:
                        await client.publish(f"{prefix}/fieldsim/error", str(e).encode(), qos=1)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.5)


async def _device(sim, unit, url: str) -> None:
    import aiomqtt

    host, port, prefix = parse(url)
    base = f"{prefix}/{unit.asset}"
    will = aiomqtt.Will(f"{base}/status", b"offline", qos=1, retain=True)
    while True:
        if sim.active(unit, "broker_loss"):
            await asyncio.sleep(0.1)
            continue
        try:
            async with aiomqtt.Client(host, port, identifier=f"fieldsim-{base}", will=will, keepalive=5) as client:
                await client.publish(f"{base}/status", b"online", qos=1, retain=True)
                await client.subscribe(f"{base}/command", qos=1)
                pump = asyncio.create_task(_telemetry(sim, unit, client, base))
                listen = asyncio.create_task(_listen(unit, client, base))
                try:  # the pump returns on broker_loss: leave the broker
                    await asyncio.wait((pump, listen), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    pump.cancel()
                    listen.cancel()
        except aiomqtt.MqttError:
            await asyncio.sleep(0.5)  # broker gone (or our broker_loss): back off, come back


async def _listen(unit, client, base: str) -> None:
    async for msg in client.messages:
        await _command(unit, client, base, msg.payload)


async def _telemetry(sim, unit, client, base: str) -> None:
    while True:
        if sim.active(unit, "broker_loss"):
            return
        pl = unit.plant
        pl.advance(time.time())
        cha, dis = pl.bms_limits()
        body = {"ts": time.time(), "battery_power_kw": -1000.0 * pl.power_mw, "soc_pct": 100.0 * pl.soc,
                "max_charge_kw": 1000.0 * cha, "max_discharge_kw": 1000.0 * dis,
                "state": STATES.get(pl.inverter_state(), "off"), "alarms": ["bms_trip"] if pl.tripped else [],
                "grid_hz": unit.frequency(time.time()) if unit.frequency else 50.0 + unit.rng.uniform(-0.02, 0.02)}
        await client.publish(f"{base}/telemetry", json.dumps(body).encode(), qos=0)
        await asyncio.sleep(TELEMETRY_S)


async def _command(unit, client, base: str, payload: bytes) -> None:
    try:
        cmd = json.loads(payload)
        kw = float(cmd["setpoint_kw"])
        cid = str(cmd["id"])
    except (ValueError, KeyError, TypeError):
        return  # nonsense is ignored, as a device would; the controller sees no ack
    pl = unit.plant
    pl.setpoint_enabled = True
    pl.reversion_s = int(cmd.get("reversion_s", 0))
    pl.write_setpoint(-kw / 1000.0, time.time())  # the device's sign: > 0 charges
    ack = {"id": cid, "accepted": not pl.tripped, "setpoint_kw": kw}
    await client.publish(f"{base}/command/ack", json.dumps(ack).encode(), qos=1)
