"""What an operator configures: the control cycle's limits and, per asset, its ramp and its device.

An operations file names a site file and adds these sections; a plain site file is accepted too and
runs on the defaults (every asset on the bundled field simulator). Unknown keys are errors and every
error names the field, as for every other config.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ..config import SCHEMA_VERSION, Battery, Site, StrictModel, load_site, read_yaml
from ..errors import ConfigError


class ControlSettings(StrictModel):
    """Limits of one control cycle; defaults follow the seed EMS (1 s cycle, 3 s maximum data age)."""

    period_s: float = Field(1.0, ge=0.05, le=60, description="cycle period on absolute deadlines")
    max_age_s: float = Field(3.0, gt=0, description="a measurement older than this is stale")
    max_skew_s: float = Field(2.0, gt=0, description="a device timestamp this far in the future is skewed")
    frozen_s: float = Field(10.0, gt=0, description="a value that should move but stays bit-identical this long is frozen")
    follow_timeout_s: float = Field(10.0, gt=0, description="a device that misses its setpoint this long is in FAULT")
    follow_tolerance: float = Field(0.05, gt=0, lt=1, description="missing a setpoint means by more than this share of rated power")
    derate_below: float = Field(0.9, gt=0, le=1, description="BMS limits below this share of rated power mean DERATED")
    reversion_s: int = Field(5, ge=1, le=3600, description="device-side fallback to 0 W without a new write (SunSpec WSetRvrtTms)")
    command_valid_s: float = Field(3.0, gt=0, description="a command's valid-until, after its cycle's time")
    nominal_hz: float = Field(50.0, description="grid nominal frequency")

    @model_validator(mode="after")
    def _consistent(self) -> "ControlSettings":
        if self.max_age_s < self.period_s:
            raise ValueError(f"max_age_s ({self.max_age_s}) must be at least period_s ({self.period_s})")
        if self.reversion_s < 2 * self.period_s:
            raise ValueError(f"reversion_s ({self.reversion_s}) must be at least two periods ({2 * self.period_s} s)")
        return self


class AssetControl(StrictModel):
    """How one battery asset is driven."""

    device: str = Field("sim", description="sim, modbus://HOST:PORT/UNIT or mqtt://HOST:PORT/TOPIC_PREFIX")
    ramp_mw_per_s: float | None = Field(None, gt=0, description="ramp limit; default 20 % of the larger power rating per second")
    register_map: str | None = Field(None, description="a register-map YAML (default: the bundled SunSpec map)")


class SimulatorSettings(StrictModel):
    """Where `bess-ray operate --sim` serves the field simulator (a test tool: plain TCP)."""

    modbus_port: int = Field(5020, ge=1, le=65535, description="its Modbus TCP port (unit ids 1, 2, ... by battery)")


class Operation(StrictModel):
    """A site as it is operated: the site, the control settings and each battery's device."""

    schema_version: int = SCHEMA_VERSION
    site: Site
    control: ControlSettings = ControlSettings()
    assets: dict[str, AssetControl] = Field(default_factory=dict)
    simulator: SimulatorSettings = SimulatorSettings()

    @model_validator(mode="after")
    def _assets_known(self) -> "Operation":
        known = {b.id for b in self.site.batteries}
        unknown = sorted(set(self.assets) - known)
        if unknown:
            raise ValueError(f"assets: {', '.join(unknown)}: not a battery of site {self.site.id} "
                             f"(batteries: {', '.join(sorted(known))})")
        return self

    @property
    def batteries(self) -> list[Battery]:
        return self.site.batteries

    def asset(self, asset_id: str) -> AssetControl:
        return self.assets.get(asset_id, AssetControl())

    def device_urls(self, device: str | None = None, sim_port: int | None = None) -> list[str]:
        """Each battery's device URL: `device` for all (else each asset's own); `sim` is unit i+1 of
        the field simulator on `sim_port`, and modbus://HOST:PORT without a unit counts units 1, 2, ..."""
        urls = []
        for i, b in enumerate(self.batteries):
            url = device or self.asset(b.id).device
            if url == "sim":
                if sim_port is None:
                    raise ConfigError(f"assets.{b.id}.device: sim needs the field simulator (--sim)")
                url = f"modbus://127.0.0.1:{sim_port}/{i + 1}"
            elif url.startswith("modbus://") and url.rstrip("/").count("/") == 2:
                url = f"{url.rstrip('/')}/{i + 1}"
            urls.append(url)
        return urls

    def ramp_mw_per_s(self, battery: Battery) -> float:
        ramp = self.asset(battery.id).ramp_mw_per_s
        return ramp if ramp is not None else 0.2 * max(battery.charge_mw, battery.discharge_mw)


def load_operation(path: str | Path) -> Operation:
    """An operations file (a mapping with `site:`) or a plain site file (run on the defaults)."""
    p = Path(path)
    data = read_yaml(p)
    if "site" not in data:
        return Operation(site=Site.from_dict(data, str(p)))
    data = dict(data)
    try:
        data["site"] = load_site(data["site"], p.parent)
    except ConfigError as e:
        raise ConfigError(f"{p}: site: {e}") from None
    return Operation.from_dict(data, str(p))
