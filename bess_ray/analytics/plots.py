"""PNG plots of a backtest. Data sources are named on every figure.

A backtest draws them in its sidecar process (bess_ray/sidecar.py) by name: `draw(name, args)`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


def import_matplotlib() -> None:
    """Load what _figure and savefig will use (in the process that will draw)."""
    import importlib

    for module in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        importlib.import_module(module)


def draw(name: str, args: tuple) -> Path:
    """Draw one figure: this module's `name(*args)`, which returns the PNG's path."""
    return globals()[name](*args)


def _figure(rows: int = 1, figsize=(11, 4.5), **kw):
    """A figure and its axes, drawn by Agg without pyplot: no GUI backend, no global figure
    registry, and 0.5 s less to import."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, 1, **kw)


def _save(fig, path: Path, source: str) -> Path:
    """Name the data source on the figure and write the PNG."""
    fig.text(0.01, 0.01, f"prices: {source}", fontsize=7, color="gray")
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def _day_ends(ts: np.ndarray) -> np.ndarray:
    """The index of each UTC day's last interval."""
    day = ts.astype("datetime64[D]")
    return np.r_[np.flatnonzero(day[1:] != day[:-1]), day.size - 1]


def week_dispatch(path: Path, ts: np.ndarray, price: np.ndarray, net: np.ndarray, soc_frac: np.ndarray,
                  title: str, source: str) -> Path:
    fig, (ax1, ax2) = _figure(2, figsize=(11, 6), sharex=True)
    ax1.plot(ts, price, color="tab:gray", lw=1)
    ax1.set_ylabel("day-ahead price, EUR/MWh")
    ax1b = ax1.twinx()
    ax1b.step(ts, net, where="post", color="tab:blue", lw=1)
    ax1b.set_ylabel("site net power, MW (+ discharge)")
    ax2.plot(ts, soc_frac * 100, color="tab:green", lw=1)
    ax2.set_ylabel("SoC, %")
    ax2.set_ylim(-2, 102)
    fig.suptitle(title)
    return _save(fig, path, source)


def monthly_stacked(path: Path, table: pl.DataFrame, streams: list[str], title: str, source: str) -> Path:
    fig, ax = _figure()
    months = table["month"].to_list()
    pos = np.zeros(len(months))
    neg = np.zeros(len(months))
    for s in streams:
        v = table[s].to_numpy()
        base = np.where(v >= 0, pos, neg)
        ax.bar(months, v, bottom=base, label=s)
        pos += np.where(v >= 0, v, 0)
        neg += np.where(v < 0, v, 0)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("EUR")
    ax.legend(ncol=len(streams), fontsize=8)
    ax.set_title(title)
    return _save(fig, path, source)


def cumulative(path: Path, ts: np.ndarray, series: dict[str, np.ndarray], title: str, source: str) -> Path:
    """Cumulative revenue per series, drawn at the end of each UTC day (a year is 365 points, not
    35,040: the same line at a width of 11 inches)."""
    fig, ax = _figure()
    ends = _day_ends(ts)
    for name, rev in series.items():
        ax.plot(ts[ends], np.cumsum(rev)[ends], label=name, lw=1.2)
    ax.set_ylabel("cumulative revenue, EUR")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path, source)


def plan_vs_operable(path: Path, ts: np.ndarray, soc_plan: np.ndarray, soc_delivered: np.ndarray,
                     plan_rev: np.ndarray, operable_rev: np.ndarray, title: str, source: str) -> Path:
    """The stored energy the plan expected against what the control pipeline delivered, and the
    cumulative money of both (drawn at the end of each UTC day)."""
    fig, (ax1, ax2) = _figure(2, figsize=(11, 6), sharex=True)
    ends = _day_ends(ts)
    ax1.plot(ts, soc_plan, color="tab:gray", lw=1, label="plan")
    ax1.plot(ts, soc_delivered, color="tab:green", lw=1, label="delivered")
    ax1.set_ylabel("stored energy, MWh")
    ax1.legend(fontsize=8)
    ax2.plot(ts[ends], np.cumsum(plan_rev)[ends], color="tab:gray", lw=1.2, label="plan")
    ax2.plot(ts[ends], np.cumsum(operable_rev)[ends], color="tab:blue", lw=1.2, label="operable")
    ax2.set_ylabel("cumulative revenue, EUR")
    ax2.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path, source)
