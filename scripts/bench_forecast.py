"""Benchmark of the learned forecast (`gbm`) against persistence, in D-1 backtests of the example
battery (1 MW / 2 MWh, 15 min, day-ahead only, 24 h look-ahead, oracle baseline) on real prices:
DE-LU 2023 from 9 January (gbm's first 28 days on D-1 persistence: the data start on 1 January), DE-LU 2024
(2023 as history) and SE3 2023.

Prints per zone-year and forecast: capture rate, MAE, MedAPE, rank accuracy of the hours within
each day, interval coverage (gbm: stated 90 %), and the seconds spent fitting; then gbm against
the best persistence blend. Targets: gbm >= 80 % capture on DE-LU 2023 and 2024 and better than
the best persistence blend on every zone-year; coverage within 3 points of 90 %; <= 60 s of
fitting and predicting per backtest-year with weekly refits, on one core.
"""
from __future__ import annotations

import time

import yaml

from bess_ray.backtesting.config import BacktestConfig
from bess_ray.backtesting.run import backtest

CASES = {
    "DE-LU 2023": ("DE-LU", ["sample:DE_LU_2023", "sample:DE_LU_2024"], ("2023-01-09", "2024-01-01")),
    "DE-LU 2024": ("DE-LU", ["sample:DE_LU_2023", "sample:DE_LU_2024"], ("2024-01-01", "2024-12-31")),
    "SE3 2023": ("SE3", ["sample:SE3_2023"], ("2023-01-09", "2023-12-31")),
}
FORECASTS = {
    "persistence D-1": {"type": "persistence", "lags_days": [1]},
    "persistence D-7": {"type": "persistence", "lags_days": [7]},
    "persistence D-1/D-7": {"type": "persistence", "lags_days": [1, 7], "weights": [0.5, 0.5]},
    "gbm": {"type": "gbm"},
}


def config(zone: str, prices: list[str], window: tuple[str, str], forecast: dict) -> BacktestConfig:
    from pathlib import Path

    site = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/sites/de_lu_1mw_2mwh.yaml").read_text())
    site.update(id=f"{zone.lower()}_1mw_2mwh", zone=zone)
    return BacktestConfig.model_validate({
        "schema_version": 1, "name": "bench_forecast", "site": site, "prices": {"day_ahead": prices},
        "window": {"start": window[0], "end": window[1]}, "resolution": "15min", "workflow": "da_only",
        "forecast": forecast, "lookahead_h": 24, "baselines": ["oracle"]})


def main() -> None:
    print(f"{'zone-year':<11} {'forecast':<20} {'capture':>8} {'MAE':>7} {'MedAPE':>7} {'rank':>6} {'cover':>6} "
          f"{'fit s':>6} {'run s':>6}")
    verdicts = []
    for label, (zone, prices, window) in CASES.items():
        captures = {}
        for name, forecast in FORECASTS.items():
            t = time.perf_counter()
            s = backtest(config(zone, prices, window, forecast)).summary
            seconds = time.perf_counter() - t
            q = s["forecast_quality"]["da"]
            captures[name] = s["capture_rate"]
            cover = f"{q['interval_coverage']:.1%}" if q["interval_coverage"] is not None else "-"
            fit = s["forecast_quality"].get("fit_seconds")
            print(f"{label:<11} {name:<20} {s['capture_rate']:>8.1%} {q['mae']:>7.2f} {q['medape_pct']:>6.1f}% "
                  f"{q['rank_accuracy']:>6.3f} {cover:>6} {fit if fit is None else round(fit, 1)!s:>6} "
                  f"{seconds:>6.1f}", flush=True)
        best = max((n for n in captures if n != "gbm"), key=captures.get)
        verdicts.append(f"{label}: gbm {captures['gbm']:.1%} vs best persistence ({best}) {captures[best]:.1%}: "
                        f"{captures['gbm'] / captures[best]:.3f}x")
    print("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()
