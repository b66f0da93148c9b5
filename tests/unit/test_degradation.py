"""Life models: against NREL BLAST-Lite's own results, and the stress directions they must have."""
import json
from pathlib import Path

import numpy as np
import pytest

from bess_ray.simulation.degradation import AgingState, model, stress, synthetic_soc

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "blast_lite_reference.json").read_text())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: f"{c['chemistry']}-{c['profile']}-{c['temperature_c']:g}C")
def test_ten_years_match_blast_lite(case):
    """Same equations and coefficients; stress per rainflow cycle instead of per window: within
    1 point of capacity after 10 years of weekly updates, and the same cycle count."""
    soc = np.array(REFERENCE["profiles"][case["profile"]])
    m, state = model(case["chemistry"]), AgingState()
    for _ in range(REFERENCE["weeks"]):
        state = m.advance(state, stress(soc, REFERENCE["dt_hours"], case["temperature_c"], state.soh))
    assert state.soh == pytest.approx(case["q"], abs=0.01)
    assert state.efc == pytest.approx(case["efc"], rel=0.02, abs=1e-9)  # EFC counts Ah: scales with SoH


def _fade(chem, soc, temp=25.0, weeks=52):
    m, state = model(chem), AgingState()
    for _ in range(weeks):
        state = m.advance(state, stress(soc, 0.25, temp, state.soh))
    return state


@pytest.mark.parametrize("chem", ["lfp", "nmc"])
def test_stress_directions(chem):
    rest = np.full(673, 0.5)
    assert _fade(chem, rest, 35.0).soh < _fade(chem, rest, 25.0).soh  # hotter ages faster
    assert _fade(chem, np.full(673, 0.9)).soh < _fade(chem, np.full(673, 0.3)).soh  # high SoC ages faster
    shallow, deep = _fade(chem, synthetic_soc(1, 0.3, 0.5)), _fade(chem, synthetic_soc(1, 0.9, 0.5))
    assert deep.cycle > shallow.cycle > 0.0  # deeper cycles fade more
    assert rest is not None and _fade(chem, rest).cycle == 0.0  # resting cells only age with time


def test_virtual_time_makes_updates_path_consistent():
    """Two half-week updates of a steady duty fade like one whole-week update."""
    soc = synthetic_soc(2, 0.8, 0.5, days=14)
    m = model("lfp")
    whole = m.advance(AgingState(), stress(soc, 0.25, 25.0))
    half = len(soc) // 2
    a = m.advance(AgingState(), stress(soc[:half + 1], 0.25, 25.0))
    b = m.advance(a, stress(soc[half:], 0.25, 25.0, a.soh))
    assert b.calendar == pytest.approx(whole.calendar, rel=1e-3)
    assert b.cycle == pytest.approx(whole.cycle, rel=0.02)


def test_unknown_chemistry_is_named():
    with pytest.raises(ValueError, match="unknown chemistry 'lto'"):
        model("lto")


@pytest.mark.parametrize("per_day", [0.5, 1.0, 1.3, 2.0])
def test_expected_cycling_keeps_its_daily_throughput(per_day):
    week = synthetic_soc(per_day, 0.8, 0.5)
    assert stress(week, 0.25, 25.0).efc == pytest.approx(7 * per_day * 0.8, rel=0.02)
