"""The operator endpoints: live sites (their actors on Ray), schedules handed to them, stop and
resume, acknowledgements, events and telemetry, and the live page.

Reads need the viewer role; anything that changes what a site does needs operator. Every write is
audited by the app's middleware like any other. The routes reach the site actors by name
(`site:{id}` in namespace `bess`), and events and telemetry straight from the shared store.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ray
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from ..cluster.launch import live_sites, site_handle
from ..errors import BessRayError
from .auth import role as _role
from .contract import errors

router = APIRouter(responses=errors(503))  # a site's actor may be restarting
PAGE = Path(__file__).with_name("live.html")


class AssetStatus(BaseModel):
    id: str
    state: str = Field(description="the asset's mode: OFFLINE, STARTING, STANDBY, RUNNING, DERATED, SAFE_STOP, "
                                   "EMERGENCY_STOP, FAULT, MAINTENANCE")
    reason: str
    power_mw: float | None = Field(description="measured, > 0 discharge")
    soc_frac: float | None
    command_mw: float | None = Field(description="the last command sent")
    decided_by: str | None = Field(description="the layer that decided the command")
    reasons: list[str]
    alarms: float | None
    allowed_mw: list[float] = Field(description="the range the limits allowed [lo, hi]")
    measured: str = Field(description="valid, or what is wrong with this cycle's measurements")
    stop: str | None
    estop: str | None


class SiteStatus(BaseModel):
    site: str
    pid: int = Field(description="the site actor's process")
    state: str = Field(description="STOPPED (operator), EMERGENCY_STOP, FAULT, RUNNING, or the assets' mode")
    stopped: dict | None = Field(description="the operator stop in force: reason, by, since")
    schedule_version: str | None
    cycle: int
    time: str | None
    frequency_hz: float | None
    wishes: dict | None = Field(description="what the schedule asks now (site MW)")
    assets: list[AssetStatus]
    timing: dict = Field(description="cycle lateness and read-to-write times (ms), missed cycles")


class StopRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why; kept with the stop and in the audit trail")


class AckRequest(BaseModel):
    asset: str | None = Field(None, description="one asset (default: every asset of the site)")


class ScheduleAccepted(BaseModel):
    site: str
    version: int
    source: str
    intervals: int


def _who(key: dict) -> str:
    return f"key {key.get('id')} ({key.get('name') or key.get('role')})"


async def _site(site: str):
    """The live site's actor, or 404 naming the live ones."""
    handle = await asyncio.to_thread(site_handle, site)
    if handle is None:
        known = await asyncio.to_thread(live_sites)
        raise HTTPException(404, f"unknown site {site!r}; live sites: {', '.join(known) or 'none'}")
    return handle


async def _call(site: str, method: str, *args):
    handle = await _site(site)
    try:
        return await getattr(handle, method).remote(*args)
    except ray.exceptions.RayTaskError as e:
        cause = e.as_instanceof_cause()
        if isinstance(cause, BessRayError):
            raise HTTPException(422, str(cause)) from None
        raise HTTPException(503, f"site {site}: {type(cause).__name__}: {cause}") from None
    except ray.exceptions.RayActorError as e:
        raise HTTPException(503, f"site {site} is restarting ({type(e).__name__}); try again") from None


def _window(start: str | None, end: str | None, hours: float) -> tuple[datetime, datetime]:
    try:
        hi = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else datetime.now(timezone.utc)
        lo = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else hi - timedelta(hours=hours)
    except ValueError as e:
        raise HTTPException(422, f"start / end: {e}") from None
    if lo.tzinfo is None or hi.tzinfo is None:
        raise HTTPException(422, "start / end: give a time zone (UTC: end with Z)")
    if hi <= lo:
        raise HTTPException(422, "end must be after start")
    return lo, hi


@router.get("/v1/sites", response_model=list[SiteStatus])
async def list_sites(key: dict = Depends(_role("viewer"))) -> list[dict]:
    """Every live site with its status."""
    names = await asyncio.to_thread(live_sites)
    found = await asyncio.gather(*(_call(n, "status") for n in names), return_exceptions=True)
    return [s for s in found if isinstance(s, dict)]


