"""What a walk-forward trades and how it decides: the part of the config that backtests and
simulations share."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..config import StrictModel
from ..markets import KERNELS

FORECASTS = ("persistence", "gbm", "perfect_foresight", "csv", "custom_python")


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
