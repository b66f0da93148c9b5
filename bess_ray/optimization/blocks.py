"""The one formulation: each market product and physical limit is a vectorised block.

Sign convention: power > 0 is discharge / export. Variables per battery `a` and interval `t`:
charge[a,t] >= 0 and discharge[a,t] >= 0 (MW), soc[a,t] (MWh at the *end* of interval t), and for
each reserve product p one capacity per bid block, reserve_p[a,b] (MW): a block product is constant
over its block by construction. The optimise, backtest, simulate, sweep and Serve paths all build
their problem through `build`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .. import exact
from ..config import Battery, Site
from ..data.generation import Generation
from ..data.market import MarketPrices
from ..errors import ConfigError, InfeasibleError
from ..markets import PRODUCTS, get_zone
from . import limits, rules
from .lp import INF, LinearProgram


@dataclass
class Locks:
    """Commitments the optimiser must keep (already traded, already past). NaN = free.

    net_mw[asset] has one value per interval; reserve_mw[(asset, product)] one per bid block. A net
    of 0 still lets a lossy battery charge and discharge at once (burning energy at negative
    prices); idle[asset] (True per interval) fixes both directions to 0. With a
    `penalty` (EUR/MWh) a commitment may be missed at that cost: a simulated battery that aged or
    drifted since it committed may no longer be able to keep it, and the shortfall must show, not
    stop the run.
    """

    net_mw: dict[str, np.ndarray] = field(default_factory=dict)
    reserve_mw: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    penalty: float | None = None
    idle: dict[str, np.ndarray] = field(default_factory=dict)  # per battery, True: charge and discharge both 0


@dataclass
class IntradayTrade:
    """Re-optimising after the day-ahead gate: in intervals with a `position_mw` (not NaN) the site's
    day-ahead position is sold already, and any change of net power is an intraday trade at
    `price` +/- `spread` (buying costs more, selling earns less)."""

    position_mw: np.ndarray
    price: np.ndarray
    spread: float = 0.0


@dataclass
class Calendar:
    """Precomputed local-time structure of a window: bid block per product and local day, as
    0-based ids per interval. The walk-forward computes it once per run instead of every day."""

    blocks: dict[str, np.ndarray]
    days: np.ndarray

    def window(self, start: int, stop: int) -> "Calendar":
        return Calendar({p: b[start:stop] - b[start] for p, b in self.blocks.items()},
                        self.days[start:stop] - self.days[start])


@dataclass
class Formulation:
    """The built LP with handles on its variable groups, for results and re-solves."""

    lp: LinearProgram
    site: Site
    market: MarketPrices
    products: tuple[str, ...]
    batteries: list[Battery]
    charge: np.ndarray
    discharge: np.ndarray
    soc: np.ndarray
    soc_start: np.ndarray  # one fixed column per battery: the SoC the window starts from
    reserve: dict[str, np.ndarray]
    block_of: dict[str, np.ndarray]
    generation: np.ndarray | None = None  # generator x interval, MW
    to_battery: np.ndarray | None = None  # the part of it that charges the batteries
    generators: Generation | None = None  # the input: available power and premium per generator


def _battery_arrays(bats: list[Battery], attr: str) -> np.ndarray:
    return np.array([getattr(b, attr) for b in bats], dtype=float)[:, None]


def battery_block(lp: LinearProgram, bats: list[Battery], T: int, dt: float, initial_mwh=None,
                  final_soc_penalty: float | None = None, final_mwh=None):
    """Charge, discharge and SoC with efficiencies and standby loss; SoC limits; final-SoC rule.

    The SoC at the start of the window is a column of its own, `soc_start`, fixed at the initial
    SoC: its reduced cost is the marginal value of stored energy, which a decomposed solve needs.
    `initial_mwh` overrides the configured initial SoC (a walk-forward day starts where the last
    ended); the final-SoC rule always refers to the configured initial SoC, unless `final_mwh`
    replaces it with an SoC to end at (a stage of a long window). With
    `final_soc_penalty` (EUR/MWh) the rule is soft: missing it costs that much per MWh, so it holds
    whenever it can, but a rolling horizon whose end falls inside locked commitments stays solvable.
    """
    A = len(bats)
    e = _battery_arrays(bats, "energy_mwh")
    charge = lp.add_vars("charge", (A, T), ("asset", "t"), 0.0, _battery_arrays(bats, "charge_mw"))
    discharge = lp.add_vars("discharge", (A, T), ("asset", "t"), 0.0, _battery_arrays(bats, "discharge_mw"))
    soc = lp.add_vars("soc", (A, T), ("asset", "t"), e * _battery_arrays(bats, "soc_min"),
                      e * _battery_arrays(bats, "soc_max"))
    keep = exact.power(1.0 - _battery_arrays(bats, "standby_loss_per_hour"), dt)  # the same bits on every CPU
    configured = e[:, 0] * _battery_arrays(bats, "soc_initial")[:, 0]
    s0 = configured if initial_mwh is None else np.asarray(initial_mwh, float)
    soc_start = lp.add_vars("soc_start", (A,), ("asset",), s0, s0)
    lp.add_rows("soc_balance", "soc_dynamics", A * T, [
        (None, soc, 1.0),
        (None, soc_before(soc_start, soc), -np.broadcast_to(keep, (A, T))),
        (None, charge, -np.broadcast_to(_battery_arrays(bats, "charge_efficiency"), (A, T)) * dt),
        (None, discharge, np.broadcast_to(dt / _battery_arrays(bats, "discharge_efficiency"), (A, T))),
    ], lo=0.0, hi=0.0, axes=("asset", "t"), shape=(A, T))

    lo, hi = [], []
    for b, init in zip(bats, configured):
        rule = b.final_soc
        target = b.energy_mwh * rule if isinstance(rule, float) else init
        lo.append(-INF if rule == "free" else target)
        hi.append(INF if rule in ("free", "at_least_initial") else target)
    if final_mwh is not None:
        lo = hi = np.asarray(final_mwh, float)
    terms = [(None, soc[:, -1], 1.0)]
    if final_soc_penalty is not None:
        short = lp.add_vars("final_soc_shortfall", (A,), ("asset",), cost=final_soc_penalty)
        excess = lp.add_vars("final_soc_excess", (A,), ("asset",), cost=final_soc_penalty)
        terms += [(None, short, 1.0), (None, excess, -1.0)]
    lp.add_rows("final_soc", "final_soc", A, terms, lo=lo, hi=hi, axes=("asset",), shape=(A,))
    return charge, discharge, soc, soc_start


def soc_before(soc_start: np.ndarray, soc: np.ndarray) -> np.ndarray:
    """Columns of the SoC at the start of each interval: the window's start, then the end of the one before."""
    return np.concatenate([soc_start[:, None], soc[:, :-1]], axis=1)


