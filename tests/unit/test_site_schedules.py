"""Versioned site schedules: payloads and handoffs read, limits checked, and a new version that
changes only the future (the past and committed reserves locked)."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bess_ray.control.schedules import EMPTY
from bess_ray.control.site_schedules import check, iso, plan_from_payload, revise, to_payload
from bess_ray.errors import DataError

T0 = 1_780_000_200.0  # a quarter-hour boundary
LIMITS = dict(import_mw=2.0, export_mw=2.0, rated_mw=2.0, products={"fcr"})


def payload(net, reserves=None, start=T0, step=900):
    out = {"timestamps": [iso(start + step * i) for i in range(len(net))], "net_mw": net}
    if reserves is not None:
        out["reserves_mw"] = {"fcr": reserves}
    return out


def test_a_payload_round_trips_and_holds_each_value_for_its_interval():
    plan = plan_from_payload(payload([1.0, -0.5, None, 0.25], [0.5, 0.5, 0.0, 0.0]), "v1")
    assert plan.at(T0 + 10).day_ahead_mw == 1.0 and plan.at(T0 + 900).day_ahead_mw == -0.5
    assert plan.at(T0 + 1800).day_ahead_mw is None  # null: nothing asked
    assert plan.at(T0 + 4 * 900).day_ahead_mw is None  # after the last interval
    assert plan.at(T0).reserves == (("fcr", 0.5),) and plan.at(T0 + 2000).reserves == ()
    again = plan_from_payload(json.loads(json.dumps(to_payload(plan))), "v1")
    assert [again.at(T0 + 450 * k) for k in range(10)] == [plan.at(T0 + 450 * k) for k in range(10)]


def test_a_backtest_handoff_is_accepted_as_it_is():
    handoff = {"schema": "bess-ray/handoff/1", "site": "s", "intervals": [
        {"start_utc": iso(T0 + 900 * i), "site_net_mw": 0.5 * i,
         "assets": {"a": {"net_mw": 0.25 * i, "reserve_fcr_mw": 0.5}, "b": {"net_mw": 0.25 * i, "reserve_fcr_mw": 0.25}}}
        for i in range(3)]}
    plan = plan_from_payload(handoff)
    assert plan.at(T0 + 900).day_ahead_mw == 0.5 and dict(plan.at(T0).reserves) == {"fcr": 0.75}


@pytest.mark.parametrize("body, message", [
    ([], "schedule: expected a JSON object"),
    ({"net_mw": [1.0]}, "schedule.timestamps: needs a list of UTC interval starts"),
    ({"timestamps": ["2026-12-02T00:00:00"], "net_mw": [1.0]}, "has no time zone"),
    ({"timestamps": ["yesterday"], "net_mw": [1.0]}, "schedule.timestamps\\[0\\]: 'yesterday' is not an ISO-8601 time"),
    ({"timestamps": [iso(T0), iso(T0)], "net_mw": [1.0, 1.0]}, "schedule.timestamps\\[1\\]: .* is not after"),
    ({"timestamps": [iso(T0)], "net_mw": [1.0, 2.0]}, "schedule.net_mw: needs one value per timestamp \\(1\\), got 2"),
    ({"timestamps": [iso(T0)], "net_mw": ["1"]}, "schedule.net_mw\\[0\\]: '1' is not a number of MW"),
    ({"timestamps": [iso(T0)], "net_mw": [float("nan")]}, "schedule.net_mw\\[0\\]: nan is not a number"),
    ({"timestamps": [iso(T0)], "netmw": [1.0]}, "unknown field\\(s\\) netmw"),
    ({"timestamps": [iso(T0)]}, "no values"),
])
def test_a_malformed_payload_names_the_field(body, message):
    with pytest.raises(DataError, match=message):
        plan_from_payload(body)


@pytest.mark.parametrize("body, message", [
    (payload([2.5]), "schedule.net_mw\\[0\\]: 2.5 MW is outside the POI limits"),
    (payload([0.0], [3.0]), "schedule.reserves_mw.fcr\\[0\\]: 3 MW is outside 0..2 MW"),
    ({**payload([0.0]), "reserves_mw": {"afrr_up": [1.0]}}, "the site does not trade afrr_up"),
    (payload([0.0], start=T0 - 7200), "schedule: stale: its last interval ended at"),
])
def test_a_schedule_that_breaks_a_limit_or_is_stale_is_refused(body, message):
    with pytest.raises(DataError, match=message):
        check(plan_from_payload(body), now=T0 + 60, **LIMITS)


def test_a_new_version_changes_only_the_future_and_keeps_committed_reserves():
    active = plan_from_payload(payload([1.0] * 8, [0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]), "v1")
    new = plan_from_payload(payload([-1.0] * 8, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]))
    now = T0 + 900 + 100  # inside the second interval
    merged = revise(active, new, now, "v2")
    nets = [merged.at(T0 + 900 * i + 1).day_ahead_mw for i in range(8)]
    assert nets == [1.0, 1.0] + [-1.0] * 6  # past and current interval locked
    fcr = [dict(merged.at(T0 + 900 * i + 1).reserves).get("fcr", 0.0) for i in range(8)]
    assert fcr == [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0]  # committed intervals keep theirs
    assert revise(EMPTY, new, now, "v1").at(now).day_ahead_mw == -1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=2, max_size=12), st.lists(st.floats(-2, 2), min_size=2, max_size=12),
       st.floats(0, 13 * 900))
def test_revising_never_changes_what_is_already_delivered(old, new, offset):
    """Property: at every time up to the end of the current interval the merged plan asks what the
    active one asked, whatever the new version says."""
    active, fresh = plan_from_payload(payload(old)), plan_from_payload(payload(new))
    now = T0 + offset
    merged = revise(active, fresh, now, "v2")
    current_end = T0 + 900 * (int(offset // 900) + 1)
    for t in [T0 + 60 * k for k in range(int((current_end - T0) // 60))]:
        assert merged.at(t).day_ahead_mw == active.at(t).day_ahead_mw, t
