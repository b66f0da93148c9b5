"""Simulation configs and scenarios: impossible inputs fail before running, naming field and reason."""

import numpy as np
import pytest

from bess_ray.errors import ConfigError, DataError
from bess_ray.simulation.config import PriceScenario, SimulationConfig
from bess_ray.simulation.inputs import prepare
from bess_ray.simulation.scenarios import scenario_prices, simulation_grid

from tests.conftest import CONFIGS, battery, site_dict


def sim(**kw) -> dict:
    base = dict(schema_version=1, name="t", site=site_dict(battery()), start_year=2026, years=2,
                prices=dict(day_ahead="sample:DE_LU_2023"))
    base.update(kw)
    return base


def test_the_shipped_simulations_are_valid():
    for path in (CONFIGS / "simulations").glob("*.yaml"):
        SimulationConfig.from_yaml(path)


@pytest.mark.parametrize("patch,message", [
    (dict(battery_model=dict(end_of_life_soh=0.8, initial_soh=0.75)), "battery_model: end_of_life_soh (0.8) must be below initial_soh (0.75)"),
    (dict(battery_model=dict(replacement="augment", end_of_life_soh=0.8, augment_to_soh=0.7)), "augment_to_soh (0.7) must be above end_of_life_soh"),
    (dict(prices=dict(per_year={2026: dict(day_ahead="sample:DE_LU_2023")})), "prices.per_year: no prices for 2027"),
    (dict(battery_model=dict(temperature_c=[20, 25])), "battery_model.temperature_c: give one temperature or 12 monthly ones"),
    (dict(years=0), "years: Input should be greater than or equal to 1"),
    (dict(strategy=dict(products=["fcr"])), "strategy.products: must include 'da' and be part of da_only"),
])
def test_impossible_parameters_name_the_field(patch, message):
    with pytest.raises(ConfigError) as e:
        SimulationConfig.from_dict(sim(**patch))
    assert message in str(e.value)


def test_an_impossible_site_fails_before_running(tmp_path):
    cfg = SimulationConfig.from_dict(sim(site=site_dict(battery(charge_efficiency=1.2))))
    with pytest.raises(ConfigError, match="site: assets.0.charge_efficiency: Input should be less than or equal to 1"):
        prepare(cfg, tmp_path)


def test_a_pv_profile_shorter_than_the_horizon_fails_before_running(tmp_path):
    profile = tmp_path / "pv.csv"
    hours = np.arange("2024-06-01T00", "2024-07-01T00", dtype="datetime64[h]")
    profile.write_text("timestamp,profile\n" + "\n".join(f"{t}:00:00Z,0.5" for t in hours))
    cfg = SimulationConfig.from_dict(sim(site=site_dict(battery(), dict(type="pv", id="pv1", capacity_mw=2,
                                                                         profile=str(profile)))))
    with pytest.raises(DataError, match=r"assets.pv1.profile: .* covers 30 days .* shorter than the horizon"):
        prepare(cfg, tmp_path)


def test_escalation_and_volatility_per_year():
    years = [2026, 2027, 2028]
    grid, spans = simulation_grid(years, "Europe/Berlin", "60min", 24)
    flat = scenario_prices(PriceScenario(day_ahead="sample:DE_LU_2023"), "DE_LU", ("da",), years, grid)
    sc = PriceScenario(day_ahead="sample:DE_LU_2023", energy_escalation=0.1, volatility_scale=2.0,
                       volatility_growth=0.2)
    scaled = scenario_prices(sc, "DE_LU", ("da",), years, grid)
    for k, (a, b) in enumerate(spans):
        base, v = flat.prices["da"][a:b], scaled.prices["da"][a:b]
        assert v.mean() == pytest.approx(base.mean() * 1.1 ** k, rel=0.02)
        assert v.std() == pytest.approx(base.std() * 2.0 * 1.2 ** k * 1.1 ** k, rel=0.05)


def test_one_file_per_year_is_used_as_given(tmp_path):
    years = [2023, 2024]
    grid, spans = simulation_grid(years, "Europe/Berlin", "60min", 24)
    sc = PriceScenario(per_year={2023: dict(day_ahead="sample:DE_LU_2023"), 2024: dict(day_ahead="sample:DE_LU_2024")})
    prices = scenario_prices(sc, "DE_LU", ("da",), years, grid)
    real_2024 = scenario_prices(PriceScenario(day_ahead="sample:DE_LU_2024"), "DE_LU", ("da",), [2024],
                                *simulation_grid([2024], "Europe/Berlin", "60min", 24)[:1])
    a, b = spans[1]
    assert prices.prices["da"][a:b].mean() == pytest.approx(real_2024.prices["da"][192:192 + b - a].mean(), rel=1e-9)


def test_wind_power_from_a_wind_speed_series_and_power_curve(tmp_path):
    from bess_ray.config import Site
    from bess_ray.data.generation import site_generation as generation

    hours = np.arange("2026-01-01T00", "2027-01-01T00", dtype="datetime64[h]")
    speed = 2.0 + (np.arange(hours.size) % 24)  # 2 .. 25 m/s, every day
    path = tmp_path / "wind.csv"
    path.write_text("timestamp,wind_speed\n" + "\n".join(f"{t}:00:00Z,{v}" for t, v in zip(hours, speed)))
    site = Site.from_dict(site_dict(battery(), dict(type="wind", id="wt", capacity_mw=4.0, wind_speed=str(path),
                                                    power_curve=[[0, 0], [3, 0], [13, 1.0], [24, 1.0], [24.5, 0]])))
    grid, spans = simulation_grid([2026], "UTC", "60min", 0, history_days=0)
    gen = generation(site, grid.__class__(grid.start, 8760, 60), [2026])
    expected = 4.0 * np.interp(speed, [0, 3, 13, 24, 24.5], [0, 0, 1.0, 1.0, 0])
    np.testing.assert_allclose(gen.available_mw[0], expected)
    assert gen.available_mw.max() == 4.0 and gen.available_mw[0][23] == 0.0  # 25 m/s: cut out
