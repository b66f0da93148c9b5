"""Benchmark of the walk-forward engine: seconds per scenario-year and HiGHS's share of them.

365 delivery days (2023-01-09 .. 2024-01-08 inclusive) of the DE-LU example battery at 15 minutes, real
DE-LU day-ahead prices 2023-2024, 24 h look-ahead, D-1/D-7 persistence, on one core:
  - da_only: one gate per day (day-ahead, D-1 12:00)
  - da_plus_fcr_afrr: three gates per day (FCR 08:00, aFRR 09:00, day-ahead 12:00)
  - da_only with schedule_revision every 4 hours (seven solves per day)
Targets: <= 2 s per scenario-year for da_only and <= 6 s with FCR + aFRR.

Then the whole command side by side with a bare script: `bess-ray backtest
configs/backtests/de_lu_2023_da.yaml` (process start, imports, data, the walk-forward, the oracle and
naive baselines, the artifacts and the report's plots) against `scripts/bare_highs_lp.py` (the same
year's LP built with numpy + scipy.sparse and solved once by HiGHS), five runs each, alternating.
Target: <= 2x. `--whole-only` skips the walk-forward table; `--write` keeps the output in
docs/benchmarks/backtest.txt for the performance page.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bess_ray.config import Site
from bess_ray.data import load_market_prices
from bess_ray.dispatch.engine import WalkForward
from bess_ray.forecast import make_forecaster

ROOT = Path(__file__).resolve().parents[1]
RESERVES = [f"sample:{s}@{y}" for s in ("FCR_2021", "DE_AFRR_UP_2015_2017", "DE_AFRR_DOWN_2015_2017") for y in (2023, 2024)]


def whole_command(runs: int = 11) -> None:
    """The CLI's D-1 backtest against the bare HiGHS script, each a fresh process, run in turns; the
    ratio is the median of each turn's own ratio (this machine kind drifts by tens of percent within
    minutes, and a pair run back to back shares its state)."""
    def seconds(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as out:
        backtest = [sys.executable, "-m", "bess_ray.cli", "backtest", "configs/backtests/de_lu_2023_da.yaml", "--out", out]
        bare = [sys.executable, "scripts/bare_highs_lp.py"]
        seconds(backtest), seconds(bare)  # warm the file cache (and matplotlib's font cache) first
        times = {"backtest": [], "bare": []}
        for _ in range(runs):
            times["backtest"].append(seconds(backtest))
            times["bare"].append(seconds(bare))
    b, r = statistics.median(times["backtest"]), statistics.median(times["bare"])
    print(f"\nwhole process, median of {runs} (min-max):")
    print(f"  bess-ray backtest configs/backtests/de_lu_2023_da.yaml  {b:5.2f} s ({min(times['backtest']):.2f}-"
          f"{max(times['backtest']):.2f})")
    print(f"  python scripts/bare_highs_lp.py (the year as one LP)    {r:5.2f} s ({min(times['bare']):.2f}-"
          f"{max(times['bare']):.2f})")
    pairs = sorted(x / y for x, y in zip(times["backtest"], times["bare"]))
    print(f"  ratio {statistics.median(pairs):.2f}x, median of the {runs} turns' ratios ({pairs[0]:.2f}-{pairs[-1]:.2f}; "
          f"ratio of the medians {b / r:.2f}x) (target <= 2x)")


def main() -> None:
    if "--whole-only" in sys.argv:
        return whole_command()
    site = Site.from_yaml(ROOT / "configs/sites/de_lu_1mw_2mwh.yaml")
    market = load_market_prices("DE-LU", ("da", "fcr", "afrr_up", "afrr_down"),
                                ["sample:DE_LU_2023", "sample:DE_LU_2024"], RESERVES,
                                start="2022-12-31T23:00Z", end="2024-01-10T23:00Z")
    ts = market.grid.timestamps
    window = (int(np.searchsorted(ts, np.datetime64("2023-01-08T23:00"))),
              int(np.searchsorted(ts, np.datetime64("2024-01-08T23:00"))))
    forecast = {"type": "persistence", "lags_days": [1, 7], "weights": [0.5, 0.5]}
    print("walk-forward, 365 days x 96 intervals, DE-LU, 24 h look-ahead, HiGHS threads=1, median of 3\n")
    print(f"{'workflow':<34}{'s / scenario-year':>18}{'HiGHS s':>9}{'HiGHS share':>13}{'solves':>8}"
          f"{'model passes':>14}{'target':>8}")
    for label, products, checkpoints, target in (
        ("da_only", ("da",), None, 2.0),
        ("da_plus_fcr_afrr", ("da", "fcr", "afrr_up", "afrr_down"), None, 6.0),
        ("da_only + schedule_revision (4 h)", ("da",), [0, 4, 8, 12, 16, 20], None),
    ):
        runs = []
        for _ in range(3):
            wf = WalkForward(site.with_products(products), market, window, products, make_forecaster(forecast), 24.0,
                             checkpoints, market.prices["da"], 2.0)
            t0 = time.perf_counter()
            trace = wf.run()
            runs.append((time.perf_counter() - t0, trace))
        wall, trace = sorted(runs, key=lambda r: r[0])[1]
        assert trace.days_done == 365, trace.days_done
        print(f"{label:<34}{wall:>18.2f}{trace.solve_seconds:>9.2f}{trace.solve_seconds / wall:>12.0%}{trace.solves:>8}"
              f"{trace.rebuilds:>14}{'<= ' + str(target) if target else '':>8}")
    whole_command()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchlog import recorded

    with recorded("backtest"):  # --write keeps the output in docs/benchmarks/backtest.txt
        main()
