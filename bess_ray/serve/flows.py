"""The flows endpoints: every run with its inputs, outputs and status, and a run triggered now.

Reads need viewer. Triggering a flow that hands a schedule to a site needs operator (it changes
what a battery does); the other flows (data update, auction bids, send) need analyst. The flows
file is the one the API was started with (`bess-ray serve --flows FILE`, serve.yaml's `flows`).
"""
from __future__ import annotations

import asyncio
from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from ..store.keys import allows
from .auth import role as _role

router = APIRouter()


class FlowRun(BaseModel):
    run_id: str = Field(description="flow/site/period: one run per flow, site and delivery period")
    flow: str
    version: str
    site: str
    delivery: str = Field(description="the delivery day (ISO date)")
    period: str = Field(description="the delivery period: the day, or the hour of hourly flows")
    trigger: str
    status: str = Field(description="pending, running, retry, succeeded (outputs stored, not yet handed), done, "
                                    "failed, skipped")
    attempts: int
    next_try: str | None
    error: str | None
    inputs_hash: str | None
    inputs: dict | None
    outputs: dict | None
    handed: dict | None = Field(description="the site's receipt of the schedule (version, time, before delivery)")
    started: str | None
    finished: str | None


class FlowInfo(BaseModel):
    flow: str
    version: str
    period: str
    hands_schedule: bool
    doc: str


class TriggerRequest(BaseModel):
    flow: str = Field(description="a flow configured for the site in the API's flows file")
    site: str
    delivery: date = Field(description="the delivery day")
    hour: str | None = Field(None, description="hourly flows: the delivery hour (ISO, UTC)")


def _runs(request: Request):
    return request.app.state.ingress.flow_runs


@router.get("/v1/flows", response_model=list[FlowInfo])
async def list_flows(key: dict = Depends(_role("viewer"))) -> list[dict]:
    """The flows and versions this release ships."""
    from ..flows.registry import catalogue

    return [{"flow": f.name, "version": f.version, "period": f.period, "hands_schedule": f.hands_schedule,
             "doc": f.doc} for f in catalogue()]


@router.get("/v1/flows/runs", response_model=list[FlowRun])
async def list_runs(request: Request, site: str | None = None, flow: str | None = None,
                    status: str | None = Query(None, pattern="^(pending|running|retry|succeeded|done|failed|skipped)$"),
                    limit: int = Query(1000, ge=1, le=10000), key: dict = Depends(_role("viewer"))) -> list[dict]:
    """Every run (newest trigger last) with its inputs, outputs and status."""
    from ..flows.commands import public

    rows = await asyncio.to_thread(_runs(request).list, site, flow, status, None, None, limit)
    return [public(r) for r in rows]


@router.get("/v1/flows/runs/{run_id:path}", response_model=FlowRun, responses={404: {"description": "no such run"}})
async def get_run(request: Request, run_id: str, key: dict = Depends(_role("viewer"))) -> dict:
    from ..flows.commands import public

    row = await asyncio.to_thread(_runs(request).get, run_id)
    if row is None:
        raise HTTPException(404, f"no flow run {run_id!r}")
    return public(row)


@router.post("/v1/flows/runs", response_model=FlowRun,
             responses={403: {"description": "the flow hands a schedule: operator needed"},
                        404: {"description": "no flows file, or the flow is not configured for the site"},
                        409: {"description": "the run is done already (exactly once)"}})
async def trigger_run(request: Request, body: TriggerRequest, key: dict = Depends(_role("analyst"))) -> dict:
    """Run one (flow, site, delivery) now, once; a failed or skipped run gets one more attempt."""
    from ..flows.commands import public
    from ..flows.registry import FlowError

    ingress = request.app.state.ingress
    if not ingress.flows_file:
        raise HTTPException(404, "this API has no flows file (bess-ray serve --flows FILE, or serve.yaml's flows)")
    flows = await asyncio.to_thread(_load, ingress.flows_file)
    entry = next((e for e in flows.spec.flows if e.flow == body.flow and body.site in flows.sites_of(e)), None)
    if entry is None:
        raise HTTPException(404, f"flow {body.flow!r} is not configured for site {body.site!r} in "
                                 f"{flows.path.name}")
    from ..flows.registry import get_flow

    if get_flow(entry.flow, entry.version).hands_schedule and not allows(key["role"], "operator"):
        raise HTTPException(403, f"flow {body.flow} hands a schedule to site {body.site}: role {key['role']} may "
                                 "not trigger it; it needs operator or higher")
    try:
        rec = await asyncio.to_thread(_trigger, ingress, flows, body)
    except FlowError as e:
        raise HTTPException(422, str(e)) from None
    if rec.get("already"):
        raise HTTPException(409, f"flow run {rec['run_id']} is done already (status {rec['status']}, "
                                 f"finished {rec['finished_utc']}): a run is done once")
    return public(rec)


def _load(path: str):
    from ..flows.spec import load_flows

    return load_flows(path)


def _trigger(ingress, flows, body: TriggerRequest) -> dict:
    from ..flows.orchestrator import Orchestrator, SiteLink

    url = ingress.flow_runs.db.url
    link = SiteLink(flows, url, simulated=False, start=False)
    return Orchestrator(flows, body.delivery, date.fromordinal(body.delivery.toordinal() + 1), store=url,
                        sites=link).trigger(body.flow, body.site, body.delivery, body.hour)


