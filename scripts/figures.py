"""The figures the docs quote, computed afresh: the shipped backtests, the plan-versus-operable
example, the 15-year simulation and four quick-start sweep cases, in EUR to the cent.

    python scripts/figures.py            # print them as JSON
    python scripts/figures.py --write    # update tests/data/figures.json (the docs quote it)
    python scripts/figures.py --check    # exit 1 naming every figure that differs from it

tests/e2e/test_figures.py runs `--check` with the oldest HiGHS the project allows (the newest is
what a fresh install brings, and the CLI tests hold it to the same file): the optimum is unique by
construction (optimization/blocks.py, TIE_BREAK_EUR_MWH), so every HiGHS release gives the same money.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "tests" / "data" / "figures.json"
BACKTESTS = ("de_lu_2023_da", "de_lu_2023_fcr_afrr", "dk2_2023_fcrn_fcrd", "de_lu_2024_pv")
OPERABLE = "de_lu_week_through_control"  # the README's plan-versus-operable example
SIMULATION = "de_lu_10mw_20mwh_15y"
FLOWS = ("de_lu_trading_week", "de_lu_all_flows")  # the README's and docs' flows weeks
# the quick-start cases the README shows: its first, second, ninth and tenth rows
SWEEP_CASES = (("4h", "da_fcr", 2024), ("3h", "da_fcr", 2024), ("4h", "da_persistence_d1_d7", 2024),
               ("4h", "da_persistence_d1", 2024))


def cents(value: float) -> float:
    return round(float(value), 2)


def compute() -> dict:
    from bess_ray.backtesting.run import backtest
    from bess_ray.simulation.run import simulate
    from bess_ray.sweeps.case import run_case
    from bess_ray.sweeps.spec import load_sweep

    out: dict = {}
    for name in BACKTESTS:
        s = backtest(ROOT / "configs" / "backtests" / f"{name}.yaml").summary
        out[f"backtest/{name}"] = {
            "revenue_eur": cents(s["revenue_eur"]), "oracle_revenue_eur": cents(s["oracle_revenue_eur"]),
            **{f"baseline_{k}_eur": cents(v) for k, v in s["baselines_revenue_eur"].items()},
            **{f"stream_{k}_eur": cents(v) for k, v in s["revenue_by_stream_eur"].items()}}
    s = backtest(ROOT / "configs" / "backtests" / f"{OPERABLE}.yaml").summary
    out[f"operable/{OPERABLE}"] = {"revenue_eur": cents(s["revenue_eur"]),
                                   "operable_revenue_eur": cents(s["operable"]["revenue_eur"]),
                                   "non_delivery_intervals": s["operable"]["non_delivery_intervals"]}
    sim = simulate(ROOT / "configs" / "simulations" / f"{SIMULATION}.yaml", timeseries=False)
    out[f"simulation/{SIMULATION}"] = {"npv_eur": cents(sim.summary["npv_eur"]),
                                       **{f"revenue_{y.year}_eur": cents(y.revenue_eur) for y in sim.years}}
    for name in FLOWS:
        out[f"flows/{name}"] = flows_week(name)
    sweep = load_sweep(ROOT / "configs" / "sweeps" / "quickstart.yaml")
    for sizing, strategy, year in SWEEP_CASES:
        case = next(c for c in sweep.cases
                    if (c.params["sizing"], c.params["strategy"], c.params["year"]) == (sizing, strategy, year))
        outcome = run_case(case, sweep.base_dir)
        if not outcome.ok:
            raise RuntimeError(f"quick-start case {case.case_id}: {outcome.error}")
        out[f"sweep/quickstart/{sizing}/{strategy}/{year}"] = {"case_id": case.case_id,
                                                              "revenue_eur": cents(outcome.row["revenue_eur"])}
    return out


def flows_week(name: str) -> dict:
    """A flows file's week 2023-06-05..12 on a simulated clock, inline, on a store of its own."""
    import tempfile
    from datetime import date

    from bess_ray.flows import Orchestrator, load_flows

    with tempfile.TemporaryDirectory() as folder:
        s = Orchestrator(load_flows(ROOT / "configs" / "flows" / f"{name}.yaml"), date(2023, 6, 5), date(2023, 6, 12),
                         store=f"sqlite:///{folder}/figures.sqlite", clock="simulated", executor="inline").run()
        from bess_ray.store import close_all

        close_all()
    return {f"{site}/revenue_eur": m["revenue_eur"] for site, m in sorted(s["settlement"].items())} | \
        {f"{site}/stream_{k}_eur": v for site, m in sorted(s["settlement"].items()) for k, v in m["streams_eur"].items()}


def differences(got: dict, want: dict) -> list[str]:
    lines = []
    for key in sorted(set(got) | set(want)):
        g, w = got.get(key, {}), want.get(key, {})
        for field in sorted(set(g) | set(w)):
            if g.get(field) != w.get(field):
                lines.append(f"{key} {field}: {g.get(field)} (expected {w.get(field)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {FIGURES.relative_to(ROOT)}")
    ap.add_argument("--check", action="store_true", help=f"compare with {FIGURES.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    import highspy

    got = compute()
    if args.write:
        FIGURES.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    if args.check:
        diff = differences(got, json.loads(FIGURES.read_text()))
        print(f"HiGHS {highspy.Highs().version()}: " + ("every figure as in the docs" if not diff else
                                                        f"{len(diff)} figure(s) differ:\n  " + "\n  ".join(diff)))
        return 1 if diff else 0
    print(json.dumps(got, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