# Among equally good plans (hourly prices held over four quarter-hours, two batteries alike, a
# plateau of equal prices) HiGHS may return any one, and which one changes with its release and its
# warm start; the money made on *other* prices (a backtest settles a forecast's plan on actuals)
# changes with it. So the optimum is made unique by construction: every MWh charged, discharged,
# generated or traded intraday and every MW-hour of reserve held carries a tie-break cost of
# TIE_BREAK_EUR_MWH x w, with w in [1, 2) fixed per variable row and interval. Among plans that
# earn the same, the optimiser takes the one of least weighted throughput.
#   w[r, k] = 1 + frac(k x sqrt(p_r)), k the interval's index since 2000 at its resolution, p_r the
#   r-th prime: a Kronecker sequence. The weights hang on the interval's time, not its place in a
#   window, so a day, a week and a year weigh an interval alike (the weeks of `staged` join into
#   the one LP). Two intervals n steps apart differ by about 1/(3n) at least (sqrt(p) is badly
#   approximable), so neighbours that tie on price are told apart by far more than HiGHS's
#   tolerance (1e-9, highs.new_highs); each row has its own step, so no joint move of two rows
#   cancels (a hash has near-equal neighbours by chance, one arithmetic sequence shifted per row
#   has equal steps in every row: both were seen to leave ties).
# 1e-4 EUR/MWh moves a year's money by less than a cent (tests/unit/test_reproducible.py).
TIE_BREAK_EUR_MWH = 1e-4
_EPOCH = np.datetime64("2000-01-01T00:00", "us")


