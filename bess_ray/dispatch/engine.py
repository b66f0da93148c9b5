"""The walk-forward engine: decide each delivery day at its gates with only what was known then.

For each local delivery day D, gate by gate in time order (FCR D-1 08:00, aFRR 09:00, day-ahead
12:00, Nordic FCR 18:00): forecast the prices of D and the look-ahead from the visible history,
optimise the horizon with everything already committed for D locked, and commit the products of
that gate for D. With `schedule_revision`, at each checkpoint of D the rest of the day is
re-optimised: past intervals and reserve commitments stay, and any change of energy against the
day-ahead position is an intraday trade. The SoC carries from day to day. Each gate (and each
checkpoint) keeps one warm HiGHS instance for the whole run: only costs and bounds change.

Reserve activations are assumed energy-neutral (no activation energy is simulated). Without a
`plant` plans are delivered as planned; with one (the simulation's battery model) every event first
brings the plant up to its time, delivering the plan through the battery's physics: the SoC the
next plan starts from is what is really there, and the site the optimiser sees is the aged one.
Co-located generation (`generation`) is part of every plan and of the day-ahead position.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..config import Site
from ..data.market import MarketPrices
from ..errors import ConfigError
from ..forecast import Forecaster, ForecastError, VisibleHistory
from ..markets import PRODUCTS, get_zone
from ..markets.gates import DEFAULT_GATES, PUBLICATION_DELAY, Gate, gate_instants, gates_for
from ..data.generation import Generation
from ..optimization.blocks import Calendar, IntradayTrade, Locks, build
from ..optimization.warm import WarmSolver
from ..timegrid import TimeGrid, iso

EPS = 1e-6
RESERVE_STEP_MW = 1e-4  # reserve commitments are whole multiples of 0.1 kW


class BacktestError(ForecastError):
    """The run stopped on a day; `day` names it, artifacts of earlier days were kept."""

    def __init__(self, message: str, day: str | None = None):
        super().__init__(message)
        self.day = day
        self.trace: "Trace | None" = None  # what was done before the failing day
        self.first_undone: np.datetime64 | None = None


@dataclass
class Trace:
    """What happened, per asset (rows) and interval of the window (columns)."""

    timestamps: np.ndarray
    assets: list[str]
    charge: np.ndarray
    discharge: np.ndarray
    soc: np.ndarray
    position: np.ndarray  # day-ahead position per asset (MW)
    baseline_net: np.ndarray  # plan after the gates, before revisions
    baseline_soc: np.ndarray
    reserves: dict[str, np.ndarray]
    generation: np.ndarray | None = None  # generator x interval, MW (after curtailment)
    to_battery: np.ndarray | None = None  # the part of it planned into the batteries
    generation_position: np.ndarray | None = None  # its day-ahead position
    generators: Generation | None = None  # their available power over the window and their premium
    planned_charge: np.ndarray | None = None  # with a plant: the plan the batteries were asked to follow
    planned_discharge: np.ndarray | None = None
    revisions: list[dict] = field(default_factory=list)
    skipped_revisions: list[dict] = field(default_factory=list)  # re-plans that failed: the plan stood
    days_done: int = 0
    solve_seconds: float = 0.0
    solves: int = 0
    rebuilds: int = 0

    @property
    def net(self) -> np.ndarray:
        return self.discharge - self.charge

    def first(self, n: int) -> "Trace":
        """The trace of the first n intervals (a run that stopped: what it completed)."""
        cut = lambda a: None if a is None else a[:, :n]  # noqa: E731
        return Trace(self.timestamps[:n], self.assets, cut(self.charge), cut(self.discharge), cut(self.soc),
                     cut(self.position), cut(self.baseline_net), cut(self.baseline_soc),
                     {p: r[:, :n] for p, r in self.reserves.items()}, cut(self.generation), cut(self.to_battery),
                     cut(self.generation_position), self.generators.window(0, n) if self.generators else None,
                     cut(self.planned_charge), cut(self.planned_discharge),
                     [r for r in self.revisions if r["first"] < n], self.skipped_revisions, self.days_done,
                     self.solve_seconds, self.solves, self.rebuilds)


@dataclass
class WalkForward:
    site: Site
    actual: MarketPrices  # the whole grid: history before the window, the window, the look-ahead after
    window: tuple[int, int]  # grid indices of the first and one-past-last interval of the delivery window
    products: tuple[str, ...]
    forecaster: Forecaster
    lookahead_h: float = 24.0
    checkpoints_h: list[float] | None = None  # schedule_revision when given
    intraday_price: np.ndarray | None = None
    intraday_spread: float = 0.0
    gates: tuple[Gate, ...] = DEFAULT_GATES
    generation: Generation | None = None  # available power on the whole grid
    plant: object | None = None  # simulate.battery.BatteryPlant: delivers plans through the physics

    def __post_init__(self) -> None:
        grid, zone = self.actual.grid, get_zone(self.site.zone)
        self.grid, self.dt = grid, grid.dt_hours
        self.ts = grid.timestamps
        self.ends = self.ts + np.timedelta64(grid.resolution_min, "m")
        local = grid.series().dt.convert_time_zone(zone.timezone)
        dates = local.dt.date()
        day_ids = np.unique(dates.to_numpy(), return_inverse=True)[1]
        starts = np.flatnonzero(np.r_[True, np.diff(day_ids) != 0])
        self.day_start = np.r_[starts, grid.periods]
        for edge in self.window:
            if edge not in self.day_start:
                raise ConfigError(f"the backtest window must start and end at local midnights ({zone.timezone}); "
                                 f"interval {edge} ({iso(grid.timestamps[min(edge, grid.periods - 1)], 'm')}) "
                                 "is not one")
        self.day_dates = dates.gather(starts)
        self.calendar = Calendar(
            {p: grid.blocks(zone.product_timezone(p), PRODUCTS[p].block_hours)
             for p in self.products if PRODUCTS[p].is_reserve}, day_ids)
        self.gate_list = gates_for(self.products, self.gates)
        day_series = pl.Series(self.day_dates)
        self.gate_time = {g.name: gate_instants(day_series, g) for g in self.gate_list}
        # when each day's prices become visible: its gate plus the publication delay
        gate_of = {p: g for g in gates_for(PRODUCTS, self.gates) for p in g.products}
        self.published = {p: gate_instants(day_series, gate_of[p]) + np.timedelta64(PUBLICATION_DELAY)
                          for p in self.actual.prices}
        self.midnight = gate_instants(day_series, Gate("midnight", (), 24.0, zone.timezone, 1))
        self.steps_per_day = int(round(24 / self.dt))
        self.lookahead = int(round(self.lookahead_h / self.dt))
        if hasattr(self.forecaster, "steps_per_day"):
            self.forecaster.steps_per_day = self.steps_per_day
        if hasattr(self.forecaster, "timezone"):  # a forecaster with a local calendar (gbm)
            self.forecaster.timezone, self.forecaster.country = zone.timezone, zone.code[:2]
        self.forecast_log: list[tuple] = []  # (decision time, horizon, forecast, interval half-widths or None)
        if getattr(self.forecaster, "oracle", False):
            self.forecaster.actual = self.actual.prices
        self.solvers: dict[str, WarmSolver] = {}
        self.bats = self.site.batteries

    # --------------------------------------------------------------------------------- helpers
    def view(self, decision_time: np.datetime64) -> VisibleHistory:
        known = {}
        for p, pub in self.published.items():
            first_hidden = int(np.searchsorted(pub, decision_time, side="right"))  # days published by then
            known[p] = int(self.day_start[min(first_hidden, len(self.day_start) - 1)])
        return VisibleHistory(decision_time, self.ts, self.actual.prices, known)

    def forecast(self, decision_time, horizon: np.ndarray, day_label: str) -> dict[str, np.ndarray]:
        try:
            out = self.forecaster.forecast(self.view(decision_time), horizon, self.products)
        except ForecastError as e:
            raise BacktestError(f"day {day_label}: {e}", day_label) from None
        except Exception as e:  # a user's forecaster
            raise BacktestError(f"day {day_label}: the forecast {self.forecaster.name!r} raised "
                                f"{type(e).__name__}: {e}", day_label) from None
        if not isinstance(out, dict):
            raise BacktestError(f"day {day_label}: the forecast returned {type(out).__name__}, not a dict of arrays",
                                day_label)
        for p in self.products:
            v = np.asarray(out[p], dtype=float) if p in out else None
            if v is None or v.shape != horizon.shape:
                got = "nothing" if v is None else f"shape {v.shape}"
                raise BacktestError(f"day {day_label}: the forecast for {p} has {got}, expected {horizon.shape}",
                                    day_label)
            if not np.all(np.isfinite(v)):
                raise BacktestError(f"day {day_label}: the forecast for {p} has NaN or infinite values", day_label)
            out[p] = v
        widths = getattr(self.forecaster, "last_halfwidth", None)
        self.forecast_log.append((decision_time, horizon, dict(out), dict(widths) if widths else None))
        return out

    def solve(self, key: str, prices: dict, horizon: np.ndarray, s0: np.ndarray, locks: Locks,
              intraday: IntradayTrade | None = None, discharged_today: np.ndarray | None = None):
        start, stop = int(horizon[0]), int(horizon[-1]) + 1
        market = MarketPrices(TimeGrid(self.ts[start], stop - start, self.grid.resolution_min), prices)
        # the horizon-end SoC rule is soft: worth more than any MWh could earn in this horizon
        penalty = 2.0 * max(float(np.abs(v).max()) for v in prices.values()) / self.dt + 1000.0
        if self.plant is not None:  # a real battery may no longer keep what it committed: misses show, at a cost
            locks.penalty = penalty
        gen = self.generation.window(start, stop) if self.generation is not None else None
        f = build(self.site, market, self.products, locks=locks, calendar=self.calendar.window(start, stop),
                  intraday=intraday, initial_mwh=s0, discharged_today_mwh=discharged_today, final_soc_penalty=penalty,
                  generation=gen)
        solver = self.solvers.get(key)
        if solver is None:
            solver = self.solvers[key] = WarmSolver()
        lp = f.lp.assemble()
        sol = solver.solve(lp)
        if sol.x is None:
            from ..optimization.diagnose import diagnose, explain

            why = explain(diagnose(lp, self.ts[start:stop])) if sol.status == "infeasible" else sol.status
            raise BacktestError(f"the {key} problem from {iso(self.ts[start], 'm')}: {why}")
        return f, sol.x

    # --------------------------------------------------------------------------------- the run
    def run(self, on_day=None) -> Trace:
        """Process every gate and checkpoint of the window's days in time order."""
        w0, w1 = self.window
        N, A = self.grid.periods, len(self.bats)
        self.plan_c, self.plan_d, self.plan_s = np.zeros((A, N)), np.zeros((A, N)), np.zeros((A, N))
        self.position = np.zeros((A, N))
        G = len(self.generation.ids) if self.generation is not None else 0
        self.plan_g, self.plan_gb, self.gen_position = np.zeros((G, N)), np.zeros((G, N)), np.zeros((G, N))
        if self.plant is not None:
            self.done_c, self.done_d, self.done_s = np.zeros((A, N)), np.zeros((A, N)), np.zeros((A, N))
            self.delivered, self.planned_until = w0, w0
            self.site = self.plant.site
            self.bats = self.site.batteries
        self.reserve = {p: np.zeros((A, N)) for p in self.calendar.blocks}
        self.committed = {p: np.zeros(N, dtype=bool) for p in self.products}
        self.initial = self.site.fleet.initial_mwh
        if self.plant is not None:  # a simulation year starts where the last one ended
            self.initial = self.plant.state.soc_mwh.copy()
        n = w1 - w0
        z = lambda: np.zeros((A, n))  # noqa: E731
        trace = Trace(self.ts[w0:w1], [b.id for b in self.bats], z(), z(), z(), z(), z(), z(), {})
        days = [d for d in range(len(self.day_start) - 1) if w0 <= self.day_start[d] < w1]
        events = [(self.gate_time[g.name][d], 0, d, g) for d in days for g in self.gate_list]
        events += [(self.midnight[d] + np.timedelta64(int(h * 3600), "s"), 1, d, h)
                   for d in days for h in (self.checkpoints_h or [])]
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        last_event = {d: (t, kind) for t, kind, d, _ in events}
        try:
            for t, kind, d, what in events:
                if self.plant is not None:
                    self._deliver(int(np.searchsorted(self.ends, t, side="right")))
                try:
                    if kind == 0:
                        self._gate(d, what, t, trace)
                    else:
                        self._checkpoint(d, what, t, trace)
                except BacktestError as e:
                    e.trace, e.first_undone = trace, self.ts[self.day_start[d]]
                    self._finish(trace, done_until=int(self.day_start[d]))
                    raise
                if (t, kind) == last_event[d]:
                    trace.days_done += 1
                    if on_day:
                        on_day(d)
            if self.plant is not None:
                self._deliver(w1)
        finally:
            trace.solve_seconds = sum(s.solve_seconds for s in self.solvers.values())
            trace.solves = sum(s.rebuilds + s.reuses for s in self.solvers.values())
            trace.rebuilds = sum(s.rebuilds for s in self.solvers.values())
        self._finish(trace, done_until=w1)
        return trace

    def _finish(self, trace: Trace, done_until: int) -> None:
        w0 = self.window[0]
        n = max(0, done_until - w0)
        c, d, s = (self.done_c, self.done_d, self.done_s) if self.plant is not None else \
            (self.plan_c, self.plan_d, self.plan_s)
        trace.charge[:, :n] = c[:, w0:w0 + n]
        trace.discharge[:, :n] = d[:, w0:w0 + n]
        trace.soc[:, :n] = s[:, w0:w0 + n]
        trace.position[:, :n] = self.position[:, w0:w0 + n]
        trace.reserves = {p: r[:, w0:w0 + n].copy() for p, r in self.reserve.items()}
        if self.plant is not None:
            trace.planned_charge = self.plan_c[:, w0:w0 + n].copy()
            trace.planned_discharge = self.plan_d[:, w0:w0 + n].copy()
        if self.generation is not None:
            trace.generation = self.plan_g[:, w0:w0 + n].copy()
            trace.to_battery = self.plan_gb[:, w0:w0 + n].copy()
            trace.generation_position = self.gen_position[:, w0:w0 + n].copy()
            trace.generators = self.generation.window(w0, w0 + n)

    def _deliver(self, k: int) -> None:
        """Run the plant through the planned intervals up to k; later plans move with its SoC."""
        a, k = self.delivered, min(k, self.window[1])
        if k <= a:
            return
        c, d, s = self.plant.deliver(self.plan_c[:, a:k], self.plan_d[:, a:k])
        self.done_c[:, a:k], self.done_d[:, a:k], self.done_s[:, a:k] = c, d, s
        if self.planned_until > k:  # the rest of the current plan starts from the real SoC
            self.plan_s[:, k:self.planned_until] += (s[:, -1] - self.plan_s[:, k - 1])[:, None]
        self.plan_s[:, a:k] = s
        self.delivered = k
        if self.plant.site is not self.site:  # aged: the next plans see the capacity that is left
            self.site = self.plant.site
            self.bats = self.site.batteries

    def _start_soc(self, k: int) -> np.ndarray:
        """SoC before interval k: the current plan, or the configured initial SoC at the window start."""
        if k <= self.window[0] or not self.committed["da"][k - 1]:
            return self.initial
        fleet = self.site.fleet
        return np.clip(self.plan_s[:, k - 1], fleet.min_mwh, fleet.max_mwh)

    def _reserve_locks(self, horizon: np.ndarray) -> Locks:
        """Committed reserves inside the horizon, per bid block (NaN = still free)."""
        locks = Locks()
        start, stop = int(horizon[0]), int(horizon[-1]) + 1
        for p, blocks in self.calendar.window(start, stop).blocks.items():
            firsts = np.flatnonzero(np.r_[True, np.diff(blocks) != 0])
            done = self.committed[p][start + firsts]
            for i, b in enumerate(self.bats):
                locks.reserve_mw[(b.id, p)] = np.where(done, self.reserve[p][i, start + firsts], np.nan)
        return locks

    def _store_plan(self, f, x, horizon: np.ndarray, upto: int) -> None:
        """Keep the new plan for the horizon's intervals before `upto` (committed days)."""
        k, m = int(horizon[0]), upto - int(horizon[0])
        if m <= 0:
            return
        self.plan_c[:, k:upto] = x[f.charge][:, :m]
        self.plan_d[:, k:upto] = x[f.discharge][:, :m]
        self.plan_s[:, k:upto] = x[f.soc][:, :m]
        if f.generation is not None:
            self.plan_g[:, k:upto] = x[f.generation][:, :m]
            self.plan_gb[:, k:upto] = x[f.to_battery][:, :m] if f.to_battery is not None else 0.0
        if self.plant is not None:
            self.planned_until = max(self.planned_until, upto)

    def _committed_until(self, k: int, horizon: np.ndarray) -> int:
        """First interval from k on (within the horizon) whose energy is not committed yet."""
        stop = int(horizon[-1]) + 1
        free = np.flatnonzero(~self.committed["da"][k:stop])
        return k + int(free[0]) if free.size else stop

    def _commitments_end(self, k: int) -> int:
        """End of the run of intervals from k on in which any product is committed."""
        any_committed = np.logical_or.reduce([c[k:] for c in self.committed.values()])
        free = np.flatnonzero(~any_committed)
        return k + int(free[0]) if free.size else self.grid.periods

    def _gate(self, d: int, gate: Gate, t: np.datetime64, trace: Trace) -> None:
        a, b = int(self.day_start[d]), int(self.day_start[d + 1])
        label = str(self.day_dates[d])
        horizon = np.arange(a, min(b + self.lookahead, self.grid.periods))
        locks = self._reserve_locks(horizon)
        upto = self._committed_until(a, horizon)  # energy already sold for D (a Nordic FCR gate after day-ahead)
        if upto > a:
            rest = np.full(horizon.size - (upto - a), np.nan)
            for i, bat in enumerate(self.bats):
                locks.net_mw[bat.id] = np.r_[self.plan_d[i, a:upto] - self.plan_c[i, a:upto], rest]
            for j, g in enumerate(self.generation.ids if self.generation is not None else ()):
                locks.net_mw[g] = np.r_[self.plan_g[j, a:upto], rest]
        f, x = self.solve(gate.name, self.forecast(t, horizon, label), horizon, self._start_soc(a), locks)
        net = x[f.discharge] - x[f.charge]
        n_day = b - a
        for p in gate.products:
            if p == "da":
                self.position[:, a:b] = net[:, :n_day]
                if f.generation is not None:
                    self.gen_position[:, a:b] = x[f.generation][:, :n_day]
            else:
                # a bid has a granularity, and a commitment copied from one LP into the next one's
                # locks must not carry that LP's solver tolerance: round down to 0.1 kW
                # (a value within 1e-6 of a step below it is that step: 0.39999999 and 0.40000001
                # from two HiGHS releases must commit the same 0.4)
                held = np.floor(np.maximum(x[f.reserve[p]], 0.0) / RESERVE_STEP_MW + 1e-6) * RESERVE_STEP_MW
                self.reserve[p][:, a:b] = held[:, f.block_of[p][:n_day]]
            self.committed[p][a:b] = True
        self._store_plan(f, x, horizon, b)
        if all(self.committed[p][a] for p in self.products):  # the day's plan before any revision
            w0 = self.window[0]
            trace.baseline_net[:, a - w0:b - w0] = self.plan_d[:, a:b] - self.plan_c[:, a:b]
            trace.baseline_soc[:, a - w0:b - w0] = self.plan_s[:, a:b]

    def _checkpoint(self, d: int, hour: float, t: np.datetime64, trace: Trace) -> None:
        a, b = int(self.day_start[d]), int(self.day_start[d + 1])
        k = a + int(np.searchsorted(self.ts[a:b], t))
        if k >= b:
            return
        label = str(self.day_dates[d])
        # the re-plan covers every day with a commitment whole, so no day keeps half an old plan
        stop = max(b + self.lookahead, self._commitments_end(k))
        horizon = np.arange(k, min(stop, self.grid.periods))
        upto = self._committed_until(k, horizon)
        position = np.full(horizon.size, np.nan)
        position[:upto - k] = self.position[:, k:upto].sum(axis=0) + self.gen_position[:, k:upto].sum(axis=0)
        intraday = IntradayTrade(position, self.intraday_price[horizon], self.intraday_spread)
        done_today = self.plan_d[:, a:k].sum(axis=1) * self.dt  # counts against today's cycle limit
        try:
            f, x = self.solve(f"revision@{hour:g}h", self.forecast(t, horizon, label), horizon, self._start_soc(k),
                              self._reserve_locks(horizon), intraday, done_today)
        except BacktestError as e:
            if "infeasible" not in str(e):
                raise
            # as an EMS would: when a re-plan fails, the current (valid) schedule stands; recorded
            trace.skipped_revisions.append({"day": label, "checkpoint": iso(t, "m"),
                                            "reason": str(e)})
            return
        self._store_plan(f, x, horizon, upto)
        w0 = self.window[0]
        trace.revisions.append({"day": label, "checkpoint": t, "first": k - w0,
                                "net": (x[f.discharge] - x[f.charge])[:, :upto - k], "soc": x[f.soc][:, :upto - k].copy()})
