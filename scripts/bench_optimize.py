"""Benchmark of the optimiser on one battery over a year at 15 minutes (real DE-LU 2023 prices).

Prints, for the kernels da_only and da_plus_fcr_afrr, by the direct path (the whole year as one
LP, and by weeks joined into that LP, the default) and by the Pyomo bridge: build seconds, HiGHS
solve seconds, the share of the call that is not HiGHS's own solve, and the peak memory of the
process against a process that holds only the same LP in HiGHS. Then the wall time of a cold
`bess-ray optimize` against a bare scipy/HiGHS script building the same LP, and the three-battery
portfolio year with FCR + aFRR, both ways.

Each measurement runs in its own process, so peak memory (VmHWM) is that case's alone.
Usage: python scripts/bench_optimize.py [--skip-pyomo] [--skip-portfolio]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "configs/sites/de_lu_1mw_2mwh.yaml"
PORTFOLIO = ROOT / "configs/sites/de_lu_portfolio_3x.yaml"
RESERVES = ["sample:FCR_2021@2023", "sample:DE_AFRR_UP_2015_2017@2023", "sample:DE_AFRR_DOWN_2015_2017@2023"]


def peak_mb() -> float:
    """Peak resident memory of this process. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across
    exec, so a child would inherit its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def one_case(kernel: str, backend: str, site: Path, resolution: str, how: str = "weeks", threads: int = 1) -> dict:
    """Runs inside a child process: prices are read first, then the timed optimize() call.
    `how`: 'weeks' (the default path) or 'one-lp'."""
    from bess_ray import Site, optimize
    from bess_ray.data import load_market_prices

    s = Site.from_yaml(site).with_products(kernel)
    market = load_market_prices(s.zone, s.markets.products, "sample:DE_LU_2023", RESERVES, resolution=resolution)
    before = peak_mb()
    runs, peak = [], None
    for _ in range(3 if backend == "highs" else 1):  # timing: median of 3; memory: the first call
        t0 = time.perf_counter()
        r = optimize(s, market=market, backend=backend, one_lp=how == "one-lp", threads=threads)
        runs.append((time.perf_counter() - t0, r.summary["build_seconds"], r.summary["solve_seconds"]))
        peak = peak or peak_mb()
    wall, build, solve = sorted(runs, key=lambda x: x[2])[len(runs) // 2]
    return {"wall": wall, "build": build, "solve": solve,
            "revenue": r.revenue_eur, "objective": r.summary["objective_eur"], "peak_mb": peak, "peak_before_mb": before,
            "rows": r.summary["num_constraints"], "cols": r.summary["num_variables"]}


def highs_alone(kernel: str) -> dict:
    """Runs inside a child process: the same LP as arrays on disk, handed to HiGHS, nothing else."""
    import numpy as np

    data = np.load(f"/tmp/bess_bench_{kernel}.npz")
    import highspy

    base = peak_mb()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    a = (data["indptr"], data["indices"], data["data"])
    n_col, n_row = data["cost"].size, data["row_lo"].size
    h.passModel(n_col, n_row, a[2].size, 1, 1, 0.0, data["cost"], data["col_lo"], data["col_hi"], data["row_lo"],
                data["row_hi"], a[0], a[1], a[2], np.zeros(n_col, dtype=np.int32))
    del data, a
    solves, peak = [], None
    for _ in range(3):  # timing: median of 3; memory: the first solve
        h.clearSolver()
        t0 = time.perf_counter()
        h.run()
        solves.append(time.perf_counter() - t0)
        peak = peak or peak_mb()
    return {"solve": statistics.median(solves), "peak_mb": peak, "base_mb": base}


def dump_lp(kernel: str) -> None:
    import numpy as np

    from bess_ray import Site
    from bess_ray.data import load_market_prices
    from bess_ray.optimization import build

    s = Site.from_yaml(SITE).with_products(kernel)
    m = load_market_prices(s.zone, s.markets.products, "sample:DE_LU_2023", RESERVES)
    lp = build(s, m).lp.assemble()
    np.savez(f"/tmp/bess_bench_{kernel}.npz", cost=lp.cost, col_lo=lp.col_lo, col_hi=lp.col_hi, row_lo=lp.row_lo,
             row_hi=lp.row_hi, indptr=lp.a.indptr.astype(np.int32), indices=lp.a.indices.astype(np.int32),
             data=lp.a.data)


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--skip-pyomo", action="store_true")
    ap.add_argument("--skip-portfolio", action="store_true")
    a = ap.parse_args()
    if a.child:
        kind, *rest = a.child
        if kind == "case":
            print(json.dumps(one_case(rest[0], rest[1], Path(rest[2]), rest[3], rest[4], int(rest[5]))))
        elif kind == "alone":
            print(json.dumps(highs_alone(rest[0])))
        return

    print("one battery (1 MW / 2 MWh), DE-LU 2023, 35,040 x 15 min, HiGHS threads=1\n")
    print("peak MB: the whole process; HiGHS-only: a process holding just numpy, highspy and the same LP.")
    print("call MB: what the optimise call adds to its process, against what HiGHS adds to its own.\n")
    print(f"{'kernel':<18}{'path':<8}{'build s':>9}{'solve s':>9}{'non-solve/solve':>17}{'peak MB':>9}"
          f"{'HiGHS-only MB':>15}{'ratio':>7}{'call MB':>9}{'HiGHS MB':>10}{'ratio':>7}{'revenue EUR':>14}")
    for kernel in ("da_only", "da_plus_fcr_afrr"):
        dump_lp(kernel)
        alone = child("alone", kernel)
        for backend, how in [("highs", "one-lp"), ("highs", "weeks")] + ([] if a.skip_pyomo else [("pyomo", "one-lp")]):
            r = child("case", kernel, backend, str(SITE), "15min", how, "1")
            path = {"one-lp": "one LP", "weeks": "weeks"}[how] if backend == "highs" else "Pyomo"
            overhead = (r["wall"] - r["solve"]) / r["solve"]
            ratio = r["peak_mb"] / alone["peak_mb"]
            call, held = r["peak_mb"] - r["peak_before_mb"], alone["peak_mb"] - alone["base_mb"]
            print(f"{kernel:<18}{path:<8}{r['build']:>9.3f}{r['solve']:>9.3f}{overhead:>16.1%}{r['peak_mb']:>9.0f}"
                  f"{alone['peak_mb']:>15.0f}{ratio:>7.2f}{call:>9.0f}{held:>10.0f}{call / held:>7.2f}{r['revenue']:>14,.2f}")
        print(f"{kernel:<18}{'alone':<8}{'':>9}{alone['solve']:>9.3f}")

    cli = [sys.executable, "-m", "bess_ray.cli", "optimize", "--site", str(SITE), "--prices", "sample:DE_LU_2023",
           "--out", "/tmp/bess_bench_out"]
    bare = [sys.executable, str(ROOT / "scripts/bare_highs_lp.py")]
    t_cli, t_bare = wall(cli), wall(bare)
    print(f"\ncold `bess-ray optimize` (example site, year, 15 min): {t_cli:.2f} s wall; bare scipy/HiGHS script: "
          f"{t_bare:.2f} s; ratio {t_cli / t_bare:.2f} (target <= 1.5)")

    if not a.skip_portfolio:
        print("\nthree-battery portfolio, DA + FCR + aFRR, year (target: under a minute)")
        for res in ("15min", "60min"):
            one = child("case", "da_plus_fcr_afrr", "highs", str(PORTFOLIO), res, "one-lp", "1")
            print(f"  {res}, one LP:           total {one['wall']:5.1f} s (build {one['build']:.2f} s, HiGHS "
                  f"{one['solve']:.1f} s), {one['rows']:,} rows x {one['cols']:,} columns, "
                  f"objective {one['objective']:,.4f} EUR")
            for threads in ("1", "2"):
                r = child("case", "da_plus_fcr_afrr", "highs", str(PORTFOLIO), res, "weeks", threads)
                print(f"  {res}, by weeks, {threads} thread{'s' if threads != '1' else ' '}: total {r['wall']:5.1f} s "
                      f"({one['wall'] / r['wall']:.1f}x faster), objective {r['objective']:,.4f} EUR "
                      f"(differs by {abs(r['objective'] - one['objective']):.1e} EUR)")


if __name__ == "__main__":
    main()
