"""Register maps in YAML: which registers hold which of bess-ray's values, in which units and sign.

A point is either a SunSpec point, `MODEL.POINT` (its address found by scanning the device, its type
and scale factor from the model definition), or a plain register `{address, type, sf}` for devices
without SunSpec. bess-ray value = raw x 10^SF x scale x sign (x the `times` point, for current limits
given in amperes). A wrong map names the field and the reason before anything connects.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal, Union

from pydantic import Field, field_validator, model_validator

from ..config import StrictModel, read_yaml
from ..control.measurements import FIELDS, STATE_CODES
from . import sunspec

STATE_NAMES = STATE_CODES
ALARMS = ("bms_trip", "inverter_fault", "estop", "over_temperature")
PlainType = Literal["int16", "uint16", "int32", "uint32"]


class Plain(StrictModel):
    """A register of a device without SunSpec."""

    address: int = Field(ge=0, le=65535)
    type: PlainType = "int16"
    sf: int = Field(0, ge=-10, le=10, description="a fixed power-of-ten scale factor")

    def definition(self) -> sunspec.PointDef:
        return sunspec.PointDef(0, f"@{self.address}", 0, 2 if self.type.endswith("32") else 1, self.type, None, True)


Ref = Union[str, Plain]


def _check_ref(ref: Ref) -> Ref:
    if isinstance(ref, str):
        model, _, name = ref.partition(".")
        if not model.isdigit() or not name:
            raise ValueError(f"{ref!r}: a SunSpec point is MODEL.POINT, e.g. 701.W")
        try:
            sunspec.point(int(model), name)
        except KeyError as e:
            raise ValueError(f"{ref!r}: {e.args[0]}") from None
    return ref


class Value(StrictModel):
    point: Ref
    scale: float = 1.0
    sign: Literal[1, -1] = 1
    times: Ref | None = Field(None, description="multiply by this point (e.g. a current limit by the voltage)")
    states: dict[int, str] | None = Field(None, description="device code -> off, starting, standby, running, fault")

    @field_validator("point", "times")
    @classmethod
    def _ref(cls, v):
        return v if v is None else _check_ref(v)

    @field_validator("states")
    @classmethod
    def _states(cls, v):
        if v is not None:
            bad = sorted({s for s in v.values() if s not in STATE_NAMES})
            if bad:
                raise ValueError(f"unknown state {', '.join(bad)}; known: {', '.join(STATE_NAMES)}")
        return v


class Alarm(StrictModel):
    point: Ref
    alarm: Literal["bms_trip", "inverter_fault", "estop", "over_temperature"]
    bit: int | None = Field(None, ge=0, le=63)
    equals: int | None = None

    @field_validator("point")
    @classmethod
    def _ref(cls, v):
        return _check_ref(v)

    @model_validator(mode="after")
    def _one(self) -> "Alarm":
        if (self.bit is None) == (self.equals is None):
            raise ValueError("give exactly one of bit or equals")
        return self


class RegisterMap(StrictModel):
    """Everything a Modbus adapter needs to translate one kind of device."""

    kind: Literal["sunspec", "plain"] = "sunspec"
    base: int | None = Field(None, description="SunSpec base address; default: scan 40000, 0, 50000")
    values: dict[str, Value]
    alarms: list[Alarm] = Field(default_factory=list)
    timestamp: Value | None = Field(None, description="the device clock, seconds since 2000-01-01 UTC")
    setpoint: Value = Field(description="the active-power setpoint (written, then read back)")
    heartbeat: Ref | None = Field(None, description="a register the controller increments every cycle")
    reversion: bool = Field(True, description="SunSpec 704: write the setpoint with WSetEna, WSetRvrt, WSetRvrtTms")

    @model_validator(mode="after")
    def _complete(self) -> "RegisterMap":
        missing = [f for f in FIELDS if f not in self.values and f != "frequency_hz"]
        unknown = sorted(set(self.values) - set(FIELDS))
        if unknown:
            raise ValueError(f"values: unknown {', '.join(unknown)}; known: {', '.join(FIELDS)}")
        missing = [f for f in missing if f != "alarms"]
        if missing:
            raise ValueError(f"values: missing {', '.join(missing)}")
        if self.values["state"].states is None:
            raise ValueError("values.state: needs states (device code -> off, starting, standby, running, fault)")
        refs = [v.point for v in self.values.values()] + [self.setpoint.point] + [a.point for a in self.alarms]
        sunspec_refs = [r for r in refs if isinstance(r, str)]
        if self.kind == "plain" and sunspec_refs:
            raise ValueError(f"a plain map cannot name SunSpec points ({sunspec_refs[0]})")
        if self.kind == "sunspec" and len(sunspec_refs) < len(refs):
            raise ValueError("a sunspec map names its points as MODEL.POINT")
        if self.reversion and self.kind != "sunspec":
            raise ValueError("reversion: only SunSpec devices (model 704) have a reversion timeout; set reversion: false")
        return self


DEFAULT = "sunspec"


@lru_cache(maxsize=None)
def load_map(ref: str | None = None) -> RegisterMap:
    """A register map: None or a bundled name (sunspec), or a YAML path."""
    name = ref or DEFAULT
    if "/" not in name and not name.endswith((".yaml", ".yml")):
        path = resources.files("bess_ray.devices") / "maps" / f"{name}.yaml"
        if not path.is_file():
            from ..errors import ConfigError

            raise ConfigError(f"register map {name!r}: no such bundled map (bundled: sunspec)")
        return RegisterMap.from_dict(read_yaml(Path(str(path))), f"register map {name}")
    return RegisterMap.from_yaml(name)
