"""Benchmark of the multi-year simulation: seconds per simulated year, HiGHS's share, and parallel mode.

configs/simulations/de_lu_10mw_20mwh_15y.yaml: 10 MW / 20 MWh LFP with a 15 MWp PV park in DE-LU,
15 years (2026-2040) at 15 minutes, day-ahead re-optimisation every day at the D-1 12:00 gate with a
day of look-ahead, the battery model delivering every plan, weekly state-of-health updates. No
per-interval time series is written (its Parquet costs about 0.3 s per year on top).
Targets: the 15-year sequential run <= 30 s on one core; parallel mode on 2 cores <= 0.6x of it.

Parallel mode is timed on a running Ray (as on a cluster, `ray start` done): Ray's own start-up
(about 5 s here) and the first import of bess_ray in each worker are printed separately.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from bess_ray.simulation.run import simulate

CONFIG = Path(__file__).resolve().parents[1] / "configs/simulations/de_lu_10mw_20mwh_15y.yaml"


def main() -> None:
    r = simulate(CONFIG, timeseries=False)
    t = r.summary["timing"]
    seq = t["total_seconds"]
    print(f"sequential, 15 years: {seq:.1f} s in all (target <= 30 s): prepare {t['prepare_seconds']:.2f} s, "
          f"{t['seconds_per_year']:.2f} s per simulated year, HiGHS {100 * t['highs_share']:.0f} % of the compute "
          f"({t['solves']} solves, {t['highs_seconds']:.1f} s)")
    print(f"  result: NPV {r.summary['npv_eur']:,.0f} EUR, IRR {100 * (r.summary['irr'] or 0):.1f} %, "
          f"LCOS {r.summary['lcos_eur_mwh']:.1f} EUR/MWh, SoH after 15 years {100 * r.years[-1].soh_end:.1f} %")

    import ray

    from bess_ray.cluster.simulate import simulate as simulate_parallel

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t_init = time.perf_counter() - t0
    first = simulate_parallel(CONFIG, timeseries=False)  # workers start and import bess_ray
    p = simulate_parallel(CONFIG, timeseries=False)
    pt = p.summary["timing"]
    par = pt["total_seconds"]
    print(f"Ray start-up {t_init:.1f} s; first parallel run {first.summary['timing']['total_seconds']:.1f} s "
          f"(workers starting, {first.summary['timing']['total_seconds'] / seq:.2f}x); then warm:")
    print(f"parallel, 15 years on 2 CPUs: {par:.1f} s in all, ratio to sequential {par / seq:.2f}x (target <= 0.60x); "
          f"{pt['cpu_seconds_per_year']:.2f} CPU-s per year in the tasks")
    worst = max(abs(x["projected_start"] - x["simulated_end_of_previous"]) for x in p.summary["soh_projection"])
    print(f"  parallel NPV {p.summary['npv_eur']:,.0f} EUR (sequential {r.summary['npv_eur']:,.0f}); projected start "
          f"SoH off the simulated one by at most {100 * worst:.1f} points")
    ray.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchlog import recorded

    with recorded("simulate"):  # --write keeps the output in docs/benchmarks/simulate.txt
        main()