def _primes(n: int) -> np.ndarray:
    """The first n primes."""
    limit = max(16, int(n * (np.log(n + 2) + np.log(np.log(n + 2))) + 10))
    sieve = np.ones(limit, dtype=bool)
    sieve[:2] = False
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = False
    return np.flatnonzero(sieve)[:n]


@lru_cache(maxsize=64)
def _steps(rows: int) -> np.ndarray:
    """frac(sqrt(p_r)) for the first `rows` primes: the same every day, computed once."""
    steps = np.mod(np.sqrt(_primes(rows).astype(np.float64)), 1.0)
    steps.flags.writeable = False
    return steps


def tie_break_weights(grid, rows: int) -> np.ndarray:
    """rows x intervals tie-break weights in [1, 2) (see TIE_BREAK_EUR_MWH)."""
    k = (grid.start - _EPOCH) // np.timedelta64(grid.resolution_min, "m") + np.arange(grid.periods)
    alpha = _steps(rows)
    return 1.0 + np.mod(k[None, :].astype(np.float64) * alpha[:, None], 1.0)


def energy_block(lp: LinearProgram, charge, discharge, price: np.ndarray, dt: float, weights: np.ndarray) -> None:
    """Day-ahead energy: buy for charging, sell when discharging (objective is a cost)."""
    lp.add_cost(charge, np.broadcast_to(price * dt, charge.shape))
    lp.add_cost(discharge, np.broadcast_to(-price * dt, discharge.shape))
    lp.add_tie_break(charge, TIE_BREAK_EUR_MWH * dt * weights)
    lp.add_tie_break(discharge, TIE_BREAK_EUR_MWH * dt * weights)


def degradation_block(lp: LinearProgram, bats: list[Battery], charge, discharge, dt: float) -> None:
    """Wear: a cost per MWh discharged (degradation, throughput, full cycles) and per MWh charged
    (throughput)."""
    for cols, attr in ((discharge, "discharge_cost_eur_mwh"), (charge, "charge_cost_eur_mwh")):
        cost = _battery_arrays(bats, attr) * dt
        if np.any(cost):
            lp.add_cost(cols, np.broadcast_to(cost, cols.shape))


def limits_block(lp: LinearProgram, bats: list[Battery], on_grid: list, charge, discharge, soc) -> None:
    """Time-varying limits (`Battery.limits`) as rows of their own family, so that an outage or an
    SoC window that cannot hold is named as such; only where they are tighter than the ratings."""
    for i, (b, g) in enumerate(zip(bats, on_grid)):
        if g is None:
            continue
        e = b.energy_mwh
        for name, cols, values, rated, side in (
                ("charge", charge, g.charge_mw, b.charge_mw, "hi"),
                ("discharge", discharge, g.discharge_mw, b.discharge_mw, "hi"),
                ("soc_min", soc, g.soc_lo_mwh, e * b.soc_min, "lo"),
                ("soc_max", soc, g.soc_hi_mwh, e * b.soc_max, "hi")):
            t = np.flatnonzero(values < rated - 1e-12 if side == "hi" else values > rated + 1e-12)
            if t.size:
                lp.add_rows(f"limit_{name}[{b.id}]", "limits", t.size, [(None, cols[i, t], 1.0)],
                            **{side: values[t]}, t=t)


def joint_power_block(lp: LinearProgram, bats: list[Battery], charge, discharge) -> None:
    """charge / charge_mw + discharge / discharge_mw <= 1 per interval, for the batteries that ask:
    the LP's answer to "no simultaneous charge and discharge" at full power, without binaries."""
    T = charge.shape[1]
    for i, b in enumerate(bats):
        if b.joint_power_limit:
            lp.add_rows(f"joint_power[{b.id}]", "joint_power", T,
                        [(None, charge[i], 1.0 / b.charge_mw), (None, discharge[i], 1.0 / b.discharge_mw)], hi=1.0,
                        axes=("t",), shape=(T,))


