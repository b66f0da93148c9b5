"""Plan versus operable speed: backtests delivered second by second through the control pipeline
(the very `Controller.step` the site actors run) against the field simulator's plant, on measured
frequency. Prints seconds per simulated day at 1 s for one battery and for the three-battery
portfolio, the share spent in the pipeline, the plant and the LP, against the issue's targets and
against the plan-only backtest of the same window (the reference run), side by side.

    python scripts/bench_replay.py [--days 7] [--year] [--write]

--year also delivers the DE-LU example battery's whole 2023 backtest (357 days; ~25 min here).
--write keeps the output in docs/benchmarks/replay.txt.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from benchlog import recorded  # noqa: E402

from bess_ray.backtesting.config import BacktestConfig, ThroughControl  # noqa: E402
from bess_ray.backtesting.run import backtest  # noqa: E402

BACKTESTS = ROOT / "configs" / "backtests"
TARGET_DAY_S, TARGET_YEAR_MIN = 2.5, 15.0


def config(site: str, start: date, days: int, through: bool) -> BacktestConfig:
    cfg = BacktestConfig.from_yaml(BACKTESTS / "de_lu_2023_fcr_afrr.yaml")
    return cfg.model_copy(update={
        "site": f"../sites/{site}.yaml", "baselines": [],
        "window": cfg.window.model_copy(update={"start": start, "end": start + timedelta(days=days)}),
        "through_control": ThroughControl() if through else None})


def measure(site: str, start: date, days: int) -> dict:
    plan = backtest(config(site, start, days, False), base_dir=BACKTESTS)
    t0 = time.perf_counter()
    r = backtest(config(site, start, days, True), base_dir=BACKTESTS)
    wall = time.perf_counter() - t0
    o, t = r.summary["operable"], r.summary["timing"]
    batteries = r.operable.delivered.shape[0]
    lp = t["main_highs_seconds"]
    return {"site": site, "days": r.summary["days"], "batteries": batteries, "wall_s": wall,
            "plan_s": plan.summary["timing"]["total_seconds"], "replay_s": t["operable_seconds"],
            "per_battery_day_s": t["operable_seconds"] / (batteries * r.summary["days"]),
            "pipeline": o["timing"]["pipeline_share"] * t["operable_seconds"],
            "plant": o["timing"]["plant_share"] * t["operable_seconds"],
            "rest": o["timing"]["rest_share"] * t["operable_seconds"], "lp": lp,
            "cycles": o["cycles"], "gap_eur": o["gap_eur"], "plan_eur": r.summary["revenue_eur"],
            "operable_eur": o["revenue_eur"], "non_delivery": o["non_delivery_intervals"]}


def show(m: dict) -> None:
    total = m["pipeline"] + m["plant"] + m["rest"] + m["lp"]
    print(f"{m['site']}: {m['days']} days, {m['batteries']} batter{'y' if m['batteries'] == 1 else 'ies'}, "
          f"{m['cycles']:,} cycles of 1 s")
    print(f"  through the control pipeline        {m['replay_s']:8.1f} s   (plan-only backtest, the reference: "
          f"{m['plan_s']:.1f} s; ratio {m['replay_s'] / m['plan_s']:.0f}x)")
    print(f"  per simulated day                   {m['replay_s'] / m['days']:8.2f} s")
    print(f"  per battery-day                     {m['per_battery_day_s']:8.2f} s   target {TARGET_DAY_S} s   "
          f"ratio {m['per_battery_day_s'] / TARGET_DAY_S:4.2f}")
    print(f"  battery-year at this rate           {m['per_battery_day_s'] * 365 / 60:8.1f} min target {TARGET_YEAR_MIN:g} min")
    print(f"  share: pipeline {m['pipeline'] / total:5.1%}  plant {m['plant'] / total:5.1%}  "
          f"harness {m['rest'] / total:5.1%}  LP {m['lp'] / total:5.1%}")
    print(f"  money: plan {m['plan_eur']:,.2f} EUR, operable {m['operable_eur']:,.2f} EUR ({m['gap_eur']:+,.2f}), "
          f"{m['non_delivery']} intervals of reserve not delivered")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--year", action="store_true")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    with recorded("replay"):
        print("plan vs operable, DE-LU day-ahead + FCR + aFRR from 2023-06-05, CE frequency of 2022-09-17 "
              "re-stamped; one core\n")
        for site in ("de_lu_1mw_2mwh", "de_lu_portfolio_3x"):
            show(measure(site, date(2023, 6, 5), a.days))
            print()
        if a.year:
            m = measure("de_lu_1mw_2mwh", date(2023, 1, 9), 357)
            show(m)
            print(f"  the year itself                     {m['replay_s'] / 60:8.1f} min for {m['days']} days")


if __name__ == "__main__":
    main()
