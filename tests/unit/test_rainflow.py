"""The rainflow counter against ASTM E1049's worked example and the `rainflow` package."""
import numpy as np
import pytest
import rainflow
from hypothesis import given, settings
from hypothesis import strategies as st

from bess_ray.analytics.rainflow import count_by_range, cycles


def test_astm_e1049_worked_example():
    # ASTM E1049-85 (2017), Fig. 6: the rainflow counting example and its result table
    assert count_by_range([-2, 1, -3, 5, -1, 3, -4, 4, -2]) == [(3.0, 0.5), (4.0, 1.5), (6.0, 0.5), (8.0, 1.0), (9.0, 0.5)]


def test_two_points_are_a_half_cycle():
    # ASTM counts the range of a two-point history as a half cycle; rainflow 3.2 yields nothing there
    assert count_by_range([0.0, 1.0]) == [(1.0, 0.5)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-6, 6), min_size=3, max_size=60))
def test_agrees_with_the_rainflow_package_including_plateaus(values):
    ours = cycles(values)
    theirs = [c for c in rainflow.extract_cycles(values) if c[0] > 0]  # it gives a flat series a 0-range half cycle
    assert len(ours) == len(theirs)
    for row, (rng, mean, count, i0, i1) in zip(sorted(ours.tolist(), key=lambda r: (r[3], r[4])),
                                              sorted(theirs, key=lambda r: (r[3], r[4]))):
        assert row[:3] == pytest.approx([rng, mean, count])
        assert (row[3], row[4]) == (i0, i1)


def test_a_year_of_soc_and_bad_input():
    soc = np.clip(np.cumsum(np.random.default_rng(7).normal(0, 0.05, 35040)), 0, 1)
    ours, theirs = count_by_range(soc), rainflow.count_cycles(soc)
    assert np.allclose(ours, theirs)
    assert cycles([]).shape == (0, 5) and cycles([1.0]).shape == (0, 5)
    with pytest.raises(ValueError, match="finite"):
        cycles([0.0, np.nan, 1.0])
