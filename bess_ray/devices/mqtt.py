"""The MQTT adapter (aiomqtt): telemetry in, commands out at QoS 1, acknowledged by command id.

Topics under `PREFIX/ASSET/`: `telemetry`, retained `status` (the device's last will says `offline`),
`command` (never retained) and `command/ack`. The device's convention (kW, `battery_power_kw` > 0
charging, SoC in percent) is mapped here and only here. The connection runs in a background task that
reconnects with back-off; a read returns the latest telemetry, whose timestamp makes it stale when
nothing new arrives, and a write waits for its acknowledgement at most `timeout_s`.
"""
from __future__ import annotations

import asyncio
import json
import time

from ..control.measurements import ALARM_BMS_TRIP, ALARM_ESTOP, ALARM_INVERTER_FAULT, STATE_CODES, Raw

ALARMS = {"bms_trip": ALARM_BMS_TRIP, "inverter_fault": ALARM_INVERTER_FAULT, "estop": ALARM_ESTOP}


class MqttDevice:
    def __init__(self, host: str, port: int, prefix: str, asset: str, *, timeout_s: float = 0.5, reversion_s: int = 5,
                 clock=time.time):
        self.host, self.port, self.base = host, port, f"{prefix}/{asset}"
        self.timeout_s, self.reversion_s, self.clock = timeout_s, reversion_s, clock
        self.telemetry: dict | None = None
        self.received = 0.0
        self.status = "unknown"
        self.acks: dict[str, asyncio.Future] = {}
        self.client = None
        self.task: asyncio.Task | None = None
        self.connected = asyncio.Event()
        self.error = "not connected yet"

    @property
    def name(self) -> str:
        return f"mqtt://{self.host}:{self.port}/{self.base}"

    def _start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        import aiomqtt

        backoff = 0.5
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, keepalive=5) as client:
                    self.client = client
                    for topic in ("telemetry", "status", "command/ack"):
                        await client.subscribe(f"{self.base}/{topic}", qos=1)
                    self.connected.set()
                    backoff = 0.5
                    async for msg in client.messages:
                        self._on(str(msg.topic), msg.payload)
            except aiomqtt.MqttError as e:
                self.error = f"broker: {e}"
            self.client = None
            self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, 8.0)

    def _on(self, topic: str, payload: bytes) -> None:
        kind = topic[len(self.base) + 1:]
        if kind == "status":
            self.status = payload.decode(errors="replace")
        elif kind == "telemetry":
            try:
                self.telemetry = json.loads(payload)
                self.received = self.clock()
            except ValueError:
                self.telemetry = None  # nonsense: the next read reports it missing
        elif kind == "command/ack":
            try:
                ack = json.loads(payload)
            except ValueError:
                return
            fut = self.acks.pop(str(ack.get("id")), None)
            if fut is not None and not fut.done():
                fut.set_result(ack)

    async def read(self) -> Raw:
        self._start()
        now = self.clock()
        if not self.connected.is_set():
            return Raw({}, received=now, error=self.error)
        if self.status == "offline":
            return Raw({}, received=now, error="device offline (its last will)")
        t = self.telemetry
        if not isinstance(t, dict):
            return Raw({}, received=now, error="no telemetry")

        def num(key, scale=1.0):
            v = t.get(key)
            return float(v) * scale if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        power = num("battery_power_kw", -1e-3)  # the device's charge-positive kW -> bess-ray's discharge-positive MW
        bits = 0
        for name in t.get("alarms") or ():
            bits |= ALARMS.get(name, 0)
        state = t.get("state")
        values = {"power_mw": power, "soc": num("soc_pct", 0.01), "charge_limit_mw": num("max_charge_kw", 1e-3),
                  "discharge_limit_mw": num("max_discharge_kw", 1e-3),
                  "state": float(STATE_CODES[state]) if state in STATE_CODES else (-1.0 if state else None),
                  "alarms": float(bits), "frequency_hz": num("grid_hz")}
        return Raw(values, received=now, timestamp=num("ts"))

    async def write(self, setpoint_mw: float, command_id: str = "") -> str | None:
        self._start()
        if self.client is None:
            return f"not connected: {self.error}"
        cid = command_id or f"{self.base}/{self.clock()}"
        fut = asyncio.get_running_loop().create_future()
        self.acks[cid] = fut
        body = {"id": cid, "setpoint_kw": -1000.0 * setpoint_mw, "reversion_s": self.reversion_s}
        try:
            await self.client.publish(f"{self.base}/command", json.dumps(body).encode(), qos=1, retain=False)
            ack = await asyncio.wait_for(fut, self.timeout_s)
        except asyncio.TimeoutError:
            return f"no acknowledgement of {cid} within {self.timeout_s} s"
        except Exception as e:  # aiomqtt raises MqttError subclasses and more on a lost broker
            return f"{type(e).__name__}: {e}"
        finally:
            self.acks.pop(cid, None)
        if not ack.get("accepted", False):
            return f"the device refused {cid}"
        if abs(float(ack.get("setpoint_kw", float("nan"))) - body["setpoint_kw"]) > 1e-6:
            return f"acknowledged {ack.get('setpoint_kw')} kW, sent {body['setpoint_kw']} kW"
        return None

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
