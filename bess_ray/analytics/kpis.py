"""Key figures of a schedule: throughput, equivalent full cycles, rainflow cycles, monthly money."""
from __future__ import annotations

import numpy as np
import polars as pl

from .rainflow import cycles as rainflow_cycles


def cycle_kpis(discharge_mw: np.ndarray, soc_frac: np.ndarray, usable_mwh: float, dt: float) -> dict:
    """Equivalent full cycles (discharged energy / usable energy) and an ASTM E1049 rainflow count
    of the SoC trace: the number of cycles and how deep they were."""
    counted = rainflow_cycles(soc_frac)
    depths, counts = counted[:, 0], counted[:, 2]
    bins = [0.0, 0.1, 0.25, 0.5, 0.8, 1.0001]
    hist = np.histogram(depths, bins=bins, weights=counts)[0] if depths.size else np.zeros(len(bins) - 1)
    return {
        "discharged_mwh": float(discharge_mw.sum() * dt),
        "equivalent_full_cycles": float(discharge_mw.sum() * dt / usable_mwh),
        "rainflow_cycles": float(counts.sum()),
        "rainflow_depth_weighted_cycles": float((depths * counts).sum()),
        "rainflow_cycles_by_depth": {f"{lo:.0%}-{min(hi, 1):.0%}": float(c) for lo, hi, c in zip(bins, bins[1:], hist)},
    }


def monthly(revenue: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Revenue by month (local time) and stream, from a frame with timestamp + one column per stream."""
    streams = [c for c in revenue.columns if c != "timestamp"]
    return (revenue.with_columns(pl.col("timestamp").dt.convert_time_zone(tz).dt.strftime("%Y-%m").alias("month"))
            .group_by("month").agg([pl.col(c).sum() for c in streams]).sort("month")
            .with_columns(pl.sum_horizontal(streams).alias("total_eur")))
