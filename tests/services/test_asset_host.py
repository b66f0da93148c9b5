"""The asset actor's own safety, without Ray: its class against the field simulator over real
Modbus TCP. A restart refuses the first command, a command beyond the rating is clipped, a retried
id is applied once, and with no valid command the watchdog puts the device at 0 kW."""
from __future__ import annotations

import asyncio
import time

from bess_ray.cluster.sites import AssetHost
from bess_ray.control.loop import LoopThread
from bess_ray.devices.fieldsim.run import FieldSim
from bess_ray.net import free_port
from tests.services.test_devices_modbus import site


def test_the_asset_host_guards_its_device(tmp_path):
    sim = FieldSim.of(site())
    port = free_port()
    thread = LoopThread("sim")
    server = thread.submit(sim.serve_modbus(port=port)).result(timeout=30)
    thread.submit(sim.run_physics())
    plant = sim.units[0].plant
    host = AssetHost("s", "b1", f"modbus://127.0.0.1:{port}/1", rating_mw=1.0, period_s=0.2, reversion_s=5,
                     store=f"sqlite:///{tmp_path / 's.sqlite'}")

    async def body():
        assert (await host.read()).error is None
        refused = await host.write(0.5, "s/b1/1", time.time() + 3)
        assert refused.startswith("asset actor (re)started") and plant.setpoint_mw == 0.0
        assert await host.write(5.0, "s/b1/2", time.time() + 3) is None
        assert plant.setpoint_mw == 1.0  # clipped to the rating
        applied = host.applied
        assert await host.write(5.0, "s/b1/2", time.time() + 3) is None and host.applied == applied  # once
        assert await host.write(-0.4, "s/b1/3", time.time() + 0.5) is None and plant.setpoint_mw == -0.4
        t0 = time.monotonic()
        while plant.setpoint_mw != 0.0:  # the command's validity runs out: the watchdog writes 0 kW
            assert time.monotonic() - t0 < 10, "the watchdog never wrote 0 kW"
            await asyncio.sleep(0.05)
        assert host.status()["watchdog_fallbacks"] >= 1 and not plant.reverted

    try:
        asyncio.run(body())
    finally:
        host.close()
        thread.submit(server.shutdown()).result(timeout=10)
        thread.stop()
