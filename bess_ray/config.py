"""Site configuration: pydantic v2 models, loaded from schema-versioned YAML.

Units: MW, MWh, fractions for SoC and efficiencies. Unknown keys are errors, so a typo never passes
silently; every error names the field path and the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import ConfigError
from .markets import PRODUCTS, get_zone, parse_products
from .plugins import SITE_CONSTRAINT, absolute_ref, load_object

SCHEMA_VERSION = 1

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Efficiency = Annotated[float, Field(gt=0.0, le=1.0)]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors; loading names the field and the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config", base_dir: Path | None = None):
        """Validate `data`; `base_dir` is where files it names are read from (a config file's
        folder). Without one, fields that name files refuse them (data sent over HTTP)."""
        try:
            return cls.model_validate(data, context={"base_dir": base_dir})
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, source)) from None

    @classmethod
    def from_yaml(cls, path: str | Path):
        return cls.from_dict(read_yaml(path), str(path), Path(path).parent)


class Limit(StrictModel):
    """A time-varying limit of a battery: over `start`..`end`, or at the instant `at` (SoC only).

    Times are ISO 8601; without an offset they are the zone's local time. Power limits (`charge_mw`,
    `discharge_mw`, at the terminals like the ratings; `available: false` fixes both to 0) hold in
    every interval that overlaps the window; SoC limits (fractions of energy_mwh) hold at every
    interval boundary within it, and `at` holds at the first boundary at or after that instant.
    """

    start: datetime | None = None
    end: datetime | None = None
    at: datetime | None = None
    available: bool = Field(True, description="false: an outage, charge and discharge both 0")
    charge_mw: float | None = Field(None, ge=0, description="charging power at most this, MW")
    discharge_mw: float | None = Field(None, ge=0, description="discharging power at most this, MW")
    soc_min: Fraction | None = Field(None, description="SoC at least this (e.g. 0.8 at 07:00)")
    soc_max: Fraction | None = Field(None, description="SoC at most this")
    reason: str = Field("", description="shown where the limit is reported (maintenance, grid operator ...)")

    @model_validator(mode="after")
    def _window(self) -> "Limit":
        if self.at is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("give either at or start and end, not both")
            if not self.available or self.charge_mw is not None or self.discharge_mw is not None:
                raise ValueError("at is an instant: it takes soc_min / soc_max only (power needs start and end)")
        elif self.start is None or self.end is None:
            raise ValueError("give start and end (a window) or at (an instant)")
        elif has_offset(self.start) != has_offset(self.end):
            raise ValueError("start and end must both have an offset or both be local time")
        elif self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        if self.available and all(v is None for v in (self.charge_mw, self.discharge_mw, self.soc_min, self.soc_max)):
            raise ValueError("a limit needs available: false, charge_mw, discharge_mw, soc_min or soc_max")
        if self.soc_min is not None and self.soc_max is not None and self.soc_min > self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) is above soc_max ({self.soc_max})")
        return self


def has_offset(t: datetime) -> bool:
    return t.tzinfo is not None and t.utcoffset() is not None


class Battery(StrictModel):
    """A battery at the site. Power > 0 is discharge, < 0 is charge, everywhere.

    Power ratings are held at the terminals (AC), which is what the LP and the money use. A battery
    rated on the battery side (`power_side: dc`, or a `c_rate`) is converted on loading through
    the efficiencies: charge_mw(AC) = charge_mw(DC) / charge_efficiency and discharge_mw(AC) =
    discharge_mw(DC) x discharge_efficiency, after which the battery reads as AC-rated.
    """

    type: Literal["battery"] = "battery"
    id: str = Field(min_length=1)
    charge_mw: float = Field(gt=0, description="maximum charging power, MW (at the terminals unless power_side: dc)")
    discharge_mw: float = Field(gt=0, description="maximum discharging power, MW (at the terminals unless power_side: dc)")
    power_side: Literal["ac", "dc"] = Field(
        "ac", description="ac: charge_mw / discharge_mw at the grid terminals; dc: on the battery side (converted)")
    c_rate: float | None = Field(None, gt=0, le=10, description="battery-side power = c_rate x energy_mwh, "
                                                                "instead of charge_mw / discharge_mw")
    energy_mwh: float = Field(gt=0, description="nameplate energy, MWh")
    charge_efficiency: Efficiency = 0.95
    discharge_efficiency: Efficiency = 0.95
    soc_min: Fraction = 0.0
    soc_max: Fraction = 1.0
    soc_initial: Fraction = 0.5
    final_soc: Union[Literal["free", "at_least_initial", "equal_initial"], Fraction] = Field(
        "at_least_initial",
        description="free, at_least_initial, equal_initial, or a SoC fraction to reach exactly",
    )
    standby_loss_per_hour: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of stored energy lost per hour")
    degradation_cost_eur_mwh: float = Field(0.0, ge=0.0, description="cost per MWh discharged")
    throughput_cost_eur_mwh: float = Field(0.0, ge=0.0, description="cost per MWh charged and per MWh discharged")
    cycle_cost_eur: float = Field(0.0, ge=0.0, description="cost per equivalent full cycle (usable energy discharged)")
    max_cycles_per_day: float | None = Field(None, gt=0, description="discharged energy per local day / usable energy")
    joint_power_limit: bool = Field(
        False, description="one LP row per interval, charge/charge_mw + discharge/discharge_mw <= 1: the plan never "
                           "charges and discharges at once at full power (binaries forbid it altogether)")
    limits: tuple[Limit, ...] = Field(
        (), description="time-varying limits (outages, deratings, SoC windows), inline or a file (CSV, Parquet, JSON)")

    @model_validator(mode="before")
    @classmethod
    def _battery_side(cls, data):
        """A battery-side rating (power_side: dc, or c_rate) becomes the terminal (AC) rating."""
        if not isinstance(data, dict) or (data.get("power_side", "ac") == "ac" and data.get("c_rate") is None):
            return data
        data = dict(data)
        try:
            eta_c = float(data.get("charge_efficiency", 0.95))
            eta_d = float(data.get("discharge_efficiency", 0.95))
            if data.get("c_rate") is not None:
                if "charge_mw" in data or "discharge_mw" in data:
                    raise ValueError("give c_rate or charge_mw / discharge_mw, not both")
                c_rate, energy = float(data["c_rate"]), float(data["energy_mwh"])
                if not 0 < c_rate <= 10:
                    raise ValueError(f"c_rate: {c_rate:g} is not within (0, 10] per hour")
                data["charge_mw"] = data["discharge_mw"] = c_rate * energy
            elif data.get("power_side") != "dc":
                return data  # an unknown power_side: the field says so
            if not (0 < eta_c <= 1 and 0 < eta_d <= 1):
                return data  # the efficiency fields say what is wrong
            data["charge_mw"] = float(data["charge_mw"]) / eta_c
            data["discharge_mw"] = float(data["discharge_mw"]) * eta_d
        except (KeyError, TypeError):
            return data  # a missing or malformed field: its own error names it
        data["power_side"], data["c_rate"] = "ac", None
        return data

    @field_validator("limits", mode="before")
    @classmethod
    def _limit_file(cls, v, info: ValidationInfo):
        if not isinstance(v, (str, Path)):
            return v
        base_dir = (info.context or {}).get("base_dir")
        if base_dir is None:
            raise ValueError("a limits file is read only from a site file on disk; give the limits inline")
        from .data.limits import read_limits  # here: polars is read only when a site names a file

        path = Path(v)
        return read_limits(path if path.is_absolute() else Path(base_dir) / path)

    @model_validator(mode="after")
    def _soc_order(self) -> "Battery":
        if self.soc_min >= self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) must be below soc_max ({self.soc_max})")
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError(
                f"soc_initial ({self.soc_initial}) lies outside [soc_min, soc_max] = [{self.soc_min}, {self.soc_max}]"
            )
        if isinstance(self.final_soc, float) and not self.soc_min <= self.final_soc <= self.soc_max:
            raise ValueError(f"final_soc ({self.final_soc}) lies outside [soc_min, soc_max]")
        for i, lim in enumerate(self.limits):
            for name in ("soc_min", "soc_max"):
                v = getattr(lim, name)
                if v is not None and not self.soc_min <= v <= self.soc_max:
                    raise ValueError(f"limits[{i}].{name} ({v}) lies outside the battery's [soc_min, soc_max] = "
                                     f"[{self.soc_min}, {self.soc_max}]")
        return self

    @property
    def usable_mwh(self) -> float:
        return self.energy_mwh * (self.soc_max - self.soc_min)

    @property
    def discharge_cost_eur_mwh(self) -> float:
        """Wear per MWh discharged: the degradation, throughput and cycle costs together."""
        return self.degradation_cost_eur_mwh + self.throughput_cost_eur_mwh + self.cycle_cost_eur / self.usable_mwh

    @property
    def charge_cost_eur_mwh(self) -> float:
        """Wear per MWh charged: the throughput cost."""
        return self.throughput_cost_eur_mwh


class _Generator(StrictModel):
    """Co-located generation behind the POI: curtailable, sold at the day-ahead price plus a premium."""

    id: str = Field(min_length=1)
    capacity_mw: float = Field(gt=0)
    feed_in_premium_eur_mwh: float = Field(0.0, ge=0, description="fixed premium on exported generation")
    premium_when_negative: bool = Field(False, description="is the premium paid when the day-ahead price is negative")
    degradation_per_year: float = Field(0.0, ge=0, lt=0.1, description="yearly output loss (PV modules ~0.5 %)")
    profile_scale: float = Field(1.0, gt=0, le=1.5, description="multiplies the profile (e.g. share of peak -> of capacity)")


class PVLocation(StrictModel):
    """Where a PV array is and how it faces, for a profile generated with pvlib (`data/pv.py`)."""

    latitude: float = Field(ge=-90, le=90, description="degrees north")
    longitude: float = Field(ge=-180, le=180, description="degrees east")
    tilt: float = Field(30.0, ge=0, le=90, description="degrees from horizontal")
    azimuth: float = Field(180.0, ge=0, le=360, description="degrees clockwise from north (180 = south)")
    altitude_m: float = Field(0.0, ge=-500, le=9000)
    losses: float = Field(0.14, ge=0, lt=1, description="system losses as PVWatts counts them")
    weather: str | None = Field(None, description="a weather file (timestamp, ghi [, dni, dhi, temp_air]); "
                                                  "default: clear sky")


class PV(_Generator):
    """PV: a real profile (a share of capacity per interval, e.g. sample:DE_SOLAR_2024) scaled to
    capacity, or one generated from its `location` with pvlib (clear sky, or a weather file)."""

    type: Literal["pv"] = "pv"
    profile: str | None = Field(None, description="path, sample:NAME or scenario:NAME of a profile (0..1 of capacity)")
    location: PVLocation | None = Field(None, description="generate the profile with pvlib instead")
    degradation_per_year: float = Field(0.005, ge=0, lt=0.1, description="yearly module output loss")

    @model_validator(mode="after")
    def _one_source(self) -> "PV":
        if (self.profile is None) == (self.location is None):
            raise ValueError("give exactly one of profile or location")
        return self


# A generic 3-4 MW class onshore turbine, normalised (cut-in 3 m/s, rated 12 m/s, cut-out 25 m/s);
# give the power curve of the real turbine where it is known.
GENERIC_POWER_CURVE = ((0.0, 0.0), (3.0, 0.0), (4.0, 0.03), (5.0, 0.08), (6.0, 0.15), (7.0, 0.25), (8.0, 0.38),
                       (9.0, 0.53), (10.0, 0.7), (11.0, 0.86), (12.0, 1.0), (25.0, 1.0), (25.01, 0.0))


class Wind(_Generator):
    """Wind: a profile (0..1 of capacity), or a hub-height wind-speed series through a power curve."""

    type: Literal["wind"] = "wind"
    profile: str | None = Field(None, description="a generation profile (0..1 of capacity)")
    wind_speed: str | None = Field(None, description="a hub-height wind-speed series in m/s (column wind_speed)")
    power_curve: tuple[tuple[float, float], ...] = Field(GENERIC_POWER_CURVE,
                                                         description="[wind speed m/s, share of capacity] pairs")

    @model_validator(mode="after")
    def _one_source(self) -> "Wind":
        if (self.profile is None) == (self.wind_speed is None):
            raise ValueError("give exactly one of profile or wind_speed")
        speeds = [v for v, _ in self.power_curve]
        if speeds != sorted(speeds) or any(not 0 <= f <= 1 for _, f in self.power_curve):
            raise ValueError("power_curve: speeds must ascend and shares lie within 0..1")
        return self


Asset = Annotated[Union[Battery, PV, Wind], Field(discriminator="type")]


class POI(StrictModel):
    """Point of interconnection limits, MW (both >= 0)."""

    import_mw: float = Field(ge=0)
    export_mw: float = Field(ge=0)


class Markets(StrictModel):
    """Which products the site trades and how reserves are dimensioned."""

    products: tuple[str, ...] = ("da",)
    reserve_duration_h: dict[str, float] = Field(
        default_factory=dict, description="full-activation energy reservation per reserve product, hours"
    )

    @field_validator("products", mode="before")
    @classmethod
    def _products(cls, v):
        return parse_products(v)  # a ConfigError is a ValueError: pydantic reports it with the field

    @field_validator("reserve_duration_h")
    @classmethod
    def _durations(cls, v: dict[str, float]):
        for name, hours in v.items():
            if name not in PRODUCTS or not PRODUCTS[name].is_reserve:
                raise ValueError(f"{name!r} is not a reserve product")
            if not 0 <= hours <= 24:
                raise ValueError(f"{name}: {hours} h is not within 0..24 h")
        return v

    def duration_h(self, product: str) -> float:
        return self.reserve_duration_h.get(product, PRODUCTS[product].energy_duration_h)


class SiteConstraint(StrictModel):
    """A user's own constraint, added to every LP built for the site: `optimize`, the walk-forward
    backtest's days, simulations, sweeps and trading flows alike (docs/optimize.md).

    `function` names a function decorated with `@bess_ray.site_constraint`, called as
    `function(rules, **params)` for each window (see `bess_ray.optimization.rules.Rules`).
    """

    function: str = Field(description="'package.module:function', or 'file.py:function' relative to the site file")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the function")
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                             description="label of its rows (default: the function's name)")

    @field_validator("function")
    @classmethod
    def _load(cls, v: str, info: ValidationInfo) -> str:
        ref = absolute_ref(v, (info.context or {}).get("base_dir"))  # the same file from any copy of the site
        fn = load_object(ref)
        if not getattr(fn, SITE_CONSTRAINT, False):
            raise ValueError(f"{v}: not marked as a site constraint; decorate it with @bess_ray.site_constraint")
        return ref

    @model_validator(mode="after")
    def _params_fit(self) -> "SiteConstraint":
        import inspect

        fn = load_object(self.function)
        try:
            inspect.signature(fn).bind(None, **self.params)
        except TypeError as e:
            raise ValueError(f"params do not fit {self.function}: {e}") from None
        return self

    @property
    def label(self) -> str:
        return self.name or self.function.rpartition(":")[2]


class Site(StrictModel):
    """A site: one zone, one POI, one or more assets behind it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str = Field(min_length=1)
    zone: str
    poi: POI
    assets: list[Asset] = Field(min_length=1)
    markets: Markets = Markets()
    grid_charging: bool = Field(True, description="may the batteries charge from the grid (else only from PV / wind)")
    constraints: tuple[SiteConstraint, ...] = Field(
        (), description="the user's own LP constraints, as decorated Python functions (docs/optimize.md)")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return get_zone(v).code

    @model_validator(mode="after")
    def _consistent(self) -> "Site":
        ids = [a.id for a in self.assets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"asset ids must be unique; repeated: {', '.join(dupes)}")
        labels = [c.label for c in self.constraints]
        if len(set(labels)) < len(labels):
            raise ValueError(f"constraints: each needs its own name; repeated: {', '.join(sorted({x for x in labels if labels.count(x) > 1}))}")
        if not self.batteries:
            raise ValueError("a site needs at least one battery asset")
        try:
            get_zone(self.zone).check_products(self.markets.products)
        except ValueError as e:
            raise ValueError(f"markets.products: {e}") from None
        return self

    @property
    def batteries(self) -> list[Battery]:
        return [a for a in self.assets if isinstance(a, Battery)]

    @property
    def fleet(self) -> "Fleet":
        """The batteries as arrays, one value per battery."""
        return Fleet.of(self.batteries)

    @property
    def generators(self) -> list["PV | Wind"]:
        return [a for a in self.assets if isinstance(a, (PV, Wind))]

    def with_products(self, products) -> "Site":
        """A copy trading another product selection (the CLI's --products)."""
        data = self.model_dump()
        data["markets"]["products"] = products
        return Site.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict, source: str = "site", base_dir: Path | None = None) -> "Site":
        return super().from_dict(data, source, base_dir)


