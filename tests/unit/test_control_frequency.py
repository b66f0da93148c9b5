"""FCR, FCR-N and FCR-D activation on real measured grid frequency: the pipeline drives the field
simulator's plant in-process, second by second; the delivered power follows the droop and the SoC
stays inside the band the reserve's energy needs."""
from __future__ import annotations

from importlib import resources

import numpy as np
import polars as pl
import pytest

from bess_ray.config import Site
from bess_ray.control.measurements import DEVICE_RUNNING, DEVICE_STANDBY, Raw
from bess_ray.control.pipeline import Controller, Inputs
from bess_ray.control.reserves import DROOPS
from bess_ray.control.schedules import Wishes
from bess_ray.control.settings import Operation
from bess_ray.devices.fieldsim.plant import INV_RUNNING, Plant
from tests.conftest import battery, site_dict

SAMPLES = resources.files("bess_ray.data") / "samples" / "frequency"


def frequency(name: str, seconds: int, offset: int = 0) -> np.ndarray:
    df = pl.read_parquet(str(SAMPLES / name))
    return df["frequency_hz"].to_numpy()[offset:offset + seconds]


def deliver(products: dict[str, float], hz: np.ndarray, zone: str, energy_mwh=1.0, soc=0.5, **durations):
    site = Site.from_dict(site_dict(battery(id="b1", energy_mwh=energy_mwh, soc_initial=soc, soc_min=0.05, soc_max=0.95,
                                            charge_efficiency=0.95, discharge_efficiency=0.95),
                                    zone=zone, products=("da", *products), reserve_duration_h=durations))
    c = Controller.of(Operation(site=site))
    plant = Plant.of(site.batteries[0], t=0.0)
    plant.setpoint_enabled = True
    state = c.initial()
    wishes = Wishes(reserves=tuple(sorted(products.items())))
    delivered, asked, socs = [], [], []
    for k, f in enumerate(hz):
        t = float(k)
        plant.advance(t)
        cha, dis = plant.bms_limits()
        meter = 1e-5 if k % 2 else -1e-5  # a real meter is never exact (else the power reads as frozen)
        r = Raw({"power_mw": plant.power_mw + meter, "soc": plant.soc, "charge_limit_mw": cha, "discharge_limit_mw": dis,
                 "state": DEVICE_RUNNING if plant.inverter_state() == INV_RUNNING else DEVICE_STANDBY,
                 "alarms": 0, "frequency_hz": float(f)}, received=t, timestamp=t)
        state, (cmd,) = c.step(state, Inputs(t, (r,), wishes))
        plant.write_setpoint(cmd.setpoint_mw, t)
        if cmd.mode == "RUNNING":
            delivered.append(plant.power_mw)
            asked.append(sum(mw * DROOPS[p].activation(f) for p, mw in products.items()))
            socs.append(plant.soc)
    return np.array(delivered), np.array(asked), np.array(socs), c


def test_fcr_follows_the_droop_on_a_day_of_german_frequency():
    hz = frequency("DE_frequency_2022-09-17_1s.parquet", 4 * 3600)
    delivered, asked, socs, _ = deliver({"fcr": 0.5}, hz, "DE-LU")
    # the plant answers a second later (the cycle) and ramps: compare with the droop one cycle before
    err = np.abs(delivered[1:] - asked[:-1])
    assert np.percentile(err, 99) < 0.02 and err.mean() < 0.005
    assert np.abs(asked).max() > 0.1            # the day has real activations
    # 15 min of 0.5 MW each way stays available: SoC inside the band, with the losses
    assert 0.05 + 0.125 / 0.95 < socs.min() and socs.max() < 0.95 - 0.125


@pytest.mark.parametrize("products", [{"fcr_n": 0.3}, {"fcr_d_up": 0.5}])
def test_nordic_reserves_follow_the_droop_through_a_real_disturbance(products):
    hz = frequency("NORDIC_frequency_2015-01-01_07_1s.parquet", 6 * 3600, offset=(3 * 24 + 6) * 3600)  # 01-04 06:00
    delivered, asked, socs, _ = deliver(products, hz, "DK2", energy_mwh=2.0, fcr_n=1.0, fcr_d_up=1 / 3)
    err = np.abs(delivered[1:] - asked[:-1])
    assert np.percentile(err, 99) < 0.03
    assert asked.max() > 0.25  # the 49.69 Hz dip asks for most of the capacity
    assert socs.min() > 0.05
