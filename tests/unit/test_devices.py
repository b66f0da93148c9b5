"""Device-side pieces without sockets: SunSpec definitions and encoding, register maps, the
simulator's plant physics and SunSpec 704 reversion, fault files."""
from __future__ import annotations

import pytest

from bess_ray.devices import sunspec
from bess_ray.devices.fieldsim.faults import Fault
from bess_ray.devices.fieldsim.plant import INV_FAULT, INV_RUNNING, INV_STANDBY, Plant
from bess_ray.devices.registers import RegisterMap, load_map
from bess_ray.errors import ConfigError


def test_offsets_come_from_the_sunspec_definitions():
    # the offsets OPERATIONS-NOTES.md lists, read from pysunspec2's model files, not typed here
    assert sunspec.point(701, "W").offset == 10 and sunspec.point(701, "W_SF").offset == 116
    assert sunspec.point(704, "WSet").offset == 24 and sunspec.point(704, "WSet").size == 2
    assert sunspec.point(713, "SoC").offset == 4 and sunspec.point(802, "CtrlHb").offset == 19
    assert sunspec.point(704, "WSetRvrtTms").writable and not sunspec.point(701, "W").writable
    with pytest.raises(KeyError, match="no point 'Watts'"):
        sunspec.point(701, "Watts")
    with pytest.raises(KeyError, match="no SunSpec model 999"):
        sunspec.point(999, "W")


@pytest.mark.parametrize("model, name, raw", [(701, "W", -12345), (704, "WSet", -2_000_000), (702, "WMaxRtg", 65000),
                                              (701, "W_SF", -3), (122, "Tms", 850_000_000)])
def test_encode_and_decode_round_trip(model, name, raw):
    p = sunspec.point(model, name)
    assert sunspec.decode(sunspec.encode(raw, p), p) == raw


def test_not_implemented_values_decode_to_none():
    for model, name in ((701, "W"), (713, "SoC"), (704, "WSet"), (701, "W_SF"), (701, "Alrm")):
        p = sunspec.point(model, name)
        assert sunspec.decode(sunspec.not_implemented(p), p) is None


def test_the_bundled_map_names_every_value():
    m = load_map()
    assert m.kind == "sunspec" and m.reversion
    assert set(m.values) == {"power_mw", "frequency_hz", "soc", "charge_limit_mw", "discharge_limit_mw", "state"}
    assert m.values["state"].states[6] == "fault" and m.values["state"].states[0] == "off"


@pytest.mark.parametrize("data, message", [
    ({"values": {"power_mw": {"point": "701.W"}}, "setpoint": {"point": "704.WSet"}}, "values: missing soc"),
    ({"values": {"power_mw": {"point": "W"}}, "setpoint": {"point": "704.WSet"}}, "a SunSpec point is MODEL.POINT"),
    ({"kind": "plain", "values": {k: {"point": {"address": i}} for i, k in enumerate(
        ["power_mw", "soc", "charge_limit_mw", "discharge_limit_mw"])} | {"state": {"point": {"address": 9}, "states": {1: "running"}}},
      "setpoint": {"point": {"address": 10}}}, "reversion: only SunSpec devices"),
    ({"values": {}, "setpoint": {"point": "704.WSet"}, "speed": 1}, "speed: unknown key"),
])
def test_a_wrong_register_map_names_the_field(data, message):
    with pytest.raises(ConfigError, match=message):
        RegisterMap.from_dict(data, "map")


def test_unknown_bundled_map_is_a_clear_error():
    with pytest.raises(ConfigError, match="no such bundled map"):
        load_map("huawei")


def plant(**kw) -> Plant:
    p = Plant(charge_mw=1.0, discharge_mw=1.0, energy_mwh=2.0, charge_efficiency=0.9, discharge_efficiency=0.9,
              soc=0.5, t=0.0, **kw)
    p.setpoint_enabled = True
    return p


def test_plant_soc_follows_efficiencies_and_power_waits_for_the_response_delay():
    p = plant()
    p.write_setpoint(0.5, 0.0)
    p.advance(0.15)
    assert p.power_mw == 0.0                       # 0.2 s response delay
    p.advance(3600.0)
    # one hour at 0.5 MW (less the first second's delay and ramp) takes 0.5 / 0.9 MWh out of 2 MWh
    assert p.soc == pytest.approx(0.5 - 0.5 / 0.9 / 2.0, abs=1e-3)
    assert p.energy_out_mwh == pytest.approx(0.5, abs=1e-3)


