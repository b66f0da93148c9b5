"""SunSpec information models, taken from the official definitions that pysunspec2 ships.

Offsets, types, scale-factor names and access come from the model JSON files, never from tables typed
here. A device is found by the marker "SunS" at a base address (40000, 0 or 50000); models follow as
ID, L and L registers; ID 0xFFFF ends the chain. Value = raw x 10^SF; the not-implemented values are
int16 -32768, uint16 0xFFFF, int32 0x80000000, uint32 0xFFFFFFFF and sunssf -32768.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

MARKER = (0x5375, 0x6E53)  # "SunS"
END = 0xFFFF
BASES = (40000, 0, 50000)
# the models bess-ray's default map and the field simulator use
MODELS = (1, 701, 702, 704, 713, 802, 122)

_NOT_IMPLEMENTED = {
    "int16": 0x8000, "sunssf": 0x8000, "uint16": 0xFFFF, "enum16": 0xFFFF, "bitfield16": 0xFFFF,
    "int32": 0x80000000, "uint32": 0xFFFFFFFF, "enum32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF,
    "acc16": 0, "acc32": 0, "acc64": 0, "uint64": 0xFFFFFFFFFFFFFFFF,
}
_SIGNED = {"int16", "sunssf", "int32"}


@dataclass(frozen=True)
class PointDef:
    model: int
    name: str
    offset: int         # from the model's start (ID is 0, L is 1)
    size: int           # registers
    type: str
    sf: str | None      # the name of its scale-factor point in the same model
    writable: bool


@lru_cache(maxsize=None)
def points(model: int) -> dict[str, PointDef]:
    """The top-level points of a model, by name, with offsets summed from the definition."""
    from sunspec2 import device

    try:
        mdef = device.get_model_def(model)
    except Exception:  # pysunspec2's ModelDefinitionError is no ValueError
        raise KeyError(f"no SunSpec model {model} in pysunspec2's definitions") from None
    out, offset = {}, 0
    for p in mdef["group"]["points"]:
        sf = p.get("sf")
        out[p["name"]] = PointDef(model, p["name"], offset, int(p["size"]), p["type"],
                                  sf if isinstance(sf, str) else None, p.get("access") == "RW")
        offset += int(p["size"])
    return out


def point(model: int, name: str) -> PointDef:
    pts = points(model)
    if name not in pts:
        raise KeyError(f"SunSpec model {model} has no point {name!r}")
    return pts[name]


def decode(regs: list[int], p: PointDef) -> int | None:
    """The raw integer of a point from its registers (big-endian words), None when not implemented."""
    v = 0
    for r in regs[: p.size]:
        v = (v << 16) | (r & 0xFFFF)
    if p.type in _NOT_IMPLEMENTED and v == _NOT_IMPLEMENTED[p.type] and not p.type.startswith("acc"):
        return None
    if p.type in _SIGNED and v >= 1 << (16 * p.size - 1):
        v -= 1 << (16 * p.size)
    return v


def encode(v: int, p: PointDef) -> list[int]:
    """Registers for a raw integer (two's complement for signed types)."""
    if v < 0:
        v += 1 << (16 * p.size)
    return [(v >> (16 * (p.size - 1 - i))) & 0xFFFF for i in range(p.size)]


def not_implemented(p: PointDef) -> list[int]:
    return encode(_NOT_IMPLEMENTED.get(p.type, 0), p)
