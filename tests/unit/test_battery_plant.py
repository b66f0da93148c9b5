"""The battery model that executes plans: physics, derating, ageing, end of life."""
import numpy as np
import pytest

from bess_ray.config import Site
from bess_ray.optimization import optimize
from bess_ray.simulation.battery import BatteryPlant
from bess_ray.simulation.config import BatteryModel, Derating

from tests.conftest import battery, site_dict

NO_DERATING = Derating(charge=((0.0, 1.0), (1.0, 1.0)), discharge=((0.0, 1.0), (1.0, 1.0)))


def _site(**kw):
    return Site.from_dict(site_dict(battery(charge_efficiency=0.95, discharge_efficiency=0.9, soc_min=0.1,
                                            soc_max=0.9, standby_loss_per_hour=0.001, **kw)))


def _plant(site, hours, **physics):
    model = BatteryModel(**{"derating": NO_DERATING, **physics})
    return BatteryPlant(site, model, 0.25, np.full(int(hours * 4), float(model.temperature_c)))


def test_a_feasible_plan_is_delivered_exactly_with_the_lp_soc():
    site = _site(final_soc="free")
    res = optimize(site, "sample:DE_LU_2023", start="2023-03-01T00:00:00Z", end="2023-03-03T00:00:00Z")
    sched = res.schedule
    plan_c, plan_d = sched["charge_mw"].to_numpy()[None, :], sched["discharge_mw"].to_numpy()[None, :]
    plant = _plant(site, 48)
    c, d, s = plant.deliver(plan_c, plan_d)
    np.testing.assert_allclose(c, plan_c, atol=1e-7)
    np.testing.assert_allclose(d, plan_d, atol=1e-7)
    np.testing.assert_allclose(s[0], sched["soc_end_mwh"].to_numpy(), atol=1e-6)


def test_derating_and_soc_limits_cut_the_plan_and_the_difference_shows():
    site = _site(soc_initial=0.8)
    plant = BatteryPlant(site, BatteryModel(), 0.25, np.array([25.0]))  # default curve: charge derates above 90 %
    plan = np.full((1, 8), 1.0)
    c, d, s = plant.deliver(plan, np.zeros((1, 8)))
    assert s.max() <= 2.0 * 0.9 + 1e-9  # never above soc_max of the capacity
    assert c.sum() < plan.sum()  # the difference is what could not be done
    assert np.all(np.diff(c[0]) <= 1e-12)  # power falls as the battery fills


def test_capacity_shrinks_weekly_and_the_optimiser_sees_it():
    site = _site()
    plant = _plant(site, 24 * 15, soh_update_days=7, temperature_c=45.0)
    week = 7 * 96
    plant.deliver(np.zeros((1, week - 1)), np.zeros((1, week - 1)))
    assert plant.site.batteries[0].energy_mwh == 2.0  # no update before a week has passed
    plant.deliver(np.zeros((1, 1)), np.zeros((1, 1)))
    first = plant.site.batteries[0].energy_mwh
    assert first < 2.0 and len(plant.soh_log) == 1
    plant.deliver(np.zeros((1, week)), np.zeros((1, week)))
    assert plant.site.batteries[0].energy_mwh < first


@pytest.mark.parametrize("policy,kind", [("replace", "replacement"), ("augment", "augmentation"),
                                         ("none", "end_of_life")])
def test_end_of_life_policies(policy, kind):
    site = _site()
    plant = _plant(site, 24 * 7, soh_update_days=1, temperature_c=60.0, end_of_life_soh=0.995,
                   replacement=policy, augment_to_soh=0.999)
    plant.deliver(np.zeros((1, 96 * 7)), np.zeros((1, 96 * 7)))
    kinds = [e.kind for e in plant.events]
    assert kinds and set(kinds) == {kind}
    soh = plant.soh()[0]
    if policy == "replace":
        assert soh > 0.995 and plant.events[0].mwh_bought == 2.0
    elif policy == "augment":
        assert len(plant.state.cohorts[0]) > 1 and soh > 0.995
    else:
        assert len(kinds) == 1 and soh < 0.995  # reported once, runs on