def test_bms_limits_taper_near_empty_and_full_and_cut_the_plant():
    p = plant()
    p.soc = 0.05
    assert p.bms_limits() == pytest.approx((1.0, 0.5))
    p.soc = 0.97
    assert p.bms_limits() == pytest.approx((0.3, 1.0))
    p.write_setpoint(-1.0, 0.0)
    p.advance(5.0)
    assert p.power_mw >= -0.3 - 1e-9               # the BMS wins over the setpoint
    p.tripped = True
    p.advance(5.5)
    assert p.power_mw == 0.0 and p.inverter_state() == INV_FAULT


def test_sunspec_704_reversion_falls_to_the_reversion_value_and_counts_down():
    p = plant()
    p.reversion_s = 5
    p.write_setpoint(0.8, 0.0)
    p.advance(2.0)
    assert p.power_mw == pytest.approx(0.8) and p.inverter_state() == INV_RUNNING
    assert p.reversion_remaining(2.0) == pytest.approx(3.0)
    p.write_setpoint(0.8, 4.0)                     # a new write restarts the timer
    p.advance(8.9)
    assert p.power_mw == pytest.approx(0.8)
    p.advance(10.5)
    assert p.reverted and p.power_mw == 0.0 and p.reversion_remaining(10.5) == 0.0
    assert p.inverter_state() == INV_STANDBY


def test_a_lost_controller_heartbeat_reverts_too():
    p = plant()
    p.reversion_s = 3
    for t in range(5):
        p.write_heartbeat(t + 1, float(t))
        p.write_setpoint(0.5, float(t))
    p.last_write = 100.0  # writes keep coming (e.g. a stuck gateway repeating the last frame) ...
    p.advance(8.5)        # ... but the heartbeat stopped at t = 4
    assert p.reverted and p.power_mw == 0.0


@pytest.mark.parametrize("data, message", [
    ({"kind": "out_of_range", "point": "713.SoC"}, "out_of_range needs value"),
    ({"kind": "not_implemented"}, "needs point"),
    ({"kind": "not_implemented", "point": "713.Nope"}, "has no point 'Nope'"),
    ({"kind": "melt"}, "kind: Input should be"),
])
def test_a_wrong_fault_names_the_field(data, message):
    with pytest.raises(ConfigError, match=message):
        Fault.from_dict(data, "fault")


def test_the_plain_map_in_the_docs_is_valid():
    import re

    import yaml

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "operate.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("kind: plain"))
    m = RegisterMap.from_dict(yaml.safe_load(block), "docs")
    assert m.values["power_mw"].sign == -1 and m.alarms[0].alarm == "bms_trip"


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1.2, 1.2), min_size=5, max_size=40), st.floats(0.05, 0.95),
       st.sampled_from([0.0, 0.2, 0.5]), st.sampled_from([None, 0.2, 5.0]), st.sampled_from([0.0, 0.1]))
def test_the_exact_integration_is_the_stepped_physics(setpoints, soc, delay, ramp, taper):
    """Event-to-event integration (the fast path) against the 0.1 s steps it replaces: the same SoC,
    energies within the steps' own error, and never past the ratings."""
    exact = Plant(1.0, 1.0, 2.0, soc=soc, response_delay_s=delay, ramp_mw_per_s=ramp, taper=taper)
    stepped = Plant(1.0, 1.0, 2.0, soc=soc, response_delay_s=delay, ramp_mw_per_s=ramp, taper=taper)
    stepped._segment = lambda now: False
    for p in (exact, stepped):
        p.setpoint_enabled = True
    for k, mw in enumerate(setpoints):
        for p in (exact, stepped):
            p.write_setpoint(mw, float(k))
            p.advance(k + 1.0)
            assert -1.0 - 1e-12 <= p.power_mw <= 1.0 + 1e-12 and 0.0 <= p.soc <= 1.0
        assert exact.soc == pytest.approx(stepped.soc, abs=2e-4)
        assert exact.energy_out_mwh == pytest.approx(stepped.energy_out_mwh, abs=3e-4)
        assert exact.energy_in_mwh == pytest.approx(stepped.energy_in_mwh, abs=3e-4)