@router.get("/v1/sites/{site}", response_model=SiteStatus)
async def site_status(site: str, key: dict = Depends(_role("viewer"))) -> dict:
    """A site's live status from its last cycle: each asset's state, power, SoC, command and reasons."""
    return await _call(site, "status")


@router.post("/v1/sites/{site}/stop", response_model=SiteStatus)
async def stop_site(site: str, body: StopRequest, key: dict = Depends(_role("operator"))) -> dict:
    """Stop every asset of the site at the next cycle (0 kW); kept across restarts until resumed."""
    return await _call(site, "stop", body.reason, _who(key))


@router.post("/v1/sites/{site}/resume", response_model=SiteStatus)
async def resume_site(site: str, key: dict = Depends(_role("operator"))) -> dict:
    """Lift the operator stop; assets return to service after a few good cycles."""
    return await _call(site, "resume", _who(key))


@router.post("/v1/sites/{site}/ack", response_model=SiteStatus)
async def acknowledge(site: str, body: AckRequest, key: dict = Depends(_role("operator"))) -> dict:
    """Acknowledge latched faults and emergency stops (they clear only once their cause is gone)."""
    return await _call(site, "acknowledge", body.asset, _who(key))


@router.post("/v1/sites/{site}/schedule", response_model=ScheduleAccepted, status_code=201)
async def upload_schedule(site: str, request: Request, source: str = "upload",
                          key: dict = Depends(_role("operator"))) -> dict:
    """A new schedule version: JSON `timestamps` (UTC interval starts), `net_mw` and optional
    `intraday_mw`, `obligation_mw`, `reserves_mw: {product: [...]}`, or a backtest's handoff.json.
    Checked against the site's limits; past intervals and committed reserves stay locked. A refused
    schedule leaves the active one untouched."""
    try:
        payload = await request.json()
    except ValueError as e:
        raise HTTPException(422, f"schedule: not JSON: {e}") from None
    return await _call(site, "set_schedule", payload, source[:100], _who(key))


@router.get("/v1/sites/{site}/schedule")
async def active_schedule(site: str, version: int | None = None, key: dict = Depends(_role("viewer"))) -> dict:
    """The active schedule version (or `version`), as stored: its record and payload."""
    found = await _call(site, "schedule", version)
    if found is None:
        raise HTTPException(404, f"site {site} has no schedule" + (f" version {version}" if version else ""))
    return found


@router.get("/v1/sites/{site}/events")
async def events(site: str, start: str | None = None, end: str | None = None,
                 limit: int = Query(1000, ge=1, le=10000), key: dict = Depends(_role("viewer"))) -> list[dict]:
    """The site's events (commands whose decision changed, stops, resumes, schedules) in
    [start, end) (default: the last 24 h)."""
    await _site(site)
    lo, hi = _window(start, end, 24)
    return await asyncio.to_thread(_operations().events, site, lo, hi, limit)


@router.get("/v1/sites/{site}/telemetry")
async def telemetry(site: str, start: str | None = None, end: str | None = None, asset: str | None = None,
                    key: dict = Depends(_role("viewer"))) -> dict:
    """Measured power, SoC and commands per asset in [start, end) (default: the last hour), as
    columns: {point: {timestamps, values}}."""
    await _site(site)
    lo, hi = _window(start, end, 1)
    frame = await asyncio.to_thread(_operations().telemetry, site, lo, hi, asset)
    out: dict = {}
    for (point,), part in frame.group_by("point", maintain_order=True):
        out[point] = {"timestamps": [t.isoformat().replace("+00:00", "Z") for t in part["timestamp"].to_list()],
                      "values": part["value"].to_list()}
    return {"site": site, "start": lo.isoformat(), "end": hi.isoformat(), "points": out}


@router.get("/sites/{site}", response_class=HTMLResponse, include_in_schema=False)
async def live_page(site: str) -> HTMLResponse:
    """The operators' live page (it holds no data: it asks the API above with the key you give it)."""
    return HTMLResponse(PAGE.read_text().replace("{{SITE}}", site.replace("<", "").replace('"', "")))


def _operations():
    from ..store.operations import OperationsStore

    return OperationsStore()
