"""Backtest configuration (YAML, schema_version 1)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config import Site, StrictModel, load_site
from ..markets import KERNELS

FORECASTS = ("persistence", "perfect_foresight", "csv", "custom_python")


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


class Revision(StrictModel):
    """Intraday re-optimisation at checkpoints of the delivery day (local clock hours)."""

    checkpoints_h: list[float] = Field(default_factory=lambda: [0.0, 4.0, 8.0, 12.0, 16.0, 20.0])
    intraday_spread_eur_mwh: float = Field(2.0, ge=0, description="half bid-ask spread of the intraday proxy")

    @field_validator("checkpoints_h")
    @classmethod
    def _hours(cls, v):
        if any(not 0 <= h < 24 for h in v) or sorted(v) != v or len(set(v)) != len(v):
            raise ValueError("checkpoints must be distinct, ascending local hours in [0, 24)")
        return v


class Dispatch(StrictModel):
    """What a walk-forward trades and how it forecasts; shared by backtests and simulations."""

    workflow: Literal[tuple(KERNELS)] = "da_only"
    products: list[str] | None = Field(None, description="restrict the workflow's products (e.g. no price for one)")
    forecast: dict = Field(default_factory=lambda: {"type": "persistence", "lags_days": [1]})
    lookahead_h: float = Field(24.0, ge=0, le=168, description="hours beyond the delivery day in each plan")
    revision: Revision | None = Field(None, description="schedule_revision: re-optimise within the day")

    @field_validator("forecast")
    @classmethod
    def _forecast(cls, v: dict):
        if v.get("type", "persistence") not in FORECASTS:
            raise ValueError(f"type {v.get('type')!r} is not {', '.join(FORECASTS[:-1])} or {FORECASTS[-1]}")
        return v

    @field_validator("products")
    @classmethod
    def _products_in_workflow(cls, v, info):
        """A restriction of a workflow's products must keep 'da' and stay inside the workflow."""
        workflow = info.data.get("workflow", "da_only")
        if v is not None:
            extra = [p for p in v if p not in KERNELS[workflow]]
            if extra or "da" not in v:
                raise ValueError(f"must include 'da' and be part of {workflow} ({', '.join(KERNELS[workflow])}); "
                                 f"{'not: ' + ', '.join(extra) if extra else 'da is missing'}")
        return v

    @property
    def traded(self) -> tuple[str, ...]:
        return tuple(p for p in KERNELS[self.workflow] if self.products is None or p in self.products)


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
    report_week: date | None = Field(None, description="Monday of the week plotted; default the window's first")

    def load_site(self, base_dir: Path) -> Site:
        return load_site(self.site, base_dir)
