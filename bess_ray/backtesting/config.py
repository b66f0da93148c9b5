"""Backtest configuration (YAML, schema_version 1)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..config import Site, StrictModel, load_site
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
    report_week: date | None = Field(None, description="Monday of the week plotted; default (and when it lies "
                                                       "outside the window) the window's first")

    def load_site(self, base_dir: Path) -> Site:
        return load_site(self.site, base_dir)
