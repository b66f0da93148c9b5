"""PNG plots of a backtest. Data sources are named on every figure.

`Painter` draws them in a process of its own, started when the run starts: matplotlib takes about a
second to import, which then overlaps the walk-forward on the other core."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


class Painter:
    """A process that draws figures: `paint([(name, args), ...])` calls this module's `name(*args)`
    there and returns what each returned (the PNG's path)."""

    def __init__(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the caller may hold Ray's or polars' threads, which a fork would copy half
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(_import_matplotlib)

    def paint(self, figures: list[tuple[str, tuple]]) -> list[Path]:
        return [f.result() for f in [self._pool.submit(_draw, name, args) for name, args in figures]]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _import_matplotlib() -> None:
    """Load what _figure and savefig will use, before the first figure is asked for."""
    import importlib

    for module in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        importlib.import_module(module)


def _draw(name: str, args: tuple) -> Path:
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
    fig.savefig(path, dpi=90)
    return path


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
    day = ts.astype("datetime64[D]")
    ends = np.r_[np.flatnonzero(day[1:] != day[:-1]), day.size - 1]
    for name, rev in series.items():
        ax.plot(ts[ends], np.cumsum(rev)[ends], label=name, lw=1.2)
    ax.set_ylabel("cumulative revenue, EUR")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path, source)
