"""The manual-schedule flow: an operator's schedule for a delivery day (blocks of local clock time,
or one value per interval), validated against the site's limits before it becomes a layer."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import Field, model_validator

from .context import FlowContext
from .planning import checked, stamps
from .registry import FlowError, Params, flow


class Block(Params):
    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="local clock time HH:MM")
    end: str = Field(pattern=r"^\d{2}:\d{2}$", description="local clock time HH:MM (24:00: midnight)")
    mw: float = Field(description="site MW at the POI, > 0 export")


class ManualParams(Params):
    layer: Literal["intraday", "day_ahead", "obligation"] = Field("intraday", description="the layer it fills")
    blocks: list[Block] | None = Field(None, description="blocks of the day; outside them nothing is asked")
    net_mw: list[float | None] | None = Field(None, description="one value per 15-min interval of the day")

    @model_validator(mode="after")
    def _one(self):
        if (self.blocks is None) == (self.net_mw is None):
            raise ValueError("give exactly one of blocks or net_mw")
        return self


def _minutes(text: str, where: str) -> int:
    h, m = (int(x) for x in text.split(":"))
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 1440:
        raise FlowError(f"{where}: {text} is not a clock time 00:00..24:00")
    return h * 60 + m


def values_of(ctx: FlowContext, p: ManualParams) -> np.ndarray:
    grid = ctx.grid
    if p.net_mw is not None:
        if len(p.net_mw) != grid.periods:
            raise FlowError(f"net_mw: {len(p.net_mw)} values for the {grid.periods} intervals of {ctx.delivery}")
        return np.array([np.nan if v is None else v for v in p.net_mw], float)
    out = np.full(grid.periods, np.nan)
    tz = ZoneInfo(ctx.tz)
    midnight = datetime(ctx.delivery.year, ctx.delivery.month, ctx.delivery.day, tzinfo=tz)
    ts = grid.timestamps
    for i, b in enumerate(p.blocks or []):
        a, z = _minutes(b.start, f"blocks[{i}].start"), _minutes(b.end, f"blocks[{i}].end")
        if z <= a:
            raise FlowError(f"blocks[{i}]: end {b.end} is not after start {b.start}")
        # wall-clock times of the day, in local time: a DST day keeps them at their clock hours
        t0 = (midnight + timedelta(minutes=a)).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        t1 = (midnight + timedelta(minutes=z)).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        inside = (ts >= np.datetime64(t0)) & (ts < np.datetime64(t1))
        if np.any(inside & ~np.isnan(out)):
            raise FlowError(f"blocks[{i}]: overlaps an earlier block")
        out[inside] = b.mw
    return out


def validate(ctx: FlowContext, net: np.ndarray) -> None:
    """Power and energy: what the site's batteries together can do, from the initial SoC."""
    fleet, dt = ctx.site.fleet, ctx.grid.dt_hours
    charge, discharge = float(fleet.charge_mw.sum()), float(fleet.discharge_mw.sum())
    for i, v in enumerate(net):
        if np.isnan(v):
            continue
        if v > discharge + 1e-9 or -v > charge + 1e-9:
            raise FlowError(f"net_mw[{i}] ({stamps(ctx.grid)[i]}): {v:g} MW is more than the batteries can "
                            f"(charge {charge:g} MW, discharge {discharge:g} MW)")
    eta_c = float((fleet.charge_efficiency * fleet.energy_mwh).sum() / fleet.energy_mwh.sum())
    eta_d = float((fleet.discharge_efficiency * fleet.energy_mwh).sum() / fleet.energy_mwh.sum())
    v = np.nan_to_num(net)
    soc = float(fleet.initial_mwh.sum()) + np.cumsum(np.where(v < 0, -v * eta_c, -v / eta_d) * dt)
    lo, hi = float(fleet.min_mwh.sum()), float(fleet.max_mwh.sum())
    bad = np.flatnonzero((soc < lo - 1e-6) | (soc > hi + 1e-6))
    if bad.size:
        i = int(bad[0])
        raise FlowError(f"net_mw[{i}] ({stamps(ctx.grid)[i]}): the batteries would hold {soc[i]:.3f} MWh, outside "
                        f"{lo:g}..{hi:g} MWh (starting from the initial SoC, {fleet.initial_mwh.sum():g} MWh)")


@flow("manual", "v1", ManualParams, hands_schedule=True)
def manual_v1(ctx: FlowContext, p: ManualParams) -> dict:
    """An operator-defined schedule for the day, checked against the site's limits."""
    net = values_of(ctx, p)
    validate(ctx, net)
    key = "net_mw" if p.layer == "day_ahead" else f"{p.layer}_mw"
    values = [None if np.isnan(v) else float(v) for v in net]
    schedule = checked(ctx, {"timestamps": stamps(ctx.grid), "resolution_min": ctx.grid.resolution_min,
                             key: values})
    return {"delivery": str(ctx.delivery), "layer": p.layer, "schedule": schedule,
            "intervals": int(np.isfinite(net).sum())}
