"""Sweep spec (YAML, schema_version 1): sites x price scenarios x sizings x strategies x variants x
years, as a cartesian product or an explicit list, every case a full backtest or simulation config.

Each axis maps labels to what they change in the `base` config; the labels become the parameter
columns of the results. A case's `case_id` is a hash of its resolved config (every default filled
in, the site inline), so a rerun recognises the cases it has finished and an edit that changes a
case gives it a new id.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..backtesting.config import BacktestConfig
from ..config import StrictModel, load_site, read_yaml
from ..errors import ConfigError
from ..simulation.config import SimulationConfig

AXES = ("site", "scenario", "sizing", "strategy", "variant", "year")
CONFIGS = {"backtest": BacktestConfig, "simulation": SimulationConfig}


class Sizing(StrictModel):
    """Changes to every battery of the site. `power_mw` sets charge and discharge power and scales the
    POI limits with the site's battery power (unless `poi_mw` is given); `duration_h` sets the energy
    to discharge power x hours; `round_trip_efficiency` splits evenly into charge and discharge."""

    power_mw: float | None = Field(None, gt=0)
    duration_h: float | None = Field(None, gt=0)
    energy_mwh: float | None = Field(None, gt=0)
    round_trip_efficiency: float | None = Field(None, gt=0, le=1)
    poi_mw: float | None = Field(None, gt=0, description="import and export limit of the site")
    battery: dict = Field(default_factory=dict, description="any other battery field, e.g. degradation_cost_eur_mwh")

    @model_validator(mode="after")
    def _one_energy(self) -> "Sizing":
        if self.duration_h is not None and self.energy_mwh is not None:
            raise ValueError("give duration_h or energy_mwh, not both")
        return self


class Retries(StrictModel):
    errors: int = Field(1, ge=0, le=10, description="re-runs of a case that raised, within the sweep")
    worker_failures: int = Field(3, ge=0, le=20, description="re-runs of a case whose worker or node died")


class CaseSelect(StrictModel):
    """One case of an explicit list: a label per axis (an axis with one label may be left out)."""

    site: str | None = None
    scenario: str | None = None
    sizing: str | None = None
    strategy: str | None = None
    variant: str | None = None
    year: int | None = None


class SweepSpec(StrictModel):
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1)
    kind: Literal["backtest", "simulation"] = Field(description="what each case runs")
    base: str | dict = Field(description="the backtest or simulation config every case starts from: its YAML "
                                         "(relative to the spec) or the config inline")
    sites: dict[str, str | dict] = Field(default_factory=dict, description="label: site YAML or the site inline")
    scenarios: dict[str, dict] = Field(default_factory=dict, description="label: the config's `prices` block")
    sizings: dict[str, Sizing] = Field(default_factory=dict)
    strategies: dict[str, dict] = Field(default_factory=dict, description="label: overrides of the base config")
    variants: dict[str, dict] = Field(default_factory=dict, description="label: more overrides (degradation, finance)")
    years: list[int] = Field(default_factory=list, description="backtest: the delivery year; simulation: start_year")
    cases: list[CaseSelect] | None = Field(None, description="an explicit list instead of the cartesian product")
    retries: Retries = Retries()

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SweepSpec":
        return cls.from_dict(read_yaml(path), str(path))


@dataclass(frozen=True)
class Case:
    case_id: str
    params: dict              # the axis labels
    config: dict              # a valid backtest or simulation config, site inline
    data_key: str             # cases with the same data_key read the same price and profile series

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)


@dataclass
class Sweep:
    spec: SweepSpec
    path: Path
    base_dir: Path            # relative references of every case resolve here (the base config's folder)
    cases: list[Case] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def digest(self) -> str:
        """Identifies the set of cases: an output folder belongs to one digest."""
        return _hash({"kind": self.kind, "cases": sorted(c.case_id for c in self.cases)})


def load_sweep(path: str | Path, first_day=None) -> Sweep:
    """Read a spec and expand it into validated cases; raises ConfigError naming the spec, the case
    and the field. `first_day(config, base_dir)` gives the first local day a backtest can start (its
    prices' first day plus the forecast's history); the year axis needs it for backtests."""
    path = Path(path)
    spec = SweepSpec.from_yaml(path)
    spec_dir = path.resolve().parent
    if isinstance(spec.base, dict):  # inline: its relative references resolve against the spec's folder
        base, base_path, base_dir = copy.deepcopy(spec.base), path, spec_dir
    else:
        base_path = spec_dir / spec.base
        base, base_dir = read_yaml(base_path), base_path.parent
    marker = "window" if spec.kind == "backtest" else "start_year"
    if marker not in base:
        what = spec.base if isinstance(spec.base, str) else "the inline config"
        raise ConfigError(f"{path}: base: {what} is not a {spec.kind} config (it has no {marker!r})")
    if "site" not in base and not spec.sites:
        raise ConfigError(f"{path}: base: needs a site, or give the sweep a `sites` axis")
    sites = {label: _site_dict(ref, spec_dir, f"{path}: sites.{label}") for label, ref in spec.sites.items()} \
        or {None: _site_dict(base["site"], base_dir, f"{base_path}: site")}
    scenarios = {label: _rebase_prices(p, spec_dir, base_dir) for label, p in spec.scenarios.items()}
    sweep = Sweep(spec, path, base_dir)
    seen: dict[str, str] = {}
    for sel in _selections(spec, path):
        where = f"{path}: case ({', '.join(f'{k}={v}' for k, v in sel.items() if v is not None) or 'base'})"
        cfg = _deep_merge(base, {"site": sites[sel["site"]]})
        if sel["scenario"] is not None:
            cfg["prices"] = scenarios[sel["scenario"]]
        if sel["sizing"] is not None:
            cfg["site"] = _sized(cfg["site"], spec.sizings[sel["sizing"]])
        for axis, overrides in (("strategy", spec.strategies), ("variant", spec.variants)):
            if sel[axis] is not None:
                cfg = _deep_merge(cfg, _nested(overrides[sel[axis]]))
        cfg["name"] = spec.name
        if sel["year"] is not None:
            cfg = _with_year(cfg, spec.kind, sel["year"], base_dir, first_day, where)
        model = CONFIGS[spec.kind]
        try:
            valid = model.model_validate(cfg)
        except Exception as e:  # pydantic's error, reworded with the case's labels
            raise ConfigError(_reword(e, where)) from None
        resolved = valid.model_dump(mode="json")
        resolved.pop("name")
        hashed = _unset_dropped(resolved)
        case_id = _hash({"kind": spec.kind, "config": hashed})[:16]
        if case_id in seen:
            raise ConfigError(f"{where}: the same config as case ({seen[case_id]}); each case must differ")
        seen[case_id] = ", ".join(f"{k}={v}" for k, v in sel.items() if v is not None)
        resolved["name"] = f"{spec.name}:{case_id}"
        params = {**sel, "site": sel["site"] or resolved["site"]["id"]}
        sweep.cases.append(Case(case_id, params, resolved, _data_key(spec.kind, resolved)))
    return sweep


# ---------------------------------------------------------------------------------------- expansion
def _selections(spec: SweepSpec, path: Path) -> list[dict]:
    labels = {"site": list(spec.sites) or [None], "scenario": list(spec.scenarios) or [None],
              "sizing": list(spec.sizings) or [None], "strategy": list(spec.strategies) or [None],
              "variant": list(spec.variants) or [None], "year": list(spec.years) or [None]}
    if spec.cases is None:
        return [dict(zip(AXES, combo)) for combo in itertools.product(*(labels[a] for a in AXES))]
    out = []
    for i, sel in enumerate(spec.cases):
        chosen = {}
        for axis in AXES:
            value, known = getattr(sel, axis), labels[axis]
            if value is None:
                if len(known) > 1:
                    raise ConfigError(f"{path}: cases.{i}.{axis}: missing; choose one of {', '.join(map(str, known))}")
                value = known[0]
            elif value not in known:
                shown = ", ".join(map(str, known)) if known != [None] else "none (the spec has no such axis)"
                raise ConfigError(f"{path}: cases.{i}.{axis}: unknown label {value!r}; known: {shown}")
            chosen[axis] = value
        out.append(chosen)
    return out


def _site_dict(ref: str | dict, base_dir: Path, where: str) -> dict:
    try:
        site = load_site(ref, base_dir).model_dump(mode="json")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    # fields added after case ids (hashes of the resolved config) were fixed are left out while
    # unset, so that the ids stay what they were and existing sweep folders resume
    if not site["constraints"]:
        del site["constraints"]
    for asset in site["assets"]:
        if asset["type"] == "pv" and asset["location"] is None:
            del asset["location"]
    return site


def _sized(site: dict, s: Sizing) -> dict:
    site = json.loads(json.dumps(site))
    batteries = [a for a in site["assets"] if a.get("type", "battery") == "battery"]
    old_power = sum(b["discharge_mw"] for b in batteries)
    for b in batteries:
        if s.battery.get("c_rate") is not None:  # the power follows from the (sized) energy
            b.pop("charge_mw", None), b.pop("discharge_mw", None)
        b.update(s.battery)
        if s.power_mw is not None:
            b["charge_mw"] = b["discharge_mw"] = s.power_mw
        if s.duration_h is not None:
            b["energy_mwh"] = b["discharge_mw"] * s.duration_h
        if s.energy_mwh is not None:
            b["energy_mwh"] = s.energy_mwh
        if s.round_trip_efficiency is not None:
            b["charge_efficiency"] = b["discharge_efficiency"] = math.sqrt(s.round_trip_efficiency)
    if s.poi_mw is not None:
        site["poi"]["import_mw"] = site["poi"]["export_mw"] = s.poi_mw
    elif s.power_mw is not None:
        scale = sum(b["discharge_mw"] for b in batteries) / old_power
        site["poi"] = {k: v * scale for k, v in site["poi"].items()}
    return site


def _with_year(cfg: dict, kind: str, year: int, base_dir: Path, first_day, where: str) -> dict:
    if kind == "simulation":
        return {**cfg, "start_year": year}
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    if first_day is not None:
        try:
            start = max(start, first_day(cfg, base_dir))
        except Exception as e:
            raise ConfigError(f"{where}: prices: {e}") from None
    if start >= end:
        raise ConfigError(f"{where}: year {year}: the prices leave no delivery day in that year")
    return {**cfg, "window": {"start": start.isoformat(), "end": end.isoformat()}}


def _nested(overrides: dict) -> dict:
    """`{"battery_model.chemistry": "nmc"}` -> `{"battery_model": {"chemistry": "nmc"}}`."""
    out: dict = {}
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _nested(value) if isinstance(value, dict) else value
    return out


def _deep_merge(a: dict, b: dict) -> dict:
    """`b` over `a`, block by block; a block of another `type` (a forecast, say) replaces the old one."""
    out = dict(a)
    for k, v in b.items():
        old = out.get(k)
        same_kind = isinstance(old, dict) and isinstance(v, dict) and v.get("type", old.get("type")) == old.get("type")
        out[k] = _deep_merge(old, v) if same_kind else v
    return out


PRICE_REFS = ("day_ahead", "reserves", "intraday")


def _rebase_prices(prices: dict, spec_dir: Path, base_dir: Path) -> dict:
    """File references of a spec's scenario, made relative to the base config's folder, where the
    case resolves them (samples and stored scenarios are left as they are)."""
    out = {}
    for k, v in prices.items():
        if k in PRICE_REFS:
            out[k] = [_rebase(r, spec_dir, base_dir) for r in v] if isinstance(v, list) else _rebase(v, spec_dir, base_dir)
        elif k == "per_year" and isinstance(v, dict):
            out[k] = {y: _rebase_prices(p, spec_dir, base_dir) for y, p in v.items()}
        else:
            out[k] = v
    return out


def _rebase(ref, spec_dir: Path, base_dir: Path):
    if not isinstance(ref, str) or ref.startswith(("sample:", "scenario:")):
        return ref
    product, sep, rest = ref.partition("=")
    if not sep:
        product, rest = "", ref
    if rest.startswith(("sample:", "scenario:")) or Path(rest).is_absolute():
        return ref
    return f"{product}{sep}{os.path.relpath(spec_dir / rest, base_dir)}"


def _data_key(kind: str, cfg: dict) -> str:
    """What decides which series a case reads: its prices, window or years, products, generators."""
    site = cfg["site"]
    keep = {"zone": site["zone"], "products": site["markets"]["products"], "prices": cfg["prices"],
            "resolution": cfg["resolution"],
            "generators": [a for a in site["assets"] if a.get("type") in ("pv", "wind")]}
    if kind == "backtest":
        keep.update(window=cfg["window"], fill=cfg["fill"], forecast=cfg["forecast"], workflow=cfg["workflow"],
                    products_traded=cfg["products"], lookahead_h=cfg["lookahead_h"])
    else:
        keep.update(start_year=cfg["start_year"], years=cfg["years"], strategy=cfg["strategy"])
    return _hash(keep)[:16]


# optional blocks and battery fields added after a release: a case that leaves them at their
# default keeps the id it had, so a sweep's output folder still resumes
HASHED_WHEN_SET = ("through_control",)
BATTERY_HASHED_WHEN_SET = {"power_side": "ac", "c_rate": None, "throughput_cost_eur_mwh": 0.0, "cycle_cost_eur": 0.0,
                           "joint_power_limit": False, "limits": []}


def _unset_dropped(resolved: dict) -> dict:
    hashed = {k: v for k, v in resolved.items() if not (k in HASHED_WHEN_SET and v is None)}
    site = hashed.get("site")
    if isinstance(site, dict) and isinstance(site.get("assets"), list):
        assets = [{k: v for k, v in a.items() if not (a.get("type") == "battery" and k in BATTERY_HASHED_WHEN_SET
                                                      and v == BATTERY_HASHED_WHEN_SET[k])} for a in site["assets"]]
        hashed["site"] = {**site, "assets": assets}
    return hashed


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _reword(err, where: str) -> str:
    from pydantic import ValidationError

    from ..config import format_validation_error

    if isinstance(err, ValidationError):
        return format_validation_error(err, where)
    return f"{where}: {err}"