def cycle_limit_block(lp: LinearProgram, bats: list[Battery], discharge, day_of: np.ndarray, dt: float,
                      discharged_mwh: np.ndarray | None = None) -> None:
    """Discharged energy per local day <= cycles/day x usable energy.

    A partial day at the window's edge gets its share of the limit; but when `discharged_mwh`
    says what the batteries already discharged earlier on the first day (a re-plan at noon), the
    first day gets the whole day's limit less that.
    """
    T = day_of.size
    n_days = int(day_of.max()) + 1
    share = np.minimum(np.bincount(day_of, minlength=n_days) / (24.0 / dt), 1.0)
    if discharged_mwh is not None:
        share[0] = 1.0
    for i, b in enumerate(bats):
        if b.max_cycles_per_day is None:
            continue
        limit = b.max_cycles_per_day * b.usable_mwh * share
        if discharged_mwh is not None:
            limit[0] = max(limit[0] - discharged_mwh[i], 0.0)
        lp.add_rows(f"cycle_limit[{b.id}]", "cycle_limit", n_days, [(day_of, discharge[i], np.full(T, dt))],
                    hi=limit)


def reserve_block(lp: LinearProgram, bats: list[Battery], product: str, block_of: np.ndarray,
                  price: np.ndarray, dt: float, weights: np.ndarray) -> np.ndarray:
    """Capacity held per bid block, paid price x MW x hours; bounded by the power it needs."""
    p = PRODUCTS[product]
    n_blocks = int(block_of.max()) + 1
    cap = np.array([min(b.charge_mw if p.provides_down else INF, b.discharge_mw if p.provides_up else INF)
                    for b in bats])[:, None]
    pay = np.bincount(block_of, weights=price * dt, minlength=n_blocks)
    cols = lp.add_vars(f"reserve_{product}", (len(bats), n_blocks), ("asset", f"block_{product}"), 0.0, cap,
                       cost=-np.broadcast_to(pay, (len(bats), n_blocks)))
    held = np.stack([np.bincount(block_of, weights=w * dt, minlength=n_blocks) for w in weights])
    lp.add_tie_break(cols, TIE_BREAK_EUR_MWH * held)
    return cols


def _per_interval(bats: list[Battery], on_grid: list, T: int) -> dict[str, np.ndarray]:
    """Power ratings and SoC bounds per battery and interval (A x T), with the time-varying limits."""
    e = _battery_arrays(bats, "energy_mwh")
    out = {"charge_mw": np.repeat(_battery_arrays(bats, "charge_mw"), T, axis=1),
           "discharge_mw": np.repeat(_battery_arrays(bats, "discharge_mw"), T, axis=1),
           "soc_lo_mwh": np.repeat(e * _battery_arrays(bats, "soc_min"), T, axis=1),
           "soc_hi_mwh": np.repeat(e * _battery_arrays(bats, "soc_max"), T, axis=1)}
    for i, g in enumerate(on_grid):
        if g is not None:
            for name, rows in out.items():
                rows[i] = getattr(g, name)
    return out


