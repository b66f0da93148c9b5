"""Measured grid frequency for plan-versus-operable runs: bundled samples or a user's series,
checked, with its gaps filled by a stated rule, and laid over a backtest's seconds.

Sources (`--frequency SOURCE`):

- `auto`: the bundled sample of the zone's synchronous area (Continental Europe or Nordic);
- `sample:CE_2022-09-17` (one day of German measurements at 1 s) or `sample:NORDIC_2015-01-01_07`
  (a week of the Nordic area: a 10 s signal on a 1 s grid, with real gaps and a real disturbance);
- `nominal`: a constant nominal frequency (no activation: the plan as planned);
- a file (`.parquet` or `.csv`) with a UTC time column (`timestamp_utc` or `timestamp`, ISO-8601 with
  its offset) and `frequency_hz` in absolute Hz, on a whole-second grid; coarser values are held
  until the next one (a 10 s signal is a 1 s series of steps).

Rules (documented in docs/backtests.md):

- **Missing seconds** (nulls, or seconds absent from the grid) are filled by linear interpolation
  between the measured neighbours (held at either end) and counted. A value outside nominal +-5 Hz is
  not a measurement: the source is refused, naming the first such row.
- **Re-stamping**: a sample is shorter than a backtest, so it is repeated. Second `s` of the backtest
  (UTC) reads the sample at `(s - sample_start) mod length`: a sample of whole days keeps its UTC
  time of day (the deterministic deviations at hour changes stay at hour changes).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import DataError
from .samples import SAMPLES_DIR

FREQUENCY_SAMPLES = {
    "CE_2022-09-17": "frequency/DE_frequency_2022-09-17_1s.parquet",
    "NORDIC_2015-01-01_07": "frequency/NORDIC_frequency_2015-01-01_07_1s.parquet",
}
AREA_SAMPLES = {"CE": "CE_2022-09-17", "NORDIC": "NORDIC_2015-01-01_07"}


@dataclass(frozen=True)
class Frequency:
    """A frequency series on a 1 s grid: `hz[k]` is the value at `start + k` seconds (UTC epoch)."""

    source: str
    start: int
    hz: np.ndarray
    filled: np.ndarray | None = None  # True where a missing second was filled

    def over(self, first: int, seconds: int) -> tuple[np.ndarray, int]:
        """The values for `seconds` seconds from UTC epoch second `first`, by the re-stamping rule,
        and how many of them were filled."""
        idx = (first - self.start + np.arange(seconds, dtype=np.int64)) % self.hz.size
        return self.hz[idx], int(self.filled[idx].sum()) if self.filled is not None else 0


def area(zone) -> str:
    """The synchronous area of a zone: Nordic where FCR-N is traded, else Continental Europe."""
    return "NORDIC" if "fcr_n" in zone.products else "CE"


def load_frequency(source: str, zone=None, nominal_hz: float = 50.0, base_dir: Path | None = None) -> Frequency:
    """A frequency series from `source` (see the module's doc); `zone` picks the sample of `auto`."""
    if source == "nominal":
        return Frequency("nominal", 0, np.full(86400, nominal_hz))
    if source == "auto":
        if zone is None:
            raise DataError("frequency: auto needs the site's zone")
        source = f"sample:{AREA_SAMPLES[area(zone)]}"
    if source.startswith("sample:"):
        name = source[len("sample:"):]
        if name not in FREQUENCY_SAMPLES:
            raise DataError(f"frequency: unknown sample {name!r}; bundled: {', '.join(FREQUENCY_SAMPLES)}")
        path = SAMPLES_DIR / FREQUENCY_SAMPLES[name]
    else:
        path = Path(source)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.exists():
            raise DataError(f"frequency: {source}: no such file (a path, sample:NAME, auto or nominal)")
    return _read(path, source, nominal_hz)


def _read(path: Path, source: str, nominal_hz: float) -> Frequency:
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=False)
    except Exception as e:  # noqa: BLE001 - any reader error is a bad file
        raise DataError(f"frequency: {source}: cannot read it ({e})") from None
    time_col = next((c for c in ("timestamp_utc", "timestamp") if c in frame.columns), None)
    if time_col is None or "frequency_hz" not in frame.columns:
        raise DataError(f"frequency: {source}: needs a timestamp_utc (or timestamp) and a frequency_hz column, "
                        f"has {', '.join(frame.columns)}")
    ts = frame[time_col]
    if ts.dtype == pl.String:
        try:
            ts = ts.str.to_datetime(time_zone="UTC", time_unit="us")
        except Exception:  # noqa: BLE001
            raise DataError(f"frequency: {source}: {time_col} is not ISO-8601 with a UTC offset") from None
    if not isinstance(ts.dtype, pl.Datetime):
        raise DataError(f"frequency: {source}: {time_col} is not a time column ({ts.dtype})")
    if ts.dtype.time_zone is None:
        raise DataError(f"frequency: {source}: {time_col} has no time zone (give UTC times)")
    if ts.null_count():
        raise DataError(f"frequency: {source}: {time_col} has {ts.null_count()} empty value(s)")
    micros = ts.dt.convert_time_zone("UTC").dt.epoch("us").to_numpy()
    if micros.size < 2:
        raise DataError(f"frequency: {source}: needs at least two values")
    if np.any(micros % 1_000_000):
        k = int(np.flatnonzero(micros % 1_000_000)[0])
        raise DataError(f"frequency: {source}: row {k}: {ts[k]} is not on a whole second")
    seconds = micros // 1_000_000
    if np.any(np.diff(seconds) <= 0):
        k = int(np.flatnonzero(np.diff(seconds) <= 0)[0]) + 1
        raise DataError(f"frequency: {source}: row {k}: {ts[k]} is not after the row before")
    values = frame["frequency_hz"].cast(pl.Float64, strict=False).to_numpy().astype(float)
    bad = np.isfinite(values) & (np.abs(values - nominal_hz) > 5.0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(f"frequency: {source}: row {k} ({ts[k]}): {values[k]} Hz is not a grid frequency "
                        f"(absolute Hz within {nominal_hz:g} +- 5 are expected)")
    start, n = int(seconds[0]), int(seconds[-1] - seconds[0]) + 1
    step = int(np.median(np.diff(seconds)))
    grid = np.full(n, np.nan)
    grid[seconds - start] = values
    if step > 1:  # a coarser signal: each value holds until the next one, up to its own step
        for k in range(1, step):
            hold = np.isnan(grid) & np.roll(~np.isnan(grid), k)
            hold[:k] = False
            grid[hold] = np.roll(grid, k)[hold]
    missing = np.isnan(grid)
    if missing.all():
        raise DataError(f"frequency: {source}: no values")
    if missing.any():
        known = np.flatnonzero(~missing)
        grid[missing] = np.interp(np.flatnonzero(missing), known, grid[known])
    return Frequency(source, start, grid, missing)
