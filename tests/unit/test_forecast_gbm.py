"""The learned forecast: no look-ahead (prices after the cut replaced by garbage change nothing),
the same forecasts to the last digit for the same inputs and seed, conformal intervals, and the
forecast quality a backtest reports."""
import numpy as np
import pytest

from bess_ray.backtesting.forecast_quality import forecast_quality
from bess_ray.data import load_market_prices
from bess_ray.forecast import ForecastError, VisibleHistory, make_forecaster
from bess_ray.forecast.gbm import _conformal_quantile

from tests.unit.test_backtest import engine

DAY = 96


@pytest.fixture(scope="module")
def winter():
    return load_market_prices("DE-LU", ("da",), "sample:DE_LU_2023", start="2023-01-01T00:00Z",
                              end="2023-03-31T22:00Z")


def gbm(**options):
    f = make_forecaster({"type": "gbm", "trees": 60, **options})
    f.steps_per_day, f.timezone, f.country = DAY, "Europe/Berlin", "DE"
    return f


def forecasts(market, prices, cuts, **options):
    f = gbm(**options)
    out = []
    for known in cuts:
        view = VisibleHistory(market.grid.timestamps[known] - np.timedelta64(12, "h"), market.grid.timestamps,
                              {"da": prices}, {"da": known})
        out.append((f.forecast(view, np.arange(known, known + 2 * DAY), ("da",))["da"], dict(f.last_halfwidth)))
    return out


def test_garbage_after_each_cut_changes_nothing_and_reruns_are_identical(winter):
    prices = winter.prices["da"]
    cuts = [60 * DAY + d * DAY for d in range(0, 10, 3)]  # refits on day 60 and day 67 (weekly)
    clean = forecasts(winter, prices, cuts)
    for k, (clean_f, clean_w) in zip(cuts, clean):
        poisoned = prices.copy()
        poisoned[k:] = np.where(np.arange(poisoned.size - k) % 2, 1e5, -1e5)
        # a fresh forecaster walked over the same cuts with this decision's future poisoned
        dirty = forecasts(winter, poisoned, [c for c in cuts if c <= k])[-1]
        assert np.array_equal(dirty[0], clean_f) and dirty[1]["da"].tolist() == clean_w["da"].tolist()
    again = forecasts(winter, prices, cuts)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(again, clean))  # to the last digit
    other_seed = forecasts(winter, prices, cuts[:1], seed=7)
    assert other_seed[0][0].shape == clean[0][0].shape


def test_too_little_history_falls_back_to_persistence(winter):
    prices = winter.prices["da"]
    (f, widths), = forecasts(winter, prices, [10 * DAY])  # D-1 / D-7 blend
    assert np.allclose(f[:DAY], 0.5 * (prices[9 * DAY:10 * DAY] + prices[3 * DAY:4 * DAY])) and widths == {}
    (f, widths), = forecasts(winter, prices, [5 * DAY])  # no D-7 yet: D-1
    assert np.array_equal(f[:DAY], prices[4 * DAY:5 * DAY]) and widths == {}


def test_a_walk_forward_refits_weekly_and_reports_its_quality(winter):
    """Four weeks of decisions at the real gates (whether gbm beats persistence over a year is
    scripts/bench_forecast.py's question, not a test's)."""
    quality = {}
    for name, spec in {"gbm": {"type": "gbm", "trees": 60}, "d1": {"type": "persistence"}}.items():
        wf = engine(spec, winter, days=("2023-02-20", "2023-03-20"))
        wf.run()
        quality[name] = forecast_quality(wf.forecast_log, winter.prices, wf.day_start, winter.grid.timestamps,
                                         wf.window, 4)["da"]
        if name == "gbm":
            assert wf.forecaster.fits == 4  # days 0, 7, 14 and 21 of the window
    assert quality["gbm"]["days"] == quality["d1"]["days"] == 28
    assert 0 < quality["gbm"]["rank_accuracy"] < 1 and quality["gbm"]["mae"] > 0
    assert 0.6 <= quality["gbm"]["interval_coverage"] <= 1.0 and quality["d1"]["interval_coverage"] is None