def headroom_block(lp: LinearProgram, bats: list[Battery], site: Site, f_reserve: dict, block_of: dict,
                   charge, discharge, soc, soc_start: np.ndarray, dt: float, on_grid: list | None = None) -> None:
    """Reserve headroom: power both ways at each battery and at the POI, and the energy to run a
    full activation for each product's duration from the start and the end of every interval,
    within the ratings and the time-varying limits of each interval."""
    A, T = charge.shape
    dur = {p: site.markets.duration_h(p) for p in f_reserve}
    lim = _per_interval(bats, on_grid or [None] * A, T)
    e_min, e_max = lim["soc_lo_mwh"].ravel(), lim["soc_hi_mwh"].ravel()
    eta_c = _battery_arrays(bats, "charge_efficiency")
    eta_d = _battery_arrays(bats, "discharge_efficiency")

    def reserve_terms(direction: str, coef_of) -> list:
        """One term per reserve product of that direction: its block capacity, per interval."""
        return [(None, r[:, block_of[p]], np.broadcast_to(coef_of(p), (A, T)))
                for p, r in f_reserve.items() if getattr(PRODUCTS[p], f"provides_{direction}")]

    up, down = reserve_terms("up", lambda p: 1.0), reserve_terms("down", lambda p: 1.0)
    # Inside a block the SoC at the start of an interval is the end of the one before, already
    # bounded with the same reserve: start-of-interval rows are needed only where a block begins.
    starts = np.flatnonzero(np.r_[True, np.any([np.diff(b) != 0 for b in block_of.values()], axis=0)])
    soc_at_starts = soc_before(soc_start, soc)[:, starts]
    # the SoC at an interval's start is bounded as the end of the interval before (the first: the ratings)
    e = _battery_arrays(bats, "energy_mwh")
    lo_before = np.concatenate([e * _battery_arrays(bats, "soc_min"), lim["soc_lo_mwh"][:, :-1]], axis=1)
    hi_before = np.concatenate([e * _battery_arrays(bats, "soc_max"), lim["soc_hi_mwh"][:, :-1]], axis=1)
    e_min_starts, e_max_starts = lo_before[:, starts].ravel(), hi_before[:, starts].ravel()

    def at_starts(terms: list) -> list:
        return [(None, cols[:, starts], coefs[:, starts]) for _, cols, coefs in terms]

    if up:
        lp.add_rows("reserve_power_up", "reserve_power", A * T,
                    [(None, discharge, 1.0), (None, charge, -1.0), *up],
                    hi=lim["discharge_mw"].ravel(), axes=("asset", "t"), shape=(A, T))
        energy_up = reserve_terms("up", lambda p: -dur[p] / eta_d)
        lp.add_rows("reserve_energy_up_end", "reserve_energy", A * T, [(None, soc, 1.0), *energy_up], lo=e_min,
                    axes=("asset", "t"), shape=(A, T))
        lp.add_rows("reserve_energy_up_start", "reserve_energy", A * starts.size,
                    [(None, soc_at_starts, 1.0), *at_starts(energy_up)], lo=e_min_starts,
                    axes=("asset", "start"), shape=(A, starts.size))
    if down:
        lp.add_rows("reserve_power_down", "reserve_power", A * T,
                    [(None, charge, 1.0), (None, discharge, -1.0), *down],
                    hi=lim["charge_mw"].ravel(), axes=("asset", "t"), shape=(A, T))
        energy_down = reserve_terms("down", lambda p: dur[p] * eta_c)
        lp.add_rows("reserve_energy_down_end", "reserve_energy", A * T, [(None, soc, 1.0), *energy_down], hi=e_max,
                    axes=("asset", "t"), shape=(A, T))
        lp.add_rows("reserve_energy_down_start", "reserve_energy", A * starts.size,
                    [(None, soc_at_starts, 1.0), *at_starts(energy_down)], hi=e_max_starts,
                    axes=("asset", "start"), shape=(A, starts.size))


def poi_block(lp: LinearProgram, site: Site, f_reserve: dict, block_of: dict, charge, discharge,
              generation=None) -> None:
    """Site net power within the POI limits, including every reserve's activation."""
    A, T = charge.shape
    t_idx = np.broadcast_to(np.arange(T), (A, T))
    up = [(t_idx, r[:, block_of[p]], 1.0) for p, r in f_reserve.items() if PRODUCTS[p].provides_up]
    down = [(t_idx, r[:, block_of[p]], -1.0) for p, r in f_reserve.items() if PRODUCTS[p].provides_down]
    net = [(t_idx, discharge, 1.0), (t_idx, charge, -1.0)]
    if generation is not None:
        net.append((np.broadcast_to(np.arange(T), generation.shape), generation, 1.0))
    lp.add_rows("poi_export", "poi", T, net + up, hi=site.poi.export_mw, axes=("t",), shape=(T,))
    lp.add_rows("poi_import", "poi", T, net + down, lo=-site.poi.import_mw, axes=("t",), shape=(T,))


