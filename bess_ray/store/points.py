"""Data points: what a stored value is (pure: no I/O).

A data point has a hierarchical id (`site/de1/asset/bess1/soc`), a kind, a unit, metadata to
filter by and a validation schema:

- `float`: a time series of numbers, the bulk of telemetry (schema: `minimum`, `maximum`);
- `vector`: a time series of vectors or matrices, such as a bid curve of (price, quantity) rows
  (schema: `shape`, e.g. `[null, 2]` for any number of rows of two; `minimum`, `maximum`);
- `static`: a value that changes rarely, such as a rating or a config, kept with the time it was
  set (schema: a JSON Schema, checked with the `jsonschema` library).

Values are polars frames with a `timestamp` column (time-zone aware; stored as UTC microseconds)
and a `value` column. Every check runs before anything is written, so a bad batch writes nothing.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import polars as pl

from ..errors import DataError

KINDS = ("float", "vector", "static")
ID = re.compile(r"^[a-z0-9][a-z0-9_.:-]*(/[a-z0-9][a-z0-9_.:-]*)*$")
UTC_US = pl.Datetime("us", "UTC")

# units a value may be written in and converted from (to the point's own unit)
SCALES = {
    "W": ("power", 1.0), "kW": ("power", 1e3), "MW": ("power", 1e6),
    "Wh": ("energy", 1.0), "kWh": ("energy", 1e3), "MWh": ("energy", 1e6),
    "EUR/MWh": ("price", 1.0), "EUR/kWh": ("price", 1e3),
    "Hz": ("frequency", 1.0), "mHz": ("frequency", 1e-3),
    "frac": ("fraction", 1.0), "%": ("fraction", 0.01),
}


def check_id(point_id: str) -> str:
    if not isinstance(point_id, str) or not ID.match(point_id):
        raise DataError(f"data point id {point_id!r}: use lower-case path segments of letters, digits, "
                        "'_', '.', ':', '-', separated by '/' (site/de1/asset/bess1/soc)")
    return point_id


@dataclass(frozen=True)
class DataPoint:
    """The definition of one data point; `kind` and `unit` are fixed once defined."""

    id: str
    kind: str = "float"
    unit: str = ""
    metadata: dict = field(default_factory=dict)
    schema: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_id(self.id)
        if self.kind not in KINDS:
            raise DataError(f"data point {self.id}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(self.metadata, dict) or not all(isinstance(k, str) for k in self.metadata):
            raise DataError(f"data point {self.id}: metadata must be a mapping of names to values")
        try:
            json.dumps(self.metadata)
        except TypeError as e:
            raise DataError(f"data point {self.id}: metadata: {e}") from None
        if self.kind == "static":
            from jsonschema import Draft202012Validator, SchemaError

            try:
                Draft202012Validator.check_schema(self.schema)
            except SchemaError as e:
                raise DataError(f"data point {self.id}: schema is not a valid JSON Schema: {e.message}") from None
        else:
            unknown = set(self.schema) - {"minimum", "maximum", "shape"}
            if unknown or (self.kind == "float" and "shape" in self.schema):
                raise DataError(f"data point {self.id}: schema keys {sorted(unknown or {'shape'})} are not "
                                f"known for kind {self.kind} (minimum, maximum{', shape' if self.kind == 'vector' else ''})")

    def matches(self, where: dict) -> bool:
        """Does every metadata key of `where` have that value (a list: any of those values)?"""
        for key, wanted in where.items():
            have = self.metadata.get(key)
            if isinstance(wanted, (list, tuple, set)):
                if have not in wanted:
                    return False
            elif have != wanted:
                return False
        return True

    def record(self) -> dict:
        return {"id": self.id, "kind": self.kind, "unit": self.unit, "metadata": self.metadata,
                "schema": self.schema, "description": self.description}


def under(point_id: str, prefix: str) -> bool:
    """Is `point_id` the prefix itself or below it (segment-wise: site/de1 is not over site/de10)?"""
    prefix = prefix.rstrip("/")
    return point_id == prefix or point_id.startswith(prefix + "/")


def micros(instant: datetime | str, name: str) -> int:
    """A zone-aware instant (datetime or ISO-8601 with offset) as UTC microseconds since the epoch."""
    if isinstance(instant, str):
        try:
            instant = datetime.fromisoformat(instant.replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"{name}: {instant!r} is not an ISO-8601 instant") from None
    if not isinstance(instant, datetime):
        raise DataError(f"{name}: {instant!r} is not a date and time")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise DataError(f"{name}: {instant.isoformat()} has no time zone; give one (UTC: '+00:00' or 'Z')")
    delta = instant.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def instant(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + np.timedelta64(int(us), "us").item()


# ------------------------------------------------------------------------------------ validation
def prepare(point: DataPoint, frame: pl.DataFrame, unit: str | None = None) -> tuple[np.ndarray, np.ndarray | list]:
    """The frame as stored: (UTC microseconds as int64, values: float64 for float points, JSON text
    for vectors and static values), checked against the point; a DataError names what is wrong."""
    where = f"data point {point.id}"
    if not isinstance(frame, pl.DataFrame):
        raise DataError(f"{where}: values must be a polars DataFrame with columns timestamp and value")
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise DataError(f"{where}: the frame lacks column(s) {', '.join(sorted(missing))}")
    stamp = frame.schema["timestamp"]
    if not isinstance(stamp, pl.Datetime):
        raise DataError(f"{where}: timestamp is {stamp}, not a date and time")
    if stamp.time_zone is None:
        raise DataError(f"{where}: timestamp has no time zone; give one (UTC or the site's zone)")
    if frame["timestamp"].null_count():
        raise DataError(f"{where}: timestamp has {frame['timestamp'].null_count()} empty row(s)")
    # an aware datetime is held as UTC in its time unit: no conversion, only the unit's scale
    held = frame["timestamp"].to_numpy().view(np.int64)
    ts = {"us": held, "ns": held // 1000, "ms": held * 1000}[stamp.time_unit]
    if len(ts) > 1 and not (np.diff(ts) > 0).all() and len(np.unique(ts)) < len(ts):
        values, counts = np.unique(ts, return_counts=True)
        raise DataError(f"{where}: timestamp {instant(int(values[counts > 1][0])).isoformat()} appears more than "
                        "once in the batch")
    value = frame["value"]
    if point.kind == "float":
        return ts, _floats(point, value, _scale(point, unit))
    if point.kind == "vector":
        return ts, _vectors(point, value, _scale(point, unit))
    if unit not in (None, point.unit):
        raise DataError(f"{where}: unit {unit!r} is not the point's unit {point.unit!r}")
    return ts, _statics(point, value)


def _scale(point: DataPoint, unit: str | None) -> float:
    if unit is None or unit == point.unit:
        return 1.0
    have, want = SCALES.get(unit), SCALES.get(point.unit)
    if have is None or want is None or have[0] != want[0]:
        raise DataError(f"data point {point.id}: unit {unit!r} cannot be converted to the point's unit {point.unit!r}")
    return have[1] / want[1]


def _limits(point: DataPoint, values: np.ndarray) -> None:
    for side, outside in (("minimum", np.less), ("maximum", np.greater)):
        bound = point.schema.get(side)
        if bound is not None:
            bad = outside(values, bound)
            if bad.any():
                raise DataError(f"data point {point.id}: value {values[bad][0]:g} is outside the schema's {side} "
                                f"{bound:g} ({int(bad.sum())} value(s))")


def _floats(point: DataPoint, value: pl.Series, scale: float) -> np.ndarray:
    if not value.dtype.is_numeric() or value.dtype == pl.Boolean:
        raise DataError(f"data point {point.id}: kind float takes numbers, not {value.dtype}")
    if value.null_count():
        raise DataError(f"data point {point.id}: {value.null_count()} value(s) are empty, NaN or infinite")
    values = value.to_numpy() if value.dtype == pl.Float64 else value.cast(pl.Float64).to_numpy()
    if scale != 1.0:
        values = values * scale
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"data point {point.id}: {int(bad.sum())} value(s) are empty, NaN or infinite")
    _limits(point, values)
    return values


def _vectors(point: DataPoint, value: pl.Series, scale: float) -> list[str]:
    if not isinstance(value.dtype, (pl.List, pl.Array)):
        raise DataError(f"data point {point.id}: kind vector takes lists or arrays of numbers, not {value.dtype}")
    shape = point.schema.get("shape")
    out = []
    for row in value.to_list():
        try:
            array = np.asarray(row, dtype=float) * scale
        except (TypeError, ValueError):
            raise DataError(f"data point {point.id}: a vector must be numbers in a regular shape, not {row!r}") from None
        if shape is not None and (array.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, array.shape))):
            raise DataError(f"data point {point.id}: a value of shape {list(array.shape)} does not fit the schema's "
                            f"shape {shape}")
        if not np.isfinite(array).all():
            raise DataError(f"data point {point.id}: a vector holds empty, NaN or infinite numbers")
        _limits(point, array.ravel())
        out.append(json.dumps(array.tolist()))
    return out


def _statics(point: DataPoint, value: pl.Series) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(point.schema)
    out = []
    for item in value.to_list():
        if isinstance(item, float) and not math.isfinite(item):
            raise DataError(f"data point {point.id}: {item} is not a JSON value")
        error = next(iter(validator.iter_errors(item)), None)
        if error is not None:
            path = "/".join(str(p) for p in error.absolute_path) or "(the value)"
            raise DataError(f"data point {point.id}: {path}: {error.message}")
        out.append(json.dumps(item, sort_keys=True))
    return out


def shown(point: DataPoint, ts: pl.Series, value: pl.Series) -> pl.DataFrame:
    """Stored rows as the frame a reader gets: timestamp (UTC) and value (vectors decoded to lists)."""
    stamp = ts.cast(pl.Int64).cast(UTC_US).alias("timestamp")
    if point.kind == "vector":
        value = pl.Series("value", [json.loads(v) for v in value.to_list()])
    return pl.DataFrame([stamp, value.alias("value")])


def decode(point: DataPoint, stored):
    """One stored value as Python: a float, a list (vector) or the JSON value (static)."""
    return float(stored) if point.kind == "float" else json.loads(stored)
