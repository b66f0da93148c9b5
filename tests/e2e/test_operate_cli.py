"""`bess-ray control` and `bess-ray fieldsim` end to end, in subprocesses as an engineer runs them:
a schedule followed on the wire, a recording replayed bit for bit, clear errors for bad files, and a
killed controller whose device falls to 0 W by itself."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bess_ray.devices import sunspec
from bess_ray.net import free_port

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "configs" / "operations" / "de_lu_1mw_2mwh.yaml"
pytest.importorskip("pymodbus")


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "bess_ray.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def schedule(tmp_path: Path, mw: float, fcr: float = 0.0) -> Path:
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=15)
    rows = ["timestamp,net_mw,reserve_fcr_mw"] + [
        f"{(start + timedelta(minutes=15 * k)).isoformat()},{mw},{fcr}" for k in range(8)]
    p = tmp_path / "site_schedule.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_control_follows_a_schedule_on_the_simulator_and_its_recording_replays_bit_for_bit(tmp_path):
    rec = tmp_path / "loop.jsonl"
    r = cli("control", OPS, "--device", "sim", "--schedule", schedule(tmp_path, 0.6, 0.2), "--cycles", 8,
            "--record", rec)
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if x.strip().startswith("bess1:")]
    assert len(lines) == 8
    assert "STARTING" in lines[0] and "RUNNING" in lines[2]
    assert "by ramp" in lines[2] and "by day_ahead" in lines[-1]  # 0.2 MW/s towards 0.6 MW (0.8 - 0.2 of FCR headroom)
    kw = float(lines[-1].split()[1])
    assert abs(kw - 600) <= 0.2 * 1000 * 10 / 190  # plus FCR activation on the simulator's 50 +- 0.02 Hz
    r = cli("control", "--replay", rec)
    assert r.returncode == 0 and "replayed 8 cycles: every command identical" in r.stdout
    # a recording whose commands differ from what the pipeline gives is reported, cycle and field
    records = rec.read_text().splitlines()
    last = json.loads(records[-1])
    last["commands"][0]["setpoint_mw"] += 1e-9
    rec.write_text("\n".join(records[:-1] + [json.dumps(last)]) + "\n")
    r = cli("control", "--replay", rec)
    assert r.returncode == 1 and "cycle 8 bess1: setpoint_mw differ" in r.stdout


@pytest.mark.parametrize("content, message", [
    ("site: ../sites/de_lu_1mw_2mwh.yaml\nassets:\n  bess9: {device: sim}\n",
     "assets: bess9: not a battery of site de_lu_1mw_2mwh"),
    ("site: ../sites/de_lu_1mw_2mwh.yaml\ncontrol: {period_s: 1.0, max_age_s: 0.5}\n",
     "control: max_age_s (0.5) must be at least period_s (1.0)"),
    ("site: ../sites/de_lu_1mw_2mwh.yaml\nassets:\n  bess1: {device: 'ftp://x'}\n",
     "ftp://x: a device is sim, modbus://HOST:PORT/UNIT or mqtt://HOST:PORT/PREFIX"),
    ("site: ../sites/de_lu_1mw_2mwh.yaml\nassets:\n  bess1: {device: sim, register_map: BADMAP}\n",
     "values.power_mw.point: '701.Watts': SunSpec model 701 has no point 'Watts'"),
])
def test_a_wrong_operations_file_names_the_field_before_anything_connects(tmp_path, content, message):
    bad_map = tmp_path / "map.yaml"
    bad_map.write_text("kind: sunspec\nvalues:\n  power_mw: {point: 701.Watts}\nsetpoint: {point: 704.WSet}\n")
    ops = ROOT / "configs" / "operations" / f"_test_{os.getpid()}.yaml"  # beside the real ones: relative site path
    ops.write_text(content.replace("BADMAP", str(bad_map)))
    try:
        r = cli("control", ops, "--cycles", 1)
    finally:
        ops.unlink()
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_a_wrong_fault_file_names_the_fault_and_the_field(tmp_path):
    f = tmp_path / "faults.yaml"
    f.write_text("faults:\n  - {kind: bms_trip, asset: bess7}\n  - {kind: out_of_range, point: 713.SoC}\n")
    r = cli("fieldsim", OPS, "--faults", f, "--seconds", 1)
    assert r.returncode == 2
    assert "faults.1: out_of_range needs value" in r.stderr


def _read_w(port: int) -> float:
    """Active power of unit 1 as an independent client sees it (pysunspec2), W."""
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    d = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        d.scan()
        return d.models[701][0].W.cvalue
    finally:
        d.close()


def test_a_killed_controller_leaves_the_device_at_zero_within_its_reversion_time(tmp_path):
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "bess_ray.cli", "fieldsim", OPS, "--modbus-port", str(port)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctl = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                _read_w(port)
                break
            except Exception:
                time.sleep(0.3)
        ctl = subprocess.Popen([sys.executable, "-m", "bess_ray.cli", "control", OPS, "--device",
                                f"modbus://127.0.0.1:{port}", "--schedule", str(schedule(tmp_path, 0.5)), "--quiet"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while time.time() < deadline and _read_w(port) < 0.45e6:
            time.sleep(0.5)
        assert _read_w(port) == pytest.approx(0.5e6, rel=0.02), "the controller should drive the device to 0.5 MW"
        ctl.send_signal(signal.SIGKILL)  # no shutdown command: only the device's own reversion is left
        ctl.wait()
        killed = time.time()
        while time.time() - killed < 15 and abs(_read_w(port)) > 0:
            time.sleep(0.2)
        fell = time.time() - killed
        assert _read_w(port) == 0
        assert fell <= 5 + 1 + 1  # WSetRvrtTms 5 s (the operations file), the response and a full-power ramp
    finally:
        for p in (ctl, sim):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_fieldsim_help_says_it_is_a_test_tool():
    r = cli("fieldsim", "--help")
    assert r.returncode == 0 and "TEST TOOL" in r.stdout and "no credentials" in r.stdout
    assert sunspec.point(704, "WSetRvrtTms").offset == 31  # the offsets come from the official definitions


def test_operate_with_sim_runs_todays_plan_behind_the_api_and_stops_the_site_at_the_end(tmp_path):
    """The README's live-site command: its own Ray, the simulator, the actors and the API; the demo
    schedule moves the battery within the first minute; at the end the site is stopped (0 kW)."""
    from tests.api_client import call

    env = {**os.environ, "BESS_RAY_HOME": str(tmp_path / "home")}
    key = subprocess.run([sys.executable, "-m", "bess_ray.cli", "keys", "create", "--role", "viewer"],
                         capture_output=True, text=True, env=env, check=True).stdout.strip()
    http, modbus = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bess_ray.cli", "operate", str(ROOT / "configs" / "operations" /
                             "de_lu_1mw_2mwh_sim.yaml"), "--sim", "--sim-modbus-port", str(modbus), "--port",
                             str(http), "--seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT, env=env)
    api = {"url": f"http://127.0.0.1:{http}", "tokens": {"viewer": key}}
    try:
        deadline, status = time.time() + 120, None
        while time.time() < deadline:
            try:
                code, status = call(api, "GET", "/v1/sites/de_lu_1mw_2mwh", role="viewer")
                if code == 200 and status["assets"][0]["state"] == "RUNNING" and status["assets"][0]["command_mw"]:
                    break
            except (OSError, ValueError):  # not listening yet, or Serve's proxy answering before the app is up
                pass
            time.sleep(1)
        assert status and status["schedule_version"] == "v1", status
        out, _ = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert "schedule v1 (demo: today's plan on DE-LU 2023 prices)" in out
    assert "actors site:de_lu_1mw_2mwh and asset:de_lu_1mw_2mwh/bess1 in namespace bess" in out