def intraday_block(lp: LinearProgram, charge, discharge, trade: IntradayTrade, dt: float, weights: np.ndarray,
                   generation=None) -> None:
    """Site-level intraday buy and sell around a fixed day-ahead position."""
    idx = np.flatnonzero(~np.isnan(trade.position_mw))
    A, n = charge.shape[0], idx.size
    buy = lp.add_vars("intraday_buy", (n,), ("t_intraday",), cost=(trade.price[idx] + trade.spread) * dt)
    sell = lp.add_vars("intraday_sell", (n,), ("t_intraday",), cost=-(trade.price[idx] - trade.spread) * dt)
    for cols in (buy, sell):
        lp.add_tie_break(cols, TIE_BREAK_EUR_MWH * dt * weights[idx])
    rows = np.broadcast_to(np.arange(n), (A, n))
    terms = [(rows, discharge[:, idx], 1.0), (rows, charge[:, idx], -1.0), (None, sell, -1.0), (None, buy, 1.0)]
    if generation is not None:
        terms.append((np.broadcast_to(np.arange(n), (generation.shape[0], n)), generation[:, idx], 1.0))
    lp.add_rows("intraday_balance", "intraday", n, terms, lo=trade.position_mw[idx], hi=trade.position_mw[idx])


def generation_block(lp: LinearProgram, gen: Generation, charge, price: np.ndarray, dt: float, weights: np.ndarray,
                     da_price: np.ndarray | None = None):
    """Co-located generation, curtailable down to zero, sold at the day-ahead price plus its premium.

    Energy that charges a battery is not exported, so it earns no premium: `to_battery` carries it
    when a premium is paid or grid charging is not allowed (then the batteries charge only from it).
    `price` values the energy (0 where it is sold already); `da_price` decides where a premium is paid.
    """
    G, T = gen.available_mw.shape
    premium = gen.premium(price if da_price is None else da_price)
    out = lp.add_vars("generation", (G, T), ("generator", "t"), 0.0, gen.available_mw,
                      cost=-(price[None, :] + premium) * dt)
    lp.add_tie_break(out, -TIE_BREAK_EUR_MWH * dt * weights)  # rather generate than curtail for nothing
    if not np.any(premium) and gen.grid_charging:
        return out, None
    to_battery = lp.add_vars("generation_to_battery", (G, T), ("generator", "t"), 0.0, gen.available_mw,
                             cost=premium * dt)
    lp.add_rows("to_battery_within_generation", "generation", G * T, [(None, to_battery, 1.0), (None, out, -1.0)],
                hi=0.0)
    A = charge.shape[0]
    g_rows, a_rows = np.broadcast_to(np.arange(T), (G, T)), np.broadcast_to(np.arange(T), (A, T))
    lp.add_rows("to_battery_within_charging", "generation", T, [(g_rows, to_battery, 1.0), (a_rows, charge, -1.0)],
                hi=0.0)
    if not gen.grid_charging:
        lp.add_rows("no_grid_charging", "generation", T, [(a_rows, charge, 1.0), (g_rows, to_battery, -1.0)], hi=0.0)
    return out, to_battery


def no_simultaneous_block(lp: LinearProgram, bats: list[Battery], charge, discharge) -> None:
    """Binaries: a battery either charges or discharges in an interval (MIP; on request only)."""
    A, T = charge.shape
    u = lp.add_vars("is_charging", (A, T), ("asset", "t"), 0.0, 1.0, integer=True)
    lp.add_rows("charge_if_charging", "no_simultaneous", A * T,
                [(None, charge, 1.0), (None, u, -np.broadcast_to(_battery_arrays(bats, "charge_mw"), (A, T)))], hi=0.0,
                axes=("asset", "t"), shape=(A, T))
    pdis = np.broadcast_to(_battery_arrays(bats, "discharge_mw"), (A, T))
    lp.add_rows("discharge_if_not_charging", "no_simultaneous", A * T,
                [(None, discharge, 1.0), (None, u, pdis)], hi=pdis.ravel(), axes=("asset", "t"), shape=(A, T))


