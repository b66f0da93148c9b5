"""Schedule files -> a `Plan`. `bess-ray optimize` writes one (`site_schedule.csv`): its `net_mw` is the
day-ahead layer and its `reserve_<product>_mw` columns are reserve commitments."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..markets import PRODUCTS
from .schedules import LAYERS, Plan, Series


def read_plan(path: str | Path, version: str | None = None) -> Plan:
    """A schedule file (CSV or Parquet): a `timestamp` column (UTC interval starts) and any of
    `net_mw` / `day_ahead_mw`, `intraday_mw`, `obligation_mw`, `reserve_<product>_mw`."""
    import polars as pl

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such schedule file")
    try:
        df = pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p, try_parse_dates=True)
    except Exception as e:  # polars raises many types for unreadable files
        raise DataError(f"{p}: not a readable schedule: {e}") from None
    ts = next((c for c in ("timestamp", "timestamp_utc") if c in df.columns), None)
    if ts is None:
        raise DataError(f"{p}: needs a timestamp column (timestamp or timestamp_utc); has {', '.join(df.columns)}")
    if df[ts].dtype == pl.String:
        df = df.with_columns(pl.col(ts).str.to_datetime(time_zone="UTC"))
    if not isinstance(df[ts].dtype, pl.Datetime) or df[ts].dtype.time_zone is None:
        raise DataError(f"{p}: {ts}: expected UTC timestamps with an offset, got {df[ts].dtype}")
    starts = [t.timestamp() for t in df[ts].to_list()]
    if len(starts) < 1 or any(b <= a for a, b in zip(starts, starts[1:])):
        raise DataError(f"{p}: {ts}: timestamps must be strictly increasing")
    step = starts[1] - starts[0] if len(starts) > 1 else 900.0
    end = starts[-1] + step

    def series(col: str) -> Series:
        values = df[col].cast(pl.Float64).to_list()
        bad = [i for i, v in enumerate(values) if v is not None and abs(v) > 1e5]
        if bad:
            raise DataError(f"{p}: {col}: row {bad[0] + 2}: {values[bad[0]]} MW is not a plausible site power")
        return Series(tuple(starts), tuple(values), end)

    layers = {}
    for layer in LAYERS:
        cols = [c for c in (f"{layer}_mw", "net_mw" if layer == "day_ahead" else None) if c in df.columns]
        if cols:
            layers[layer] = series(cols[0])
    reserves = {}
    for c in df.columns:
        if c.startswith("reserve_") and c.endswith("_mw"):
            product = c[len("reserve_"):-len("_mw")]
            if product not in PRODUCTS or not PRODUCTS[product].is_reserve:
                raise DataError(f"{p}: {c}: {product!r} is not a reserve product")
            reserves[product] = series(c)
    if not layers and not reserves:
        raise DataError(f"{p}: no schedule columns (net_mw, day_ahead_mw, intraday_mw, obligation_mw, reserve_*_mw)")
    return Plan(layers, reserves, version or p.name)
