"""A learned price forecast: gradient-boosted trees (LightGBM) on price lags and the calendar,
refitted walk-forward on what was visible at the decision time, with split-conformal intervals.

Features of a target interval t, for a forecast made when the values before `known` are visible:
the value one and seven days before t (stepped back whole days until visible, as persistence
does), the last visible day's mean, minimum and maximum, and the calendar in the zone's local time
(DST-aware): slot of the day, weekday, month and the zone's public holidays (the `holidays`
package). Training rows are built the same way, each from the day boundary before it, so the model
learns exactly the mapping it is asked for.

The model learns the deviation from the last visible day's mean (trees do not extrapolate a
level). The forecast combines it with the D-1 / D-7 persistence blend, `persistence_weight` of
each (0.5 by default; 0 for the model alone): on DE-LU 2023 the model alone captures 81 % of the
oracle, the blend 87 %, the combination more than either (scripts/bench_forecast.py). Until
`WARMUP_DAYS` of values are visible (gaps not counted) the forecast is that persistence blend (a window that starts
with its data has nothing to learn from yet). Refits: at the first forecast after that and then every `refit_days` days of decision time, on the last
`train_days` of visible values only. Intervals: split conformal on the forecaster's own
out-of-sample errors (each past forecast against the value published later), at `coverage`; until
`calibration_days` of them exist, on the residuals of a hold-out of the newest training week.
LightGBM runs deterministic on one thread with `seed`: the same inputs give the same forecasts to
the last digit.
"""
from __future__ import annotations

import numpy as np

from .base import ForecastError, VisibleHistory

WARMUP_DAYS = 28  # visible days before the first fit; the persistence blend until then
FEATURES = ("lag_d1", "lag_d2", "lag_d7", "week_slot_mean", "blend_d1_d7", "prev_mean", "prev_min", "prev_max", "slot", "weekday",
            "month", "holiday")
LEVEL = FEATURES.index("prev_mean")    # the model learns the deviation from the last visible day's level
BLEND = FEATURES.index("blend_d1_d7")  # the D-1 / D-7 persistence blend