@dataclass(frozen=True)
class Fleet:
    """A site's batteries as numpy arrays, one value per battery in the order of `Site.batteries`:
    the vectorised view the optimiser, the walk-forward and the money use."""

    ids: list[str]
    energy_mwh: np.ndarray
    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    charge_efficiency: np.ndarray
    discharge_efficiency: np.ndarray
    soc_min: np.ndarray  # fractions of energy_mwh
    soc_max: np.ndarray
    soc_initial: np.ndarray
    standby_loss_per_hour: np.ndarray
    discharge_cost_eur_mwh: np.ndarray  # wear per MWh discharged (degradation, throughput, cycles)
    charge_cost_eur_mwh: np.ndarray  # wear per MWh charged (throughput)

    @classmethod
    def of(cls, batteries: list[Battery]) -> "Fleet":
        arrays = {f.name: np.array([getattr(b, f.name) for b in batteries], dtype=float)
                  for f in fields(cls) if f.name != "ids"}
        return cls([b.id for b in batteries], **arrays)

    @property
    def min_mwh(self) -> np.ndarray:
        return self.energy_mwh * self.soc_min

    @property
    def max_mwh(self) -> np.ndarray:
        return self.energy_mwh * self.soc_max

    @property
    def initial_mwh(self) -> np.ndarray:
        return self.energy_mwh * self.soc_initial

    @property
    def midway_mwh(self) -> np.ndarray:
        return (self.min_mwh + self.max_mwh) / 2


def load_site(ref: str | dict, base_dir: Path) -> Site:
    """A site given inline (a dict) or as a YAML path relative to `base_dir` (a config's folder)."""
    if isinstance(ref, dict):
        return Site.from_dict(ref, "site", base_dir)
    path = Path(ref)
    return Site.from_yaml(path if path.is_absolute() else base_dir / path)


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: `source: path.to.field: reason`."""
    lines = []
    for e in err.errors():
        loc = [str(x) for x in e["loc"]]
        # drop pydantic's union-branch tags (e.g. 'battery') so the path reads like the YAML
        loc = [x for x in loc if x not in ("battery", "pv", "wind") and not x.startswith("function-")]
        path = ".".join(loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of schema_version 1)"
        lines.append(f"{source}: {path}: {msg}" if loc else f"{source}: {msg}")
    return "\n".join(lines)