def lock_block(lp: LinearProgram, bats: list[Battery], locks: Locks, charge, discharge, f_reserve: dict,
               generation=None, gen_ids=()) -> None:
    """Fixed commitments as equality rows (family 'locked'), so infeasibility can name them."""
    def add(name: str, n: int, terms: list, values: np.ndarray, dt_h: float = 1.0) -> None:
        if locks.penalty is not None:  # soft: a miss either way costs the penalty
            miss = lp.add_vars(f"{name}_miss", (2, n), ("side", "t"), cost=locks.penalty * dt_h)
            terms = [*terms, (None, miss[0], 1.0), (None, miss[1], -1.0)]
        lp.add_rows(name, "locked", n, terms, lo=values, hi=values)

    index = {b.id: i for i, b in enumerate(bats)}
    gen_index = {g: i for i, g in enumerate(gen_ids)}
    T = charge.shape[1]
    for asset, values in locks.net_mw.items():
        if asset not in index and asset not in gen_index:
            raise ConfigError(f"locks: unknown asset {asset!r}")
        values = np.asarray(values, float)
        if values.shape != (T,):
            # a lock per price interval on a finer grid would silently lock the wrong intervals
            raise ConfigError(f"locks.net_mw[{asset!r}]: {values.size} values, but the window has {T} intervals of "
                              "the optimisation grid (one value per interval; NaN leaves one free)")
        t = np.flatnonzero(~np.isnan(values))
        if not t.size:
            continue
        if asset in gen_index:
            terms = [(None, generation[gen_index[asset], t], 1.0)]
        else:
            i = index[asset]
            terms = [(None, discharge[i, t], 1.0), (None, charge[i, t], -1.0)]
        add(f"locked_net[{asset}]", t.size, terms, values[t])
    for asset, idle in locks.idle.items():
        if asset not in index:
            raise ConfigError(f"locks.idle: unknown battery {asset!r}")
        idle = np.asarray(idle, bool)
        if idle.shape != (T,):
            raise ConfigError(f"locks.idle[{asset!r}]: {idle.size} values, but the window has {T} intervals of the "
                              "optimisation grid (True where the battery neither charges nor discharges)")
        t = np.flatnonzero(idle)
        if t.size:
            i = index[asset]
            lp.add_rows(f"locked_idle[{asset}]", "locked", 2 * t.size,
                        [(None, np.r_[charge[i, t], discharge[i, t]], 1.0)], lo=0.0, hi=0.0)
    for (asset, product), values in locks.reserve_mw.items():
        if product not in f_reserve:
            raise ConfigError(f"locks: product {product!r} is not traded in this run")
        if asset not in index:
            raise ConfigError(f"locks: unknown asset {asset!r}")
        values = np.asarray(values, float)
        blocks = f_reserve[product].shape[1]
        if values.shape != (blocks,):
            raise ConfigError(f"locks.reserve_mw[({asset!r}, {product!r})]: {values.size} values, but the window has "
                              f"{blocks} {product} bid blocks (one value per block; NaN leaves one free)")
        b = np.flatnonzero(~np.isnan(values))
        limit = min(bats[index[asset]].charge_mw if PRODUCTS[product].provides_down else INF,
                    bats[index[asset]].discharge_mw if PRODUCTS[product].provides_up else INF)
        over = b[values[b] > limit + 1e-6]  # commitments from LP solutions carry solver tolerance
        if over.size:
            raise InfeasibleError(
                f"a reserve commitment that cannot be delivered: {product} locked at {values[over[0]]:g} MW "
                f"for {asset} in block {over[0]}, above its {limit:g} MW of power", ["reserve_power"])
        values = np.minimum(values, limit)
        if b.size:
            add(f"locked_{product}[{asset}]", b.size, [(None, f_reserve[product][index[asset], b], 1.0)], values[b])


