"""Flows are plain functions with a name, a version and a parameter model, kept side by side
(`trading` v1 and v2): a flows file picks the version, and a run records it.

    @flow("trading", "v2", TradingParams, hands_schedule=True)
    def trading_v2(ctx: FlowContext, params: TradingParams) -> dict: ...

A flow reads only its context (the site, the delivery day, the clock's time, the store, the
outputs of earlier runs for the same day) and returns its outputs as a JSON-able dict, or raises
FlowError naming the reason. It sends nothing itself: the orchestrator hands a schedule to the site
only after the flow returned all of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ConfigDict

from ..errors import BessRayError


class FlowError(BessRayError):
    """A flow could not produce its outputs (bad or missing data, an infeasible LP, a closed gate)."""


class Params(BaseModel):
    """Base of every flow's parameters: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Flow:
    name: str
    version: str
    fn: Callable
    params: type[Params]
    hands_schedule: bool  # its outputs carry a schedule for the site (operator role over HTTP)
    period: str  # "day" (one run per delivery day) or "hour"
    doc: str


FLOWS: dict[tuple[str, str], Flow] = {}


def flow(name: str, version: str, params: type[Params], *, hands_schedule: bool = False, period: str = "day"):
    def register(fn: Callable) -> Callable:
        FLOWS[(name, version)] = Flow(name, version, fn, params, hands_schedule, period,
                                      (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return register


def get_flow(name: str, version: str) -> Flow:
    _load()
    try:
        return FLOWS[(name, version)]
    except KeyError:
        names = sorted({n for n, _ in FLOWS})
        if name not in names:
            raise FlowError(f"no flow {name!r} (flows: {', '.join(names)})") from None
        versions = sorted(v for n, v in FLOWS if n == name)
        raise FlowError(f"flow {name!r} has no version {version!r} (versions: {', '.join(versions)})") from None


def catalogue() -> list[Flow]:
    _load()
    return [FLOWS[k] for k in sorted(FLOWS)]


def _load() -> None:
    from . import library  # noqa: F401  (registers the flows)
