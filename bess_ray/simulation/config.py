"""Simulation config: a site, multi-year price scenarios, the battery's physics, the dispatch strategy
and the finance, in one schema-versioned YAML file (examples in configs/simulations/)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config import Site, StrictModel, load_site
from ..dispatch.config import Dispatch
from .degradation import CHEMISTRIES
from .finance import Finance


class PriceYear(StrictModel):
    day_ahead: str | list[str]
    reserves: list[str] = Field(default_factory=list)


class PriceScenario(StrictModel):
    """Prices for every simulated year: a real base year repeated (re-stamped by whole weeks) with a
    yearly escalation of the level and a scaling of the volatility around each year's mean, and/or
    one set of files per year (`per_year` wins where given; its prices are used as they are)."""

    day_ahead: str | list[str] | None = Field(None, description="source(s) of the real base year")
    reserves: list[str] = Field(default_factory=list, description="capacity-price sources, [PRODUCT=]SOURCE")
    base_year: int | None = Field(None, description="which year of the sources is repeated; default the fullest")
    energy_escalation: float = Field(0.0, gt=-0.5, lt=0.5, description="yearly growth of the day-ahead level")
    capacity_escalation: float = Field(0.0, gt=-0.5, lt=0.5, description="yearly growth of capacity prices")
    volatility_scale: float = Field(1.0, ge=0, le=5, description="spread around the yearly mean, first year")
    volatility_growth: float = Field(0.0, gt=-0.5, lt=0.5, description="yearly growth of that scale")
    per_year: dict[int, PriceYear] = Field(default_factory=dict, description="one set of sources per year")

    @model_validator(mode="after")
    def _some_source(self) -> "PriceScenario":
        if self.day_ahead is None and not self.per_year:
            raise ValueError("give day_ahead (a base year to repeat) or per_year (one file per year)")
        return self


class Derating(StrictModel):
    """Power available as a share of rated power, by SoC fraction (piecewise linear)."""

    charge: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.9, 1.0), (1.0, 0.2))
    discharge: tuple[tuple[float, float], ...] = ((0.0, 0.2), (0.1, 1.0), (1.0, 1.0))

    @field_validator("charge", "discharge")
    @classmethod
    def _curve(cls, v):
        socs = [x for x, _ in v]
        if not v or socs != sorted(socs) or not all(0 <= x <= 1 for x in socs):
            raise ValueError("SoC points must ascend within 0..1")
        if not all(0 <= y <= 1 for _, y in v):
            raise ValueError("power shares must lie within 0..1")
        return v


class BatteryModel(StrictModel):
    """The battery's physics and life: chemistry, temperature, auxiliaries, derating, ageing."""

    chemistry: Literal[CHEMISTRIES] = "lfp"
    temperature_c: float | tuple[float, ...] = Field(25.0, description="cell temperature: one value or 12 monthly")
    auxiliary_mw: float = Field(0.0, ge=0, description="HVAC / BMS consumption through the POI, MW")
    derating: Derating = Derating()
    soh_update_days: float = Field(7.0, gt=0, le=366, description="how often the optimiser sees the new capacity")
    initial_soh: float = Field(1.0, gt=0, le=1)
    end_of_life_soh: float = Field(0.7, gt=0, lt=1)
    replacement: Literal["replace", "augment", "none"] = "replace"
    augment_to_soh: float = Field(0.95, gt=0, le=1, description="augmentation adds cells up to this share")
    degradation_cost: Literal["auto", "site"] | float = Field(
        "auto", description="EUR/MWh discharged in the objective: auto (derived), site (the site's), or a number")

    @field_validator("temperature_c")
    @classmethod
    def _temperature(cls, v):
        values = [v] if isinstance(v, (int, float)) else list(v)
        if not isinstance(v, (int, float)) and len(values) != 12:
            raise ValueError(f"give one temperature or 12 monthly ones, not {len(values)}")
        if not all(-40 <= t <= 80 for t in values):
            raise ValueError("cell temperatures must lie within -40..80 C")
        return v

    @model_validator(mode="after")
    def _thresholds(self) -> "BatteryModel":
        if not self.end_of_life_soh < self.initial_soh:
            raise ValueError(f"end_of_life_soh ({self.end_of_life_soh}) must be below initial_soh ({self.initial_soh})")
        if self.replacement == "augment" and not self.end_of_life_soh < self.augment_to_soh:
            raise ValueError(f"augment_to_soh ({self.augment_to_soh}) must be above end_of_life_soh "
                             f"({self.end_of_life_soh})")
        return self


class Strategy(Dispatch):
    """How the battery is dispatched: daily re-optimisation at the market gates (walk-forward)."""

    forecast: dict = Field(default_factory=lambda: {"type": "persistence", "lags_days": [1, 7],
                                                    "weights": [0.5, 0.5]})
    imbalance_penalty_eur_mwh: float = Field(0.0, ge=0, description="cost per MWh delivered off the position")


class Parallel(StrictModel):
    """Parallel mode: each year starts from a state of health projected from expected cycling."""

    expected_cycles_per_day: float = Field(1.0, ge=0, le=20)
    expected_dod: float | None = Field(None, gt=0, le=1, description="default: soc_max - soc_min")


class SimulationConfig(StrictModel):
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1)
    site: str | dict = Field(description="site YAML path (relative to this file) or the site inline")
    start_year: int = Field(ge=2000, le=2100)
    years: int = Field(ge=1, le=50)
    resolution: str = "15min"
    mode: Literal["sequential", "parallel"] = "sequential"
    prices: PriceScenario
    strategy: Strategy = Strategy()
    battery_model: BatteryModel = BatteryModel()
    finance: Finance = Finance()
    parallel: Parallel = Parallel()
    timeseries: bool = Field(True, description="write the per-interval time series")

    @model_validator(mode="after")
    def _years_covered(self) -> "SimulationConfig":
        if self.prices.day_ahead is None:
            missing = [y for y in self.sim_years if y not in self.prices.per_year]
            if missing:
                raise ValueError(f"prices.per_year: no prices for {', '.join(map(str, missing))} and no day_ahead "
                                 "base year to repeat")
        return self

    @property
    def sim_years(self) -> list[int]:
        return list(range(self.start_year, self.start_year + self.years))

    def load_site(self, base_dir: Path) -> Site:
        return load_site(self.site, base_dir).with_products(self.strategy.traded)

    @classmethod
    def from_dict(cls, data: dict, source: str = "simulation", base_dir=None) -> "SimulationConfig":
        return super().from_dict(data, source, base_dir)
