"""Data quality: find gaps, duplicates, NaN, unsorted time and DST artefacts, with the rows affected.

Rows are file line numbers (the header is line 1), so a user can open the file at the right place.
Gaps and NaN are filled only when a fill policy is asked for; duplicates and disorder never are,
because no rule can tell which of two values is the real one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..errors import ConfigError, DataError

FILL_POLICIES = ("ffill", "linear", "zero")
MAX_ROWS_SHOWN = 8


@dataclass(frozen=True)
class DataIssue:
    kind: str  # gap | duplicate | nan | unsorted | bad_time | dst_artefact | irregular | unit
    rows: tuple[int, ...]
    detail: str

    def __str__(self) -> str:
        rows = ", ".join(map(str, self.rows[:MAX_ROWS_SHOWN]))
        more = f" (+{len(self.rows) - MAX_ROWS_SHOWN} more)" if len(self.rows) > MAX_ROWS_SHOWN else ""
        where = f" at rows {rows}{more}" if self.rows else ""
        return f"{self.kind}: {self.detail}{where}"


@dataclass
class DataReport:
    source: str
    rows: int
    resolution_min: int | None
    issues: list[DataIssue] = field(default_factory=list)
    filled: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues

    def __str__(self) -> str:
        head = f"{self.source}: {self.rows} rows, resolution {self.resolution_min} min"
        if self.ok:
            return head + (f", {self.filled} intervals filled" if self.filled else ", no issues")
        return head + f", {len(self.issues)} issue(s):\n" + "\n".join(f"  - {i}" for i in self.issues)

    def raise_if_bad(self, hint: str = "") -> None:
        if not self.ok:
            raise DataError(str(self) + (f"\n{hint}" if hint else ""), self.issues)


def _is_dst_change(tz: str | None, ts: pl.Series) -> np.ndarray:
    """True where the zone's UTC offset changes within 12 h of the instant."""
    if tz is None or ts.len() == 0:
        return np.zeros(ts.len(), dtype=bool)
    half = pl.duration(hours=12)
    frame = pl.DataFrame({"t": ts}).with_columns(
        before=(pl.col("t") - half).dt.convert_time_zone(tz),
        after=(pl.col("t") + half).dt.convert_time_zone(tz),
    ).select(
        (pl.col("before").dt.base_utc_offset() + pl.col("before").dt.dst_offset())
        != (pl.col("after").dt.base_utc_offset() + pl.col("after").dt.dst_offset())
    )
    return frame.to_series().fill_null(False).to_numpy()


def check(frame: pl.DataFrame, value_cols: list[str], source: str, zone_tz: str | None = None,
          resolution_min: int | None = None) -> DataReport:
    """Inspect a raw frame with columns `row`, `timestamp` (UTC), `wall` (clock time the file's
    spacing is regular in: UTC, or local time for block products) and the value columns."""
    issues: list[DataIssue] = []
    rows = frame["row"].to_numpy()

    bad_time = frame["timestamp"].is_null().to_numpy()
    if bad_time.any():
        issues.append(DataIssue("bad_time", tuple(rows[bad_time].tolist()),
                                "timestamp missing, unparsable, or a local time that does not exist (DST)"))
    good = frame.filter(~pl.Series(bad_time))

    nan_mask = np.zeros(good.height, dtype=bool)
    for c in value_cols:
        col = good[c]
        nan_mask |= (col.is_null() | col.is_nan()).to_numpy() if col.dtype.is_float() else col.is_null().to_numpy()
    if nan_mask.any():
        issues.append(DataIssue("nan", tuple(good["row"].to_numpy()[nan_mask].tolist()),
                                f"{int(nan_mask.sum())} missing or NaN value(s)"))

    wall = good["wall"].to_numpy().astype("datetime64[m]").astype(np.int64)
    grows = good["row"].to_numpy()
    steps = np.diff(wall)
    if resolution_min is None:
        positive = steps[steps > 0]
        resolution_min = int(np.bincount(positive).argmax()) if positive.size else None

    dst = _is_dst_change(zone_tz, good["timestamp"])
    back = np.flatnonzero(steps < 0) + 1
    if back.size:
        issues.append(DataIssue("unsorted", tuple(grows[back].tolist()),
                                "timestamp earlier than the row before"))
    ts_int = good["timestamp"].dt.epoch("us").to_numpy()
    dup_mask = pl.Series(ts_int).is_duplicated().to_numpy()
    if dup_mask.any():
        at_dst = dup_mask & dst
        if at_dst.any():
            issues.append(DataIssue("dst_artefact", tuple(grows[at_dst].tolist()),
                                    "repeated interval on a daylight-saving day: local clock times exported as UTC?"))
        plain = dup_mask & ~dst
        if plain.any():
            issues.append(DataIssue("duplicate", tuple(grows[plain].tolist()), "the same interval appears more than once"))

    if resolution_min and steps.size and not back.size:
        too_far = np.flatnonzero(steps > resolution_min)
        irregular = np.flatnonzero((steps % resolution_min != 0) & (steps > 0))
        if irregular.size:
            issues.append(DataIssue("irregular", tuple(grows[irregular + 1].tolist()),
                                    f"spacing is not a multiple of {resolution_min} min"))
        gaps = np.setdiff1d(too_far, irregular)
        if gaps.size:
            missing = int(((steps[gaps] // resolution_min) - 1).sum())
            at_dst = dst[gaps]
            rows_gap = tuple(grows[gaps + 1].tolist())
            if at_dst.all():
                issues.append(DataIssue("dst_artefact", rows_gap,
                                        "missing interval on a daylight-saving day: local clock times exported as UTC?"))
            else:
                first = good["timestamp"][int(gaps[0])]
                issues.append(DataIssue("gap", rows_gap,
                                        f"{missing} missing interval(s) in {gaps.size} gap(s), first after {first:%Y-%m-%dT%H:%MZ}"))
    return DataReport(source, frame.height, resolution_min, issues)


def fill(frame: pl.DataFrame, value_cols: list[str], resolution_min: int, policy: str) -> tuple[pl.DataFrame, int]:
    """Insert the missing intervals of a sorted, duplicate-free UTC series and fill them and NaNs."""
    if policy not in FILL_POLICIES:
        raise ConfigError(f"fill policy {policy!r} is not one of {', '.join(FILL_POLICIES)}")
    full = pl.DataFrame({"timestamp": pl.datetime_range(frame["timestamp"].min(), frame["timestamp"].max(),
                                                        f"{resolution_min}m", eager=True, time_zone="UTC")})
    out = full.join(frame, on="timestamp", how="left")
    gaps = sum(int(out[c].is_null().sum() + out[c].is_nan().sum()) for c in value_cols)
    exprs = []
    for c in value_cols:
        col = pl.col(c).fill_nan(None)
        col = {"ffill": col.forward_fill().backward_fill(), "linear": col.interpolate().forward_fill().backward_fill(),
               "zero": col.fill_null(0.0)}[policy]
        exprs.append(col.alias(c))
    return out.with_columns(exprs), gaps