class GbmForecast:
    oracle = False

    def __init__(self, refit_days: int = 7, train_days: int = 365, coverage: float = 0.9, calibration_days: int = 28,
                 trees: int = 200, learning_rate: float = 0.05, leaves: int = 31, persistence_weight: float = 0.5,
                 seed: int = 0, exogenous: dict | None = None, base_dir=None) -> None:
        if refit_days < 1 or train_days < 28:
            raise ForecastError("forecast.refit_days: >= 1; forecast.train_days: >= 28")
        if not 0 <= persistence_weight < 1:
            raise ForecastError(f"forecast.persistence_weight: {persistence_weight} is not in [0, 1)")
        if not 0.5 <= coverage < 1:
            raise ForecastError(f"forecast.coverage: {coverage} is not in [0.5, 1)")
        self.refit_days, self.train_days, self.coverage = refit_days, train_days, coverage
        self.persistence_weight = persistence_weight
        from .exogenous import load_exogenous

        self.exogenous = load_exogenous(exogenous, base_dir)
        self.features = FEATURES + tuple(f"exo_{x.name}" for x in self.exogenous)
        self.calibration_days = calibration_days
        self.trees = trees
        self.params = {"objective": "regression_l1", "learning_rate": learning_rate, "num_leaves": leaves,
                       "min_data_in_leaf": 20, "seed": seed, "deterministic": True, "force_row_wise": True,
                       "num_threads": 1, "verbose": -1}
        self.name = (f"gbm (LightGBM, refit every {refit_days} d on {train_days} d, {coverage:.0%} conformal"
                     + (f", {persistence_weight:g} x D-1/D-7 persistence)" if persistence_weight else ")"))
        self.steps_per_day: int | None = None  # set by the engine from the grid resolution
        self.timezone: str = "UTC"             # set by the engine from the zone
        self.country: str | None = None        # the zone's country, for its holidays
        self._calendar: dict | None = None
        self._models: dict = {}
        self._fitted_at: dict = {}
        self._holdout_q: dict = {}
        self._issued: dict = {}  # product -> [(targets, forecast)] awaiting their actual values
        self._errors: dict = {}  # product -> the newest out-of-sample absolute errors
        self.fit_seconds = 0.0
        self.fits = 0
        self.last_halfwidth: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ calendar (whole grid, once)
    def _calendar_features(self, timestamps: np.ndarray) -> dict:
        if self._calendar is None:
            import polars as pl

            local = pl.Series(timestamps).dt.replace_time_zone("UTC").dt.convert_time_zone(self.timezone)
            dates = local.dt.date()
            feats = {"slot": (local.dt.hour() * 60 + local.dt.minute()).to_numpy().astype(float),
                     "weekday": local.dt.weekday().to_numpy().astype(float),
                     "month": local.dt.month().to_numpy().astype(float)}
            feats["holiday"] = np.zeros(timestamps.size)
            if self.country:
                import holidays

                years = sorted(set(dates.dt.year().to_list()))
                try:
                    days = holidays.country_holidays(self.country, years=years)
                    feats["holiday"] = dates.is_in(list(days)).to_numpy().astype(float)
                except NotImplementedError:  # a country without a calendar there: no holiday feature
                    pass
            self._calendar = feats
        return self._calendar

    def _rows(self, values: np.ndarray, targets: np.ndarray, known: np.ndarray, cal: dict,
              decisions: np.ndarray | None = None, timestamps: np.ndarray | None = None) -> np.ndarray:
        """Feature rows of `targets`, each seen with the values before its own `known` index and the
        exogenous values issued before its own decision time."""
        day = self.steps_per_day
        cols = []
        lags = {}
        for lag in range(1, 8):
            src = targets - lag * day
            late = src >= known
            src = np.where(late, src - ((src - known) // day + 1) * day, src)
            lags[lag] = np.where(src >= 0, values[np.clip(src, 0, None)], np.nan)
        cols += [lags[1], lags[2], lags[7], np.mean([lags[k] for k in range(1, 8)], axis=0), 0.5 * (lags[1] + lags[7])]
        starts = np.clip(known - day, 0, None)
        csum = np.r_[0.0, np.cumsum(values)]
        cols.append((csum[known] - csum[starts]) / np.maximum(known - starts, 1))
        # min / max of the last visible day, by day block (known is a day boundary)
        blocks = {}
        for k in np.unique(known):
            seg = values[max(k - day, 0):k]
            blocks[k] = (seg.min(), seg.max()) if seg.size else (np.nan, np.nan)
        cols.append(np.array([blocks[k][0] for k in known]))
        cols.append(np.array([blocks[k][1] for k in known]))
        cols += [cal[name][targets] for name in ("slot", "weekday", "month", "holiday")]
        if self.exogenous and decisions is not None:
            cols += [x.values_at(timestamps[targets], decisions) for x in self.exogenous]
        return np.column_stack(cols)

    # ------------------------------------------------------------------ fitting
    def _fit(self, product: str, values: np.ndarray, known: int, cal: dict, decision, timestamps) -> None:
        import time


        t0 = time.perf_counter()
        day = self.steps_per_day
        first = max(known - self.train_days * day, 8 * day)  # lags of 7 days need 8 days before a row
        targets = np.arange(first, known)
        own_known = known - ((known - targets + day - 1) // day) * day  # the day boundary before each row
        # each row's decision: the current one moved back by the whole days between the boundaries
        decisions = decision - (known - own_known) * np.timedelta64(int(round(86400 / day)), "s")
        X = self._rows(values, targets, own_known, cal, decisions, timestamps)
        y = values[targets] - X[:, LEVEL]
        ok = np.isfinite(y)  # a gap in the history (a store's missing day) teaches nothing
        X, y, targets = X[ok], y[ok], targets[ok]
        hold = targets >= known - 7 * day  # the newest week: residuals for the first intervals
        model = self._train(X[~hold], y[~hold])
        resid = np.abs(y[hold] - model.predict(X[hold]))  # the level cancels in the residual
        self._holdout_q[product] = _conformal_quantile(resid, self.coverage)
        self._models[product] = self._train(X, y)
        self.fit_seconds += time.perf_counter() - t0
        self.fits += 1

    def _train(self, X: np.ndarray, y: np.ndarray):
        import lightgbm

        data = lightgbm.Dataset(X, y, feature_name=list(self.features), params={"verbose": -1})
        return lightgbm.train(self.params, data, num_boost_round=self.trees)

    def forecast(self, view: VisibleHistory, targets: np.ndarray, products) -> dict[str, np.ndarray]:
        if self.steps_per_day is None:
            raise ForecastError("gbm: the grid's steps per day were not set")
        cal = self._calendar_features(view.timestamps)
        out = {}
        for p in products:
            values, known = view.values(p), view.known[p]
            recent = values[max(known - self.train_days * self.steps_per_day, 0):known]
            if np.isfinite(recent).sum() < WARMUP_DAYS * self.steps_per_day:  # too little to learn from: persistence
                rows = self._rows(values, targets, np.full(targets.size, known), cal)
                out[p] = rows[:, BLEND] if not np.isnan(rows[:, BLEND]).any() else rows[:, 0]
                if np.isnan(out[p]).any():
                    raise ForecastError(f"gbm: no {p} value a day before the first decision to start from")
                self.last_halfwidth.pop(p, None)
                continue
            due = self._fitted_at.get(p)
            if due is None or view.decision_time >= due:
                self._fit(p, values, known, cal, view.decision_time, view.timestamps)
                self._fitted_at[p] = view.decision_time + np.timedelta64(self.refit_days, "D")
            X = self._rows(values, targets, np.full(targets.size, known), cal,
                           np.full(targets.size, view.decision_time), view.timestamps)
            w = self.persistence_weight
            pred = (1 - w) * (self._models[p].predict(X) + X[:, LEVEL]) + w * X[:, BLEND]
            out[p] = pred
            self.last_halfwidth[p] = np.full(targets.size, self._halfwidth(p, values, known))
            self._issued.setdefault(p, []).append((targets, pred))
        return out

    def _halfwidth(self, product: str, values: np.ndarray, known: int) -> float:
        """Split conformal on this forecaster's own past errors, on values visible now."""
        errors = []
        keep = []
        for targets, pred in self._issued.get(product, []):
            seen = targets < known
            if seen.any():
                errors.append(np.abs(values[targets[seen]] - pred[seen]))
            if not seen.all():
                keep.append((targets[~seen], pred[~seen]))
        errors_flat = np.concatenate(errors) if errors else np.empty(0)
        past = np.r_[self._errors.get(product, np.empty(0)), errors_flat]
        past = past[-self.calibration_days * self.steps_per_day:]
        self._errors[product] = past
        self._issued[product] = keep
        if past.size < self.calibration_days * self.steps_per_day:
            return self._holdout_q[product]
        return _conformal_quantile(past, self.coverage)


def _conformal_quantile(residuals: np.ndarray, coverage: float) -> float:
    """The split-conformal half-width: the ceil((n + 1) coverage)-th smallest absolute residual."""
    n = residuals.size
    if n == 0:
        return float("inf")
    rank = min(int(np.ceil((n + 1) * coverage)), n)
    return float(np.sort(residuals)[rank - 1])
