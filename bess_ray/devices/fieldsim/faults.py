"""The simulator's fault catalogue and fault files.

A fault file is YAML: `faults:` a list of `{kind, asset, at_s, for_s, ...}`; `at_s` counts from the
simulator's start, `for_s` omitted means until the end. Faults can also be injected and cleared at run
time (`FieldSim.inject` / `clear`). Every kind, what a device then does on the wire:

- no_answer: requests get no response (the client times out)
- exception: requests get a Modbus exception (`code`, default 4 = server device failure)
- frozen: reads return the values as they were when the fault began (the device clock runs on)
- stale_timestamp: the device clock (model 122 Tms) stops
- skewed_timestamp: the device clock runs `offset_s` ahead (negative: behind)
- out_of_range: a point reads `value` (raw register value), e.g. SoC 150 %
- not_implemented: a point reads its not-implemented value
- soc_jump: the SoC jumps by `delta` (fraction) once, at the fault's start
- bms_trip: the BMS opens its contactors: no power, state FAULT, allowed power 0
- ignore_setpoints: writes are taken (they read back) but the inverter does not follow them
- slow_ramp: the inverter ramps at `factor` of its rate
- broker_loss: the MQTT device drops its broker connection
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ...config import StrictModel, read_yaml

Kind = Literal["no_answer", "exception", "frozen", "stale_timestamp", "skewed_timestamp", "out_of_range",
               "not_implemented", "soc_jump", "bms_trip", "ignore_setpoints", "slow_ramp", "broker_loss"]


class Fault(StrictModel):
    kind: Kind
    asset: str = Field("*", description="a battery id, or * for all")
    at_s: float = Field(0.0, ge=0)
    for_s: float | None = Field(None, gt=0)
    code: int = Field(4, ge=1, le=11, description="exception: the Modbus exception code")
    offset_s: float = Field(3600.0, description="skewed_timestamp: seconds ahead")
    point: str | None = Field(None, description="out_of_range / not_implemented: MODEL.POINT, e.g. 713.SoC")
    value: int | None = Field(None, description="out_of_range: the raw register value")
    delta: float = Field(0.2, ge=-1, le=1, description="soc_jump: the jump, as a fraction")
    factor: float = Field(0.05, gt=0, le=1, description="slow_ramp: share of the normal ramp rate")

    @model_validator(mode="after")
    def _complete(self) -> "Fault":
        if self.kind in ("out_of_range", "not_implemented"):
            if not self.point:
                raise ValueError(f"{self.kind} needs point: MODEL.POINT (e.g. 713.SoC)")
            from ..sunspec import point

            model, _, name = self.point.partition(".")
            try:
                point(int(model), name)
            except (KeyError, ValueError) as e:
                raise ValueError(f"point: {self.point!r} is not a SunSpec point (MODEL.POINT): {e.args[0]}") from None
        if self.kind == "out_of_range" and self.value is None:
            raise ValueError("out_of_range needs value: the raw register value to report")
        return self

    def active(self, elapsed_s: float) -> bool:
        return self.at_s <= elapsed_s and (self.for_s is None or elapsed_s < self.at_s + self.for_s)

    def applies_to(self, asset: str) -> bool:
        return self.asset in ("*", asset)


class FaultFile(StrictModel):
    faults: list[Fault] = Field(default_factory=list)


def read_faults(path: str | Path, assets: list[str]) -> list[Fault]:
    faults = FaultFile.from_dict(read_yaml(path), str(path)).faults
    from ...errors import ConfigError

    for i, f in enumerate(faults):
        if f.asset != "*" and f.asset not in assets:
            raise ConfigError(f"{path}: faults.{i}.asset: {f.asset!r} is not a battery of the site "
                              f"({', '.join(assets)})")
    return faults