def build(site: Site, market: MarketPrices, products: tuple[str, ...] | None = None,
          binaries: bool = False, locks: Locks | None = None, calendar: Calendar | None = None,
          intraday: IntradayTrade | None = None, initial_mwh: np.ndarray | None = None,
          discharged_today_mwh: np.ndarray | None = None, final_soc_penalty: float | None = None,
          generation: Generation | None = None, final_mwh: np.ndarray | None = None) -> Formulation:
    """Assemble the whole problem for a site over the market's grid.

    `locks` fixes commitments; `calendar` supplies precomputed blocks and days; `intraday` turns
    intervals with a day-ahead position into intraday trading (their day-ahead price is sunk);
    `initial_mwh` and `discharged_today_mwh` carry the state of a re-plan that starts mid-way;
    `final_soc_penalty` makes the final-SoC rule soft (rolling horizons); `final_mwh` replaces the
    rule with an SoC to end at; `generation` adds co-located PV / wind (available power).
    """
    products = tuple(products or site.markets.products)
    zone = get_zone(site.zone)
    zone.check_products(products)
    market.require(products)
    grid = market.grid
    T, dt = grid.periods, grid.dt_hours
    bats = site.batteries
    lp = LinearProgram()
    charge, discharge, soc, soc_start = battery_block(lp, bats, T, dt, initial_mwh, final_soc_penalty, final_mwh)
    da_price = market.prices["da"]
    if intraday is not None:
        da_price = np.where(np.isnan(intraday.position_mw), da_price, 0.0)  # sold already: sunk
    reserves = [p for p in products if PRODUCTS[p].is_reserve]
    G = len(generation.ids) if generation is not None else 0
    A = len(bats)
    # one row of weights per asset, then per asset and reserve product, per generator and for intraday
    weights = tie_break_weights(grid, A * (1 + len(reserves)) + G + 1)
    energy_block(lp, charge, discharge, da_price, dt, weights[:A])
    degradation_block(lp, bats, charge, discharge, dt)
    limited = [limits.on_grid(b, zone.timezone, grid) for b in bats]
    limits_block(lp, bats, limited, charge, discharge, soc)
    joint_power_block(lp, bats, charge, discharge)
    if any(b.max_cycles_per_day for b in bats):
        days = calendar.days if calendar else grid.local_days(zone.timezone)
        cycle_limit_block(lp, bats, discharge, days, dt, discharged_today_mwh)
    block_of, reserve = {}, {}
    for j, p in enumerate(reserves, start=1):
        block_of[p] = calendar.blocks[p] if calendar else grid.blocks(zone.product_timezone(p), PRODUCTS[p].block_hours)
        reserve[p] = reserve_block(lp, bats, p, block_of[p], market.prices[p], dt, weights[j * A:(j + 1) * A])
    if reserve:
        headroom_block(lp, bats, site, reserve, block_of, charge, discharge, soc, soc_start, dt, limited)
    gen = to_battery = None
    if generation is not None:
        gen, to_battery = generation_block(lp, generation, charge, da_price, dt, weights[-G - 1:-1],
                                           market.prices["da"])
    if gen is not None or sum(b.discharge_mw for b in bats) > site.poi.export_mw \
            or sum(b.charge_mw for b in bats) > site.poi.import_mw:
        # otherwise the battery limits (and per-asset headroom rows) already keep the POI: skip the rows
        poi_block(lp, site, reserve, block_of, charge, discharge, gen)
    if intraday is not None:
        intraday_block(lp, charge, discharge, intraday, dt, weights[-1], gen)
    if binaries:
        no_simultaneous_block(lp, bats, charge, discharge)
    if locks is not None:
        lock_block(lp, bats, locks, charge, discharge, reserve, gen, generation.ids if generation else ())
    f = Formulation(lp, site, market, products, bats, charge, discharge, soc, soc_start, reserve, block_of, gen, to_battery,
                    generation)
    if site.constraints:
        rules.apply(f, zone.timezone)  # the user's own rows, last: they see every column
    return f
