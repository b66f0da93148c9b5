"""Backtest configuration (YAML, schema_version 1)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..config import Site, StrictModel, load_site
from ..control.settings import ControlSettings
from ..dispatch.config import Dispatch


class PriceSources(StrictModel):
    day_ahead: str | list[str] = Field(description="actual day-ahead prices: file, sample:NAME or scenario:NAME, or a list joined in time")
    reserves: list[str] = Field(default_factory=list, description="actual capacity prices, [PRODUCT=]SOURCE")
    intraday: str | None = Field(None, description="intraday prices (EUR/MWh, 'da' column); default: day-ahead")


class Window(StrictModel):
    start: date = Field(description="first local delivery day")
    end: date = Field(description="day after the last local delivery day")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @model_validator(mode="after")
    def _order(self) -> "Window":
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class PlantModel(StrictModel):
    """The field simulator's plant as the plan is delivered to it (`devices/fieldsim/plant.py`)."""

    response_delay_s: float = Field(0.2, ge=0, le=10, description="a setpoint takes effect after this")
    ramp_mw_per_s: float | None = Field(None, gt=0, description="inverter ramp; default full power in one second")
    bms_taper: float = Field(0.1, ge=0, lt=0.5, description="BMS power tapers to 0 over this share of SoC at either end (0: none)")


class SocRecovery(StrictModel):
    """SoC management: reserve activations move the SoC off the plan; an intraday trade brings it back.

    At the start of each interval the site's stored energy is compared with the plan's; a deviation
    beyond `deadband_frac` of the site's energy is traded back over the interval `lead_intervals`
    later (a trade needs its lead time), at the intraday price less the spread, within `max_share`
    of the power the reserve commitments leave free."""

    deadband_frac: float = Field(0.02, ge=0, le=1)
    max_share: float = Field(0.5, gt=0, le=1)
    lead_intervals: int = Field(1, ge=1, le=8)


class ThroughControl(StrictModel):
    """Deliver the walk-forward plan second by second through the control pipeline (plan vs operable)."""

    frequency: str = Field("auto", description="auto, nominal, sample:NAME or a file of measured frequency")
    control: ControlSettings = Field(ControlSettings(), description="control settings (as in an operations file)")
    ramp_mw_per_s: float | None = Field(None, gt=0, description="the controller's ramp limit; default 20 % of rating per second")
    plant: PlantModel = PlantModel()
    soc_recovery: SocRecovery | None = SocRecovery()
    penalty_multiple: float = Field(1.0, ge=0, description="an interval's capacity revenue is forfeited where a "
                                                           "commitment was not delivered, and this many times it paid")
    warmup_s: int = Field(10, ge=0, le=600, description="the loop starts this long before the window, at 0 MW")


class BacktestConfig(Dispatch):
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1)
    site: str | dict = Field(description="site YAML path (relative to this file) or the site inline")
    prices: PriceSources
    window: Window
    resolution: str = "15min"
    baselines: list[Literal["oracle", "da_only", "naive"]] = Field(default_factory=lambda: ["oracle", "da_only", "naive"])
    naive_hours: int | None = Field(None, ge=1, le=12, description="N of the naive rule; default energy/power")
    fill: Literal["ffill", "linear", "zero"] | None = None
    gate_hours: dict[str, float] = Field(default_factory=dict, description="override gate hours on D-1 by gate name")
    through_control: ThroughControl | None = Field(None, description="also deliver the plan through the control "
                                                                       "pipeline on measured frequency (plan vs operable)")
    report_week: date | None = Field(None, description="Monday of the week plotted; default (and when it lies "
                                                       "outside the window) the window's first")

    def load_site(self, base_dir: Path) -> Site:
        return load_site(self.site, base_dir)
