"""The control pipeline as a pure function: limits, priorities, states and bad inputs.

Property tests drive random sites, measurements, schedules, reserve commitments, faults and operator
actions through many cycles and check every command against what the asset could safely do.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bess_ray.config import Site
from bess_ray.control.measurements import (ALARM_BMS_TRIP, ALARM_ESTOP, DEVICE_FAULT, DEVICE_RUNNING, DEVICE_STANDBY,
                                           Raw)
from bess_ray.control.pipeline import Controller, Inputs, OperatorAction
from bess_ray.control.reserves import DROOPS
from bess_ray.control.resolution import Range, Resolver
from bess_ray.control.schedules import Wishes
from bess_ray.control.settings import Operation
from bess_ray.control.states import Mode
from tests.conftest import battery, site_dict

EPS = 1e-9


def controller(n=2, poi=(3.0, 3.0), products=("da", "fcr"), **control) -> Controller:
    bats = [battery(id=f"b{i}", charge_mw=1.0 + i, discharge_mw=1.0 + 0.5 * i, energy_mwh=2.0 + i,
                    charge_efficiency=0.95, discharge_efficiency=0.95, soc_min=0.05, soc_max=0.95) for i in range(n)]
    site = Site.from_dict(site_dict(*bats, products=products, poi=poi))
    return Controller.of(Operation(site=site, control=control))


def raw(t, power=0.0, soc=0.5, cha=1.0, dis=1.0, state=DEVICE_STANDBY, alarms=0, hz=50.0, **kw) -> Raw:
    values = {"power_mw": power, "soc": soc, "charge_limit_mw": cha, "discharge_limit_mw": dis,
              "state": state, "alarms": alarms, "frequency_hz": hz}
    values.update(kw)
    return Raw(values, received=t, timestamp=t)


def run(c: Controller, cycles: int, wishes=Wishes(), t0=1000.0, follow=True, **raw_kw):
    """Cycles against a device that does what it is told (with a meter's noise, so that its power is
    never frozen); returns the last state and commands."""
    state, commands = c.initial(), ()
    for k in range(cycles):
        t = t0 + k * c.period_s
        noise = 1e-4 if k % 2 else -1e-4
        raws = tuple(raw(t, power=state.assets[i].last_mw + noise if follow else 0.0, **raw_kw)
                     for i in range(len(c.assets)))
        state, commands = c.step(state, Inputs(t, raws, wishes))
    return state, commands


def test_start_up_goes_through_starting_and_standby_to_running_then_follows_the_day_ahead():
    c = controller(n=1, products=("da",))
    modes = []
    state = c.initial()
    for k in range(8):
        t = 1000.0 + k
        state, (cmd,) = c.step(state, Inputs(t, (raw(t, power=state.assets[0].last_mw),), Wishes(day_ahead_mw=0.8)))
        modes.append(cmd.mode)
    assert modes[:3] == ["STARTING", "STANDBY", "RUNNING"]
    assert cmd.setpoint_mw == pytest.approx(0.8) and cmd.decided_by == "day_ahead"
    assert [s.layer for s in cmd.steps] == ["limits", "day_ahead"]


def test_same_inputs_give_the_same_command_bit_for_bit():
    c = controller()
    a = run(c, 12, Wishes(day_ahead_mw=2.0, reserves=(("fcr", 1.0),)), hz=49.93)
    b = run(c, 12, Wishes(day_ahead_mw=2.0, reserves=(("fcr", 1.0),)), hz=49.93)
    assert a == b


def test_poi_limit_is_shared_so_the_site_never_exceeds_it():
    c = controller(n=3, poi=(2.0, 2.5), products=("da",))
    _, cmds = run(c, 20, Wishes(day_ahead_mw=10.0))
    assert sum(x.setpoint_mw for x in cmds) == pytest.approx(2.5)
    _, cmds = run(c, 20, Wishes(day_ahead_mw=-10.0))
    assert sum(x.setpoint_mw for x in cmds) == pytest.approx(-2.0)


def test_fcr_droop_adds_activation_to_the_base_point_and_keeps_headroom():
    c = controller(n=1, poi=(10, 10))
    # full FCR activation below 49.8 Hz: 0.5 MW committed, day-ahead 0.2 MW -> 0.7 MW
    _, (cmd,) = run(c, 20, Wishes(day_ahead_mw=0.2, reserves=(("fcr", 0.5),)), hz=49.75)
    assert cmd.setpoint_mw == pytest.approx(0.7)
    # the base point may not take the committed headroom: the day-ahead asks 5 MW, 1 - 0.5 is left
    _, (cmd,) = run(c, 20, Wishes(day_ahead_mw=5.0, reserves=(("fcr", 0.5),)), hz=50.0)
    assert cmd.setpoint_mw == pytest.approx(0.5)
    assert [s.layer for s in cmd.steps] == ["limits", "reserves", "day_ahead"]


@pytest.mark.parametrize("product, hz, share", [
    ("fcr", 50.005, 0.0), ("fcr", 49.9, 0.9 / 1.9), ("fcr", 50.3, -1.0),
    ("fcr_n", 49.95, 0.5), ("fcr_n", 50.1, -1.0),
    ("fcr_d_up", 49.95, 0.0), ("fcr_d_up", 49.7, 0.5), ("fcr_d_up", 50.3, 0.0),
    ("fcr_d_down", 50.3, -0.5), ("fcr_d_down", 49.0, 0.0),
])
def test_droop_follows_each_products_requirements(product, hz, share):
    assert DROOPS[product].activation(hz) == pytest.approx(share)


def test_reserve_energy_is_kept_near_empty():
    c = controller(n=1, poi=(10, 10))
    # 0.25 h of 1 MW FCR needs 0.25 MWh above soc_min; at SoC 0.1 of 2 MWh only 0.1 MWh is there
    _, (cmd,) = run(c, 20, Wishes(day_ahead_mw=0.5, reserves=(("fcr", 1.0),)), soc=0.1)
    assert cmd.setpoint_mw <= EPS
    assert cmd.steps[1].layer == "reserves" and cmd.steps[1].hi <= EPS


@pytest.mark.parametrize("kw, problem", [
    ({"soc": None}, "soc: missing"),
    ({"soc": 1.7}, "soc: out_of_range"),
    ({"power_mw": float("nan")}, "power_mw: invalid"),
    ({"charge_limit_mw": -1.0}, "charge_limit_mw: out_of_range"),
    ({"state": 9}, "state: out_of_range"),
])
def test_a_bad_measurement_gives_zero_on_the_next_cycle_with_its_reason(kw, problem):
    c = controller(n=1, products=("da",))
    state, (cmd,) = run(c, 10, Wishes(day_ahead_mw=0.8))
    assert cmd.setpoint_mw > 0.5
    t = 1000.0 + 10
    state, (cmd,) = c.step(state, Inputs(t, (raw(t, power=0.8, **kw),), Wishes(day_ahead_mw=0.8)))
    assert cmd.setpoint_mw == 0.0 and cmd.mode == "SAFE_STOP"
    assert any(problem in r for r in cmd.reasons), cmd.reasons


def test_stale_and_future_timestamps_and_frozen_power_stop_the_asset():
    c = controller(n=1, products=("da",), frozen_s=5.0)
    state, _ = run(c, 10, Wishes(day_ahead_mw=0.8))
    t = 1010.0
    stale = Raw(raw(t).values | {"power_mw": 0.8}, received=t, timestamp=t - 3.5)
    _, (cmd,) = c.step(state, Inputs(t, (stale,), Wishes(day_ahead_mw=0.8)))
    assert cmd.setpoint_mw == 0.0 and "stale" in cmd.reasons[0]
    skewed = Raw(raw(t).values | {"power_mw": 0.8}, received=t, timestamp=t + 60)
    _, (cmd,) = c.step(state, Inputs(t, (skewed,), Wishes(day_ahead_mw=0.8)))
    assert cmd.setpoint_mw == 0.0 and "skewed" in cmd.reasons[0]
    # the device reports exactly the same power for longer than frozen_s while commanded
    for k in range(8):
        t = 1010.0 + k
        state, (cmd,) = c.step(state, Inputs(t, (raw(t, power=0.8),), Wishes(day_ahead_mw=0.8)))
    assert cmd.setpoint_mw == 0.0 and "power_mw: frozen" in cmd.reasons[0]


def test_soc_jump_is_implausible():
    c = controller(n=1, products=("da",))
    state, _ = run(c, 10, Wishes(day_ahead_mw=0.0))
    _, (cmd,) = c.step(state, Inputs(1010.0, (raw(1010.0, soc=0.7),), Wishes()))
    assert cmd.mode == "SAFE_STOP" and "soc: implausible_rate" in cmd.reasons[0]


def test_a_data_stop_recovers_by_itself_but_a_fault_needs_an_acknowledgement():
    c = controller(n=1, products=("da",))
    state, _ = run(c, 10, Wishes(day_ahead_mw=0.8))
    t = 1010.0
    state, (cmd,) = c.step(state, Inputs(t, (raw(t, soc=None),), Wishes(day_ahead_mw=0.8)))
    assert cmd.mode == "SAFE_STOP"
    for k in range(1, 6):
        state, (cmd,) = c.step(state, Inputs(t + k, (raw(t + k),), Wishes(day_ahead_mw=0.8)))
    assert cmd.mode == "RUNNING"
    # a BMS trip latches FAULT until the trip has cleared and an operator acknowledges
    t += 10
    state, (cmd,) = c.step(state, Inputs(t, (raw(t, alarms=ALARM_BMS_TRIP),), Wishes(day_ahead_mw=0.8)))
    assert (cmd.mode, cmd.setpoint_mw) == ("FAULT", 0.0) and "BMS trip" in cmd.reasons[0]
    for k in range(1, 5):
        state, (cmd,) = c.step(state, Inputs(t + k, (raw(t + k),), Wishes(day_ahead_mw=0.8)))
    assert cmd.mode == "FAULT"
    ack = (OperatorAction("ack", reason="BMS reset on site"),)
    state, (cmd,) = c.step(state, Inputs(t + 5, (raw(t + 5),), Wishes(day_ahead_mw=0.8), ack))
    assert cmd.mode == "OFFLINE"
    for k in range(6, 10):
        state, (cmd,) = c.step(state, Inputs(t + k, (raw(t + k, power=state.assets[0].last_mw),), Wishes(day_ahead_mw=0.8)))
    assert cmd.mode == "RUNNING" and cmd.setpoint_mw > 0


def test_emergency_stop_is_immediate_and_latched_until_acknowledged():
    c = controller(n=2, products=("da",))
    state, _ = run(c, 10, Wishes(day_ahead_mw=2.0))
    t = 1010.0
    raws = tuple(raw(t, power=a.last_mw) for a in state.assets)
    state, cmds = c.step(state, Inputs(t, raws, Wishes(day_ahead_mw=2.0), (OperatorAction("estop", reason="smoke"),)))
    assert all(x.setpoint_mw == 0.0 and x.mode == "EMERGENCY_STOP" for x in cmds)
    assert "operator estop: smoke" in cmds[0].reasons[0]
    for k in range(1, 4):
        state, cmds = c.step(state, Inputs(t + k, tuple(raw(t + k) for _ in cmds), Wishes(day_ahead_mw=2.0)))
    assert all(x.mode == "EMERGENCY_STOP" for x in cmds)
    state, cmds = c.step(state, Inputs(t + 5, tuple(raw(t + 5) for _ in cmds), Wishes(), (OperatorAction("ack"),)))
    assert all(x.mode == "OFFLINE" for x in cmds)
    # the hard-wired e-stop (an alarm bit) stops an asset the same way
    state, _ = run(c, 10, Wishes(day_ahead_mw=2.0))
    _, cmds = c.step(state, Inputs(1010.0, (raw(1010.0, alarms=ALARM_ESTOP), raw(1010.0)), Wishes(day_ahead_mw=2.0)))
    assert cmds[0].mode == "EMERGENCY_STOP" and cmds[0].setpoint_mw == 0.0 and cmds[1].mode in ("RUNNING", "DERATED")


def test_operator_stop_waits_for_start_and_the_ramp_restarts_from_measured_power():
    c = controller(n=1, products=("da",))
    state, _ = run(c, 10, Wishes(day_ahead_mw=0.8))
    t = 1010.0
    state, (cmd,) = c.step(state, Inputs(t, (raw(t, power=0.8),), Wishes(day_ahead_mw=0.8), (OperatorAction("stop", reason="inspection"),)))
    assert cmd.setpoint_mw == 0.0 and "operator stop: inspection" in cmd.reasons[0]
    for k in range(1, 6):
        state, (cmd,) = c.step(state, Inputs(t + k, (raw(t + k),), Wishes(day_ahead_mw=0.8)))
    assert cmd.mode == "SAFE_STOP"
    state, (cmd,) = c.step(state, Inputs(t + 6, (raw(t + 6),), Wishes(day_ahead_mw=0.8), (OperatorAction("start"),)))
    state, (cmd,) = c.step(state, Inputs(t + 7, (raw(t + 7, power=-0.3),), Wishes(day_ahead_mw=0.8)))
    assert cmd.mode == "RUNNING"
    ramp = c.ratings[0].ramp_mw_per_s
    assert cmd.setpoint_mw == pytest.approx(-0.3 + ramp)  # from the measured -0.3 MW, not from the old 0.8
    assert "measured power" in cmd.steps[-1].note


def test_a_device_that_does_not_follow_its_setpoint_goes_to_fault():
    c = controller(n=1, products=("da",), follow_timeout_s=5.0)
    _, (cmd,) = run(c, 15, Wishes(day_ahead_mw=0.8), follow=False)
    assert cmd.mode == "FAULT" and "does not follow its setpoint" in cmd.reasons[0]


def test_a_write_that_was_not_confirmed_stops_the_asset():
    c = controller(n=1, products=("da",))
    state, _ = run(c, 10, Wishes(day_ahead_mw=0.8))
    _, (cmd,) = c.step(state, Inputs(1010.0, (raw(1010.0, power=0.8),), Wishes(day_ahead_mw=0.8),
                                     write_errors=("read back 0 after writing 8000",)))
    assert cmd.setpoint_mw == 0.0 and "write not confirmed" in cmd.reasons[0]


def test_a_range_is_only_narrowed_and_a_refused_limit_keeps_the_earlier_layer():
    r = Resolver("limits", Range(-1.0, 1.0))
    r.limit("reserves", Range(2.0, 3.0))
    assert r.range == Range(-1.0, 1.0) and "refused" in r.resolve().steps[1].note


# -- properties ------------------------------------------------------------------------------------

measurement = st.fixed_dictionaries({
    "power_mw": st.one_of(st.none(), st.floats(-5, 5), st.just(float("nan")), st.floats(-1e6, 1e6)),
    "soc": st.one_of(st.floats(0, 1), st.none(), st.floats(-1, 2)),
    "charge_limit_mw": st.one_of(st.floats(0, 4), st.none(), st.floats(-1, 100)),
    "discharge_limit_mw": st.one_of(st.floats(0, 4), st.none()),
    "state": st.sampled_from([DEVICE_STANDBY, DEVICE_RUNNING, DEVICE_FAULT, 0, 1, 7]),
    "alarms": st.sampled_from([0, 0, 0, ALARM_BMS_TRIP, ALARM_ESTOP]),
    "frequency_hz": st.one_of(st.floats(49.0, 51.0), st.none(), st.floats(0, 100)),
})
cycle = st.tuples(
    st.lists(measurement, min_size=3, max_size=3),
    st.floats(-0.5, 4.0),                                           # seconds of device-clock age
    st.one_of(st.none(), st.floats(-10, 10)),                       # day-ahead site MW
    st.one_of(st.none(), st.floats(-10, 10)),                       # intraday site MW
    st.lists(st.tuples(st.sampled_from(["fcr", "afrr_up", "afrr_down"]), st.floats(0, 3)), max_size=2, unique_by=lambda x: x[0]),
    st.lists(st.sampled_from(["stop", "start", "estop", "ack", "maintenance", "end_maintenance"]), max_size=1),
    st.lists(st.one_of(st.none(), st.just("timeout")), min_size=3, max_size=3),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cycle, min_size=1, max_size=12), st.sampled_from([(3.0, 3.0), (1.0, 5.0), (0.0, 2.0)]))
def test_no_command_ever_leaves_the_limits_or_the_ramp(cycles, poi):
    c = controller(n=3, poi=poi, products=("da", "fcr", "afrr_up", "afrr_down"))
    state = c.initial()
    for k, (ms, age, da, intraday, reserves, actions, errors) in enumerate(cycles):
        t = 1000.0 + k
        raws = tuple(Raw(m, received=t, timestamp=t - age) for m in ms)
        acts = tuple(OperatorAction(a) for a in actions)
        before = state
        state, cmds = c.step(state, Inputs(t, raws, Wishes(day_ahead_mw=da, intraday_mw=intraday,
                                                           reserves=tuple(sorted(reserves))), acts, tuple(errors)))
        site = 0.0
        for i, cmd in enumerate(cmds):
            r, m, p = c.ratings[i], ms[i], cmd.setpoint_mw
            assert math.isfinite(p)
            site += p
            # inverter and BMS limits
            assert -r.charge_mw - EPS <= p <= r.discharge_mw + EPS
            if p > EPS:
                assert m["discharge_limit_mw"] is not None and p <= m["discharge_limit_mw"] + EPS
                assert m["soc"] is not None and m["soc"] > r.soc_min
            if p < -EPS:
                assert m["charge_limit_mw"] is not None and -p <= m["charge_limit_mw"] + EPS
                assert m["soc"] is not None and m["soc"] < r.soc_max
            # only an operable asset moves, and only with every required value good
            if abs(p) > 0:
                assert cmd.mode in ("RUNNING", "DERATED")
                assert age <= 3.0 and errors[i] is None and not (m["alarms"] & (ALARM_BMS_TRIP | ALARM_ESTOP))
            # emergency stop, or any data problem: exactly 0
            if "estop" in actions or cmd.mode != "RUNNING" and cmd.mode != "DERATED":
                assert p == 0.0
            # the ramp: from the last command when it was running, unless a limit forced it down
            if before.assets[i].mode.mode.operable and abs(p) > 0:
                step = r.ramp_mw_per_s * min(max(t - (before.t or t - 1), 1e-3), 2.0) + EPS
                lim = cmd.steps[0]
                assert abs(p - before.assets[i].last_mw) <= step or not (lim.lo - EPS <= before.assets[i].last_mw <= lim.hi + EPS)
            # every layer only narrowed the range left above it
            for a, b in zip(cmd.steps, cmd.steps[1:]):
                if b.layer != "ramp":
                    assert a.lo - EPS <= b.lo and b.hi <= a.hi + EPS
            assert cmd.steps[0].lo - EPS <= p <= cmd.steps[0].hi + EPS
        assert -poi[0] - EPS <= site <= poi[1] + EPS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.06, 0.94), st.floats(49.5, 50.5)), min_size=1, max_size=15))
def test_modes_outside_running_and_derated_always_command_zero(walk):
    c = controller(n=1)
    state = c.initial()
    for k, (soc, hz) in enumerate(walk):
        t = 1000.0 + k
        state, (cmd,) = c.step(state, Inputs(t, (raw(t, power=state.assets[0].last_mw, soc=soc, hz=hz),),
                                             Wishes(day_ahead_mw=1.0, reserves=(("fcr", 0.5),))))
        if Mode(cmd.mode) not in (Mode.RUNNING, Mode.DERATED):
            assert cmd.setpoint_mw == 0.0


def test_each_cycle_leaves_one_immutable_snapshot_of_the_site():
    c = controller(n=2, products=("da",))
    state, cmds = run(c, 6, Wishes(day_ahead_mw=1.0))
    snap = state.snapshot
    assert snap.cycle == 6 and snap.commands == cmds and snap.modes == tuple(x.mode for x in cmds)
    assert snap.readings[0]["soc"].good and snap.wishes.day_ahead_mw == 1.0
    with pytest.raises(AttributeError):
        snap.cycle = 7
    with pytest.raises(TypeError):
        snap.readings[0].values["soc"] = None  # a read-only mapping


def test_a_recording_replays_bit_for_bit_and_a_change_is_found(tmp_path):
    from bess_ray.control.replay import Recorder, replay

    c = controller(n=2)
    rec = Recorder(tmp_path / "r.jsonl", c)
    state = c.initial()
    for k in range(20):
        t = 1000.0 + k
        raws = tuple(raw(t, power=a.last_mw + 1e-4 * (-1) ** k, hz=50.0 - 0.01 * (k % 5), soc=None if k == 9 else 0.5)
                     for a in state.assets)
        inputs = Inputs(t, raws, Wishes(day_ahead_mw=1.5, reserves=(("fcr", 0.4),)),
                        (OperatorAction("stop"),) if k == 14 else ())
        before = state
        state, cmds = c.step(state, inputs)
        rec.record(before, inputs, cmds)
    rec.close()
    assert replay(tmp_path / "r.jsonl") == (20, [])
