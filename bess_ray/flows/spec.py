"""The flows file (`configs/flows/*.yaml`): which flows run for which sites, when, with which
version and parameters. Everything is checked before anything runs; an error names the field.

    schema_version: 1
    name: de_lu_trading_week
    sites: [../operations/de_lu_1mw_2mwh_sim.yaml]     # operations files: the sites' actors
    missed: catch_up                                    # or skip (see orchestrator)
    retries: {attempts: 3, backoff_s: 300, factor: 2}
    flows:
      - flow: trading
        version: v2
        at: {gate: day_ahead, offset_min: -30}          # 11:30 on D-1
      - flow: intraday
        at: {cron: "0 14 * * *", delivery: next_day}    # 14:00 local each day, for the next day

Triggers: `gate` (a gate of `markets.gates` for delivery day D, plus `offset_min`), `cron` (a cron
expression in the site zone's local time, DST-aware; the delivery is the local day of the trigger,
or the next with `delivery: next_day`), and for hourly flows `hourly` (each hour of the delivery
day, plus `offset_min`). `days` limits a flow to some delivery days.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, model_validator

from ..config import StrictModel, format_validation_error, read_yaml
from ..errors import ConfigError
from ..control.settings import Operation, load_operation
from ..markets import get_zone
from ..markets.gates import DEFAULT_GATES
from .context import gate_instant
from .registry import FlowError, get_flow

GATES = {g.name: g for g in DEFAULT_GATES}
REFERENCE_DAY = date(2023, 6, 6)  # any ordinary day: where a trigger falls against the gates


class Trigger(StrictModel):
    gate: str | None = Field(None, description=f"a gate: {', '.join(GATES)}")
    cron: str | None = Field(None, description="a cron expression in the zone's local time")
    hourly: bool = Field(False, description="each hour of the delivery day (hourly flows)")
    offset_min: int = Field(0, ge=-7 * 1440, le=1440, description="minutes after the gate or the hour (< 0: before)")
    delivery: Literal["same_day", "next_day"] = Field("next_day", description="cron: the delivery day it is for")

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("gate", "cron") if getattr(self, k) is not None] + (["hourly"] if self.hourly else [])
        if len(given) != 1:
            raise ValueError("give exactly one of gate, cron or hourly: true")
        if self.gate is not None and self.gate not in GATES:
            raise ValueError(f"gate {self.gate!r} is not one of {', '.join(GATES)}")
        if self.cron is not None:
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise ValueError(f"cron {self.cron!r} is not a valid cron expression")
        return self


class Retries(StrictModel):
    attempts: int = Field(3, ge=1, le=20, description="attempts of a run before it is failed")
    backoff_s: float = Field(300.0, ge=0, description="wait before the 2nd attempt (clock seconds)")
    factor: float = Field(2.0, ge=1.0, description="the wait grows by this factor per attempt")


class FlowEntry(StrictModel):
    flow: str
    version: str = "v1"
    at: Trigger
    sites: list[str] | Literal["all"] = "all"
    days: list[date] | None = Field(None, description="only these delivery days")
    params: dict = Field(default_factory=dict)
    retries: Retries | None = None


class FlowsFile(StrictModel):
    schema_version: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    sites: list[str] = Field(min_length=1, description="operations files of the sites (paths relative to this file)")
    missed: Literal["catch_up", "skip"] = Field("catch_up", description="triggers passed while no orchestrator ran")
    retries: Retries = Retries()
    flows: list[FlowEntry] = Field(min_length=1)


class Flows:
    """A checked flows file: its sites (operations, by id) and flow entries with parsed params."""

    def __init__(self, spec: FlowsFile, path: Path, operations: dict[str, Operation]) -> None:
        self.spec, self.path, self.operations = spec, path, operations
        self.name = spec.name
        self.base_dir = path.parent

    def sites_of(self, entry: FlowEntry) -> list[str]:
        return list(self.operations) if entry.sites == "all" else list(entry.sites)

    def retries(self, entry: FlowEntry) -> Retries:
        return entry.retries or self.spec.retries


def load_flows(path: str | Path) -> Flows:
    """Read and check a flows file; ConfigError names the field and the reason."""
    path = Path(path)
    spec = FlowsFile.from_dict(read_yaml(path), str(path))
    operations: dict[str, Operation] = {}
    for i, ref in enumerate(spec.sites):
        p = Path(ref) if Path(ref).is_absolute() else path.parent / ref
        try:
            op = load_operation(p)
        except (ConfigError, FlowError) as e:
            raise ConfigError(f"{path}: sites[{i}]: {e}") from None
        if op.site.id in operations:
            raise ConfigError(f"{path}: sites[{i}]: site {op.site.id} is listed twice")
        operations[op.site.id] = op
    flows = Flows(spec, path, operations)
    seen = set()
    for i, entry in enumerate(spec.flows):
        where = f"{path}: flows[{i}]"
        try:
            flow = get_flow(entry.flow, entry.version)
        except FlowError as e:
            raise ConfigError(f"{where}.flow: {e}") from None
        try:
            flow.params.model_validate(entry.params)
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, f"{where}.params")) from None
        if (flow.period == "hour") != entry.at.hourly:
            raise ConfigError(f"{where}.at: flow {entry.flow} runs "
                              + ("once per hour: use hourly: true" if flow.period == "hour" else
                                 "once per delivery day: use gate or cron, not hourly"))
        for s in flows.sites_of(entry):
            if s not in operations:
                raise ConfigError(f"{where}.sites: {s!r} is not one of the file's sites ({', '.join(operations)})")
            if (entry.flow, s) in seen:
                raise ConfigError(f"{where}: flow {entry.flow} is configured twice for site {s} "
                                  "(one run per flow, site and delivery period)")
            seen.add((entry.flow, s))
            _check_site(flows, entry, s, f"{where}")
    return flows


def commits(flows: Flows, entry: FlowEntry, site_id: str) -> list[str]:
    """The gated products a flow commits for a site (its trigger must come before their gates)."""
    site = flows.operations[site_id].site
    products = list(site.markets.products)
    if entry.flow == "auction":
        return ["da"]
    if entry.flow == "afrr":
        return [p for p in products if p in ("afrr_up", "afrr_down")]
    if entry.flow == "trading":
        chosen = entry.params.get("products") or products
        by_others = {p for e in flows.spec.flows if e.flow == "afrr" and site_id in flows.sites_of(e)
                     for p in ("afrr_up", "afrr_down")}
        return [p for p in chosen if p not in by_others]
    return []


def _check_site(flows: Flows, entry: FlowEntry, site_id: str, where: str) -> None:
    site = flows.operations[site_id].site
    if entry.flow in ("trading", "afrr", "auction", "intraday") and any(b.final_soc == "free" for b in site.batteries):
        raise ConfigError(f"{where}: site {site_id} has a battery with final_soc: free; flows plan each day from the "
                          "initial SoC, so a day must end where the next starts (at_least_initial)")
    if entry.flow == "afrr" and not commits(flows, entry, site_id):
        raise ConfigError(f"{where}: site {site_id} does not trade aFRR (products: {', '.join(site.markets.products)})")
    tz = get_zone(site.zone).timezone
    fires = trigger_instants(entry.at, REFERENCE_DAY, tz)
    for p in commits(flows, entry, site_id) if fires else []:
        first = fires[0]
        gate = next(g for g in DEFAULT_GATES if p in g.products)
        closes = gate_instant(gate.name, REFERENCE_DAY)
        if first >= closes:
            raise ConfigError(f"{where}.at: {entry.flow} for site {site_id} would run at "
                              f"{first.astimezone(ZoneInfo(tz)):%H:%M} local on D-{(REFERENCE_DAY - first.astimezone(ZoneInfo(tz)).date()).days}, "
                              f"after the {gate.name} gate ({gate.hour:g}:00 on D-{gate.days_before}) that closes {p}")
    if entry.flow == "data_update":
        from ..data.series import base_ref, resolve

        for key in ("day_ahead", "intraday"):
            ref = entry.params.get(key)
            if ref:
                try:
                    resolve(base_ref(ref), flows.base_dir)
                except Exception as e:  # noqa: BLE001 - a DataError names the file
                    raise ConfigError(f"{where}.params.{key}: {e}") from None
        for j, ref in enumerate(entry.params.get("reserves") or []):
            try:
                resolve(base_ref(ref), flows.base_dir)
            except Exception as e:  # noqa: BLE001
                raise ConfigError(f"{where}.params.reserves[{j}]: {e}") from None


def trigger_instants(at: Trigger, delivery: date, tz: str) -> list[datetime]:
    """The UTC instants at which a trigger fires for one delivery day (hourly: one per hour)."""
    zone = ZoneInfo(tz)
    if at.gate is not None:
        return [gate_instant(at.gate, delivery) + timedelta(minutes=at.offset_min)]
    if at.hourly:
        start = datetime(delivery.year, delivery.month, delivery.day, tzinfo=zone).astimezone(timezone.utc)
        nxt = delivery + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(timezone.utc)
        out, t = [], start
        while t < end:
            out.append(t + timedelta(minutes=at.offset_min))
            t += timedelta(hours=1)
        return out
    from croniter import croniter

    day = delivery - timedelta(days=1) if at.delivery == "next_day" else delivery
    begin = datetime(day.year, day.month, day.day, tzinfo=zone)
    it = croniter(at.cron, begin - timedelta(seconds=1))
    out = []
    while True:
        t = it.get_next(datetime)
        if t.astimezone(zone).date() != day:
            break
        out.append(t.astimezone(timezone.utc))
    return out[:1]  # one run per (flow, site, delivery): the first firing of the day
