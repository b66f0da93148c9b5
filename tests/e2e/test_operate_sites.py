"""Live sites on the session's Ray: the site and asset actors against the field simulator over real
Modbus TCP, schedules handed over, operator stop, and each part killed in turn. Every wait polls
the simulator (the device side) for what must happen, within a bound that only guards a hang."""
from __future__ import annotations

import time

import pytest

from bess_ray.cluster.launch import start_simulator, start_site, stop_site
from bess_ray.cluster.sites import NAMESPACE, asset_name, site_name
from bess_ray.control.settings import load_operation
from bess_ray.control.site_schedules import iso
from bess_ray.errors import DataError
from bess_ray.net import free_port

from tests.conftest import CONFIGS

OPS = CONFIGS / "operations" / "de_lu_1mw_2mwh_sim.yaml"
SMALL = dict(zone="DE-LU", poi=dict(import_mw=2.0, export_mw=2.0), markets=dict(products=["da"]),
             assets=[dict(type="battery", id=f"b{i}", charge_mw=1.0, discharge_mw=1.0, energy_mwh=2.0) for i in (1, 2)])


def until(what, check, timeout=60.0, every=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value is not None and value is not False:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture(scope="module")
def live(ray_session, tmp_path_factory):
    ray = ray_session
    op = load_operation(OPS)
    port = free_port()
    sim = start_simulator(op, port)
    store = f"sqlite:///{tmp_path_factory.mktemp('ops') / 'store.sqlite'}"
    handles = start_site(op, store=store, sim_port=port, telemetry_s=1.0)
    rig = {"ray": ray, "op": op, "sim": sim, "site": handles["site"], "assets": handles["assets"], "store": store,
           "port": port}
    yield rig
    stop_site(op.site.id, ["bess1"])
    ray.kill(sim, no_restart=True)


def device(live) -> dict:
    return live["ray"].get(live["sim"].units.remote())[0]


def status(live) -> dict:
    return live["ray"].get(live["site"].status.remote(), timeout=30)


def schedule(mw: float, hours: float = 2.0, start: float | None = None) -> dict:
    t0 = (start if start is not None else time.time()) // 900 * 900
    n = int(hours * 4)
    return {"timestamps": [iso(t0 + 900 * i) for i in range(n)], "net_mw": [mw] * n}


def test_a_site_follows_its_schedule_and_reports_every_asset(live):
    ray = live["ray"]
    accepted = ray.get(live["site"].set_schedule.remote(schedule(0.5), "test", "pytest"))
    assert accepted["version"] >= 1
    until("the device delivers the schedule's 0.5 MW", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01)
    s = until("the site sees it", lambda: (x := status(live)) and abs(x["assets"][0]["power_mw"] - 0.5) < 0.01 and x)
    assert s["site"] == live["op"].site.id and s["schedule_version"] == f"v{accepted['version']}"
    a = s["assets"][0]
    assert a["id"] == "bess1" and a["state"] == "RUNNING" and a["decided_by"] == "day_ahead"
    assert abs(a["command_mw"] - 0.5) < 1e-9 and abs(a["power_mw"] - 0.5) < 0.01 and 0 < a["soc_frac"] < 1
    assert a["allowed_mw"][0] < 0 < a["allowed_mw"][1]


def test_a_refused_schedule_leaves_the_active_one_untouched(live):
    ray = live["ray"]
    before = status(live)["schedule_version"]
    for bad, message in ((schedule(5.0), "outside the POI limits"),
                         (schedule(0.2, start=time.time() - 6 * 3600), "stale"),
                         ({"timestamps": ["not a time"], "net_mw": [0.1]}, "is not an ISO-8601 time")):
        with pytest.raises(ray.exceptions.RayTaskError) as caught:
            ray.get(live["site"].set_schedule.remote(bad, "test", "pytest"))
        assert isinstance(caught.value.as_instanceof_cause(), DataError) and message in str(caught.value)
    assert status(live)["schedule_version"] == before
    assert abs(device(live)["setpoint_mw"] - 0.5) < 1e-9


def test_a_retried_command_is_applied_once(live):
    ray = live["ray"]
    asset = ray.get_actor(asset_name(live["op"].site.id, "bess1"), namespace=NAMESPACE)
    before = ray.get(asset.status.remote())["applied"]
    t = time.time() + 3
    first = ray.get(asset.write.remote(0.5, "retry/1", t))
    second = ray.get(asset.write.remote(0.5, "retry/1", t))  # as Ray retries a call after a failure
    assert first == second is None and ray.get(asset.status.remote())["applied"] - before in (1, 2)
    # (the site's own cycle may add one of its commands in between; the retried id adds none)
    assert ray.get(asset.status.remote())["last_command_id"] != "retry/1" or \
        ray.get(asset.status.remote())["applied"] - before == 1


def test_operator_stop_reaches_the_device_and_survives_a_restart_of_the_site(live):
    ray = live["ray"]
    ray.get(live["site"].stop.remote("inverter inspection", "pytest"))
    until("0 kW at the device after the stop", lambda: device(live)["setpoint_mw"] == 0.0, timeout=10)
    ray.kill(live["site"], no_restart=False)  # Ray restarts it; it must restore the stop
    restored = until("the site back", lambda: _status_or_none(live), timeout=60)
    assert restored["stopped"]["reason"] == "inverter inspection" and restored["state"] == "STOPPED"
    time.sleep(3)
    assert device(live)["setpoint_mw"] == 0.0  # still stopped after the restart
    ray.get(live["site"].resume.remote("pytest"))
    until("power again after resume", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01, timeout=30)


def test_a_dead_site_loop_leaves_the_device_at_zero_and_a_new_one_resumes(live):
    ray = live["ray"]
    until("running", lambda: abs(device(live)["setpoint_mw"] - 0.5) < 1e-9)
    ray.kill(live["site"], no_restart=True)
    # the asset's watchdog: no valid command for command_valid_s (3 s) -> 0 kW, before the device's reversion
    until("0 kW at the device with the site loop gone", lambda: device(live)["setpoint_mw"] == 0.0, timeout=10)
    assert not device(live)["reverted"]  # the asset actor did it, not the inverter's fallback
    live["site"] = start_site(live["op"], store=live["store"], sim_port=live["port"], telemetry_s=1.0)["site"]
    until("resumed with the persisted schedule", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01, timeout=30)


def test_a_killed_asset_actor_goes_to_zero_then_resumes(live):
    ray = live["ray"]
    asset = ray.get_actor(asset_name(live["op"].site.id, "bess1"), namespace=NAMESPACE)
    ray.kill(asset, no_restart=False)
    until("0 kW at the device while the asset actor is gone", lambda: device(live)["setpoint_mw"] == 0.0,
          timeout=15, every=0.05)
    # the device ramps down over a second: 'resumed' means back at 0.5 MW after having been at 0
    until("the device's power at 0", lambda: abs(device(live)["power_mw"]) < 0.01, timeout=15, every=0.05)
    until("resumed", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01, timeout=60)
    assert status(live)["assets"][0]["state"] == "RUNNING"


def test_a_cut_connection_stops_the_asset_and_it_recovers(live):
    ray = live["ray"]
    ray.get(live["sim"].drop_connections.remote(down_s=6))
    until("the asset out of RUNNING on stale data", lambda: status(live)["assets"][0]["state"] != "RUNNING",
          timeout=15)
    until("the device at 0 kW by its own reversion", lambda: device(live)["setpoint_mw"] == 0.0, timeout=15)
    until("resumed after the connection came back", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01, timeout=60)


def test_operator_stop_survives_an_asset_restart_and_a_cut_connection(live):
    ray = live["ray"]
    until("running", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01)
    ray.get(live["site"].stop.remote("stop through the failures", "pytest"))
    until("0 kW", lambda: device(live)["setpoint_mw"] == 0.0, timeout=10)
    asset = ray.get_actor(asset_name(live["op"].site.id, "bess1"), namespace=NAMESPACE)
    ray.kill(asset, no_restart=False)
    until("the asset back and read", lambda: status(live)["assets"][0].get("measured") == "valid", timeout=60)
    ray.get(live["sim"].drop_connections.remote(down_s=2))
    until("the connection back", lambda: status(live)["assets"][0].get("measured") == "valid", timeout=60)
    time.sleep(4)  # several cycles with good data: a stop must still hold
    s = status(live)
    assert s["stopped"]["reason"] == "stop through the failures" and device(live)["setpoint_mw"] == 0.0
    ray.get(live["site"].resume.remote("pytest"))
    until("power after resume", lambda: abs(device(live)["power_mw"] - 0.5) < 0.01, timeout=30)


def test_telemetry_and_events_are_in_the_store(live):
    from datetime import datetime, timedelta, timezone

    from bess_ray.store.operations import OperationsStore

    ops = OperationsStore(live["store"])
    now = datetime.now(timezone.utc)
    frame = until("telemetry written", lambda: _rows(ops.telemetry(live["op"].site.id, now - timedelta(hours=1),
                                                                    datetime.now(timezone.utc)), 10))
    assert set(frame["point"].unique()) == {f"site/{live['op'].site.id}/asset/bess1/{q}"
                                            for q in ("power_mw", "soc_frac", "command_mw")}
    kinds = {e["kind"] for e in ops.events(live["op"].site.id, now - timedelta(hours=1), now + timedelta(minutes=1))}
    assert {"start", "schedule", "stop", "resume", "command"} <= kinds


def _rows(frame, n):
    return frame if frame.height > n else None


def _status_or_none(live):
    try:
        return status(live)
    except Exception:  # noqa: BLE001 - restarting
        return None


def test_names_follow_the_documented_scheme(live):
    ray = live["ray"]
    assert ray.get_actor(site_name(live["op"].site.id), namespace="bess") is not None


def test_a_flood_of_status_queries_on_several_sites_makes_no_cycle_miss_its_deadline(ray_session, tmp_path):
    """Queries read snapshots in their own concurrency group. Four sites of two batteries, four
    threads asking every site's status without pause: no cycle may start a whole period late (a
    missed cycle; the lateness figures themselves are scripts/bench_operate.py's)."""
    import threading

    from bess_ray.config import Site
    from bess_ray.control.settings import Operation
    from bess_ray.devices.fieldsim.run import FieldSims

    ray = ray_session
    operations = [Operation(site=Site.from_dict({**SMALL, "id": f"flood{k}"})) for k in range(4)]
    sims = FieldSims([op.site for op in operations])
    store = f"sqlite:///{tmp_path / 'flood.sqlite'}"
    sites = [start_site(op, store=store, sim_port=p, telemetry_s=2.0)["site"] for op, p in zip(operations, sims.ports)]
    try:
        until("every site cycling", lambda: all(ray.get(s.status.remote())["cycle"] > 3 for s in sites), timeout=60)
        ray.get([s.timing.remote(reset=True) for s in sites])
        stop, answered = threading.Event(), []

        def flood():
            while not stop.is_set():
                for s in sites:
                    answered.append(ray.get(s.status.remote())["site"])

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(15)
        stop.set()
        for t in threads:
            t.join()
        timings = ray.get([s.timing.remote() for s in sites])
        assert len(answered) > 1000
        assert [t["missed"] for t in timings] == [0, 0, 0, 0] and all(t["cycles"] >= 12 for t in timings), timings
    finally:
        for op in operations:
            stop_site(op.site.id, [b.id for b in op.batteries])
