"""Sweep throughput on this machine: cases per minute with 1 and 2 CPUs, the scaling ratio, Ray's
share of the wall time, peak memory per worker, and a 200-case sweep.

Every case is a year-long day-ahead walk-forward backtest on real DE-LU prices (decisions at the
day-ahead gate with a persistence forecast, plus its perfect-foresight oracle for the capture rate).

Ray's share = (wall time of the task loop x CPUs - the cases' own compute) / the cases' own compute:
scheduling, moving inputs and results, the driver writing each case's Parquet files, and worker
idle time. It is measured warm (workers already started by an earlier sweep) and, for reference,
cold (the first sweep after `ray.init`, when each worker also imports bess-ray).

    python scripts/bench_sweep.py              # 1 CPU, 2 CPUs, then 200 cases on 2 CPUs
    python scripts/bench_sweep.py --cases 40   # a shorter last sweep
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from bess_ray.cluster.sweep import run_sweep  # noqa: E402

DURATIONS = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6]
FORECASTS = {
    "d1": {"type": "persistence", "lags_days": [1]},
    "d7": {"type": "persistence", "lags_days": [7]},
    "d1_d7": {"type": "persistence", "lags_days": [1, 7], "weights": [0.5, 0.5]},
    "d1_d2": {"type": "persistence", "lags_days": [1, 2], "weights": [0.7, 0.3]},
    "d1_d7_70": {"type": "persistence", "lags_days": [1, 7], "weights": [0.7, 0.3]},
}


def spec(folder: Path, name: str, n: int) -> Path:
    """A spec of `n` year-long DA walk-forward cases: 20 sizings (10 durations x 2 round-trip
    efficiencies) x 5 forecasts x 2 years = 200, as an explicit list cut to `n`."""
    sizings = {f"{d}h_rte{int(100 * e)}": {"power_mw": 1.0, "duration_h": d, "round_trip_efficiency": e}
               for e in (0.9, 0.85) for d in DURATIONS}
    cases = [{"sizing": s, "strategy": f, "year": y} for y in (2023, 2024) for f in FORECASTS for s in sizings][:n]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "schema_version": 1, "name": name, "kind": "backtest",
        "base": str(ROOT / "configs" / "backtests" / "de_lu_2023_da.yaml"),
        "sizings": sizings, "strategies": {k: {"forecast": v} for k, v in FORECASTS.items()},
        "variants": {"oracle": {"baselines": ["oracle"]}}, "years": [2023, 2024], "cases": cases}, sort_keys=False))
    return path


def measure(folder: Path, name: str, n: int, cpus: int, warm: bool = True) -> dict:
    out = folder / f"out_{name}"
    if warm:  # start the workers (and their imports) with a throw-away sweep of `cpus` cases
        run_sweep(spec(folder, f"{name}_warmup", cpus), folder / f"out_{name}_warmup", progress=False)
    r = run_sweep(spec(folder, name, n), out, progress=False)
    busy = r.run_seconds * cpus
    share = (busy - r.compute_seconds) / r.compute_seconds
    return {"cases": r.done, "failed": r.failed, "cpus": cpus, "run_s": r.run_seconds, "prepare_s": r.prepare_seconds,
            "compute_s": r.compute_seconds, "per_case_s": r.compute_seconds / max(r.done, 1),
            "cases_per_min": 60.0 * r.done / r.run_seconds, "ray_share": share, "write_s": r.write_seconds,
            "peak_rss_mb": r.worker_peak_rss_mb}


def show(label: str, m: dict) -> None:
    print(f"{label}: {m['cases']} cases ({m['failed']} failed) in {m['run_s']:.1f} s on {m['cpus']} CPU(s) = "
          f"{m['cases_per_min']:.1f} cases/min; {m['per_case_s']:.2f} s compute per case; "
          f"Ray's share {100 * m['ray_share']:.1f} % of the compute (driver writes {m['write_s']:.2f} s); "
          f"worker peak RSS {m['peak_rss_mb']:.0f} MB; data read once in {m['prepare_s']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200, help="cases of the last sweep (default 200)")
    ap.add_argument("--small", type=int, default=12, help="cases of the 1- and 2-CPU sweeps")
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        figures = {}
        for cpus in (1, 2):
            t = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, namespace="bess")
            init = time.perf_counter() - t
            cold = measure(folder, f"cold{cpus}", a.small, cpus, warm=False)
            figures[cpus] = measure(folder, f"warm{cpus}", a.small, cpus)
            show(f"{cpus} CPU, cold (first sweep after ray.init {init:.1f} s)", cold)
            show(f"{cpus} CPU, warm", figures[cpus])
            if cpus == 2:
                big = measure(folder, f"big{a.cases}", a.cases, cpus, warm=False)
            ray.shutdown()
        ratio = figures[2]["cases_per_min"] / figures[1]["cases_per_min"]
        print(f"scaling 1 -> 2 CPUs: {ratio:.2f}x ({figures[1]['cases_per_min']:.1f} -> "
              f"{figures[2]['cases_per_min']:.1f} cases/min)")
        print(f"Ray's share of a year-long DA walk-forward case (warm): {100 * figures[1]['ray_share']:.1f} % on 1 CPU, "
              f"{100 * figures[2]['ray_share']:.1f} % on 2 CPUs (target <= 5 %)")
        show(f"{a.cases}-case sweep", big)
        print(f"  {a.cases} cases end to end in {big['run_s'] + big['prepare_s']:.0f} s "
              f"({big['cases_per_min']:.0f} cases/min)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
