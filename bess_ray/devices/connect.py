"""A device URL -> an adapter: `modbus://HOST:PORT/UNIT` or `mqtt://HOST:PORT/PREFIX`."""
from __future__ import annotations

from urllib.parse import urlparse

from ..errors import ConfigError
from .registers import load_map


def adapter(url: str, asset: str, *, register_map: str | None = None, reversion_s: int = 5, timeout_s: float = 0.5):
    u = urlparse(url)
    if u.scheme == "modbus":
        from .modbus import ModbusDevice

        unit = u.path.strip("/") or "1"
        if not unit.isdigit() or not 0 <= int(unit) <= 247:
            raise ConfigError(f"{url}: the unit id (path) must be 0..247, got {unit!r}")
        return ModbusDevice(u.hostname or "127.0.0.1", u.port or 502, int(unit), load_map(register_map),
                            timeout_s=timeout_s, reversion_s=reversion_s)
    if u.scheme == "mqtt":
        from .mqtt import MqttDevice

        return MqttDevice(u.hostname or "127.0.0.1", u.port or 1883, u.path.strip("/") or "bess", asset,
                          timeout_s=timeout_s, reversion_s=reversion_s)
    raise ConfigError(f"{url}: a device is sim, modbus://HOST:PORT/UNIT or mqtt://HOST:PORT/PREFIX")