def test_conformal_quantile_and_option_errors():
    r = np.arange(1.0, 11.0)  # 10 residuals, 90 %: the ceil(11 x 0.9) = 10th smallest
    assert _conformal_quantile(r, 0.9) == 10.0 and _conformal_quantile(r, 0.5) == 6.0
    with pytest.raises(ForecastError, match="coverage"):
        make_forecaster({"type": "gbm", "coverage": 1.2})
    with pytest.raises(ForecastError, match="gbm takes refit_days"):
        make_forecaster({"type": "gbm", "lags": 3})


def test_quality_metrics_by_hand():
    ts = np.arange(np.datetime64("2023-01-02T00:00"), np.datetime64("2023-01-03T00:00"), np.timedelta64(1, "h"))
    actual = {"da": np.arange(24.0) + 1}
    forecast = actual["da"] + np.where(np.arange(24) % 2, 2.0, -2.0)
    log = [(ts[0] - np.timedelta64(12, "h"), np.arange(24), {"da": forecast}, {"da": np.full(24, 2.5)})]
    q = forecast_quality(log, actual, np.array([0, 24]), ts, (0, 24), 1)["da"]
    assert q["mae"] == 2.0 and q["days"] == 1 and q["interval_coverage"] == 1.0
    assert q["medape_pct"] == pytest.approx(np.median(2.0 / actual["da"]) * 100)
    assert 0.9 < q["rank_accuracy"] < 1.0


def exogenous_file(tmp_path, market, late_garbage: bool, name="signal.csv"):
    """A day-ahead 'signal' (the real price plus noise), issued 14 h before each day; with
    late_garbage, a second vintage issued 11 h before (after the decisions at -12 h) is garbage."""
    import polars as pl

    ts = market.grid.timestamps[::4]  # hourly
    day_start = ts.astype("datetime64[D]").astype("datetime64[us]")
    rng = np.random.default_rng(1)
    frames = [pl.DataFrame({"issue_time_utc": day_start - np.timedelta64(14, "h"), "timestamp_utc": ts,
                            "value": market.prices["da"][::4] + rng.normal(0, 5, ts.size)})]
    if late_garbage:
        frames.append(pl.DataFrame({"issue_time_utc": day_start - np.timedelta64(11, "h"), "timestamp_utc": ts,
                                    "value": np.full(ts.size, 9e9)}))
    out = pl.concat(frames).with_columns(pl.col("issue_time_utc", "timestamp_utc").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    path = tmp_path / name
    out.write_csv(path)
    return path


def test_exogenous_values_published_after_the_decision_are_never_used(winter, tmp_path):
    prices = winter.prices["da"]
    cuts = [60 * DAY, 61 * DAY]
    clean = forecasts(winter, prices, cuts, exogenous={"signal": {"file": str(exogenous_file(tmp_path, winter, False))}})
    late = forecasts(winter, prices, cuts, exogenous={"signal": {"file": str(
        exogenous_file(tmp_path, winter, True, "late.csv"))}})
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(clean, late))
    plain = forecasts(winter, prices, cuts)
    assert not np.array_equal(plain[0][0], clean[0][0])  # the feature is used


def test_exogenous_series_without_publication_times_or_issued_late_are_refused(winter, tmp_path):
    import polars as pl

    ts = winter.grid.timestamps[:48].astype("datetime64[s]").astype(str)
    pl.DataFrame({"timestamp_utc": ts, "value": np.ones(48)}).write_csv(tmp_path / "bare.csv")
    with pytest.raises(ForecastError, match="no issue_time_utc column: a series without publication times is refused"):
        make_forecaster({"type": "gbm", "exogenous": {"wind": {"file": str(tmp_path / "bare.csv")}}})
    pl.DataFrame({"issue_time_utc": ts, "timestamp_utc": ts, "value": np.ones(48)}).write_csv(tmp_path / "late.csv")
    with pytest.raises(ForecastError, match=r"wind: 48 value\(s\) issued at or after their own delivery interval"):
        make_forecaster({"type": "gbm", "exogenous": {"wind": {"file": str(tmp_path / "late.csv")}}})
