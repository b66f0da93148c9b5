"""`optimize()`: one site, one window, one LP over real prices (solved by weeks when that is faster)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..config import Site
from ..data.generation import site_generation
from ..data.market import MarketPrices, load_market_prices
from ..errors import ConfigError, InfeasibleError, SolverError
from ..markets import parse_products
from . import highs, staged
from .blocks import Locks, build
from .diagnose import diagnose, explain
from .result import OptimizationResult, build_result
from .warm import WarmSolver


def _price_frame(prices, start, resolution):
    """A plain sequence of day-ahead prices as a frame on `resolution` intervals from `start`."""
    import numpy as np

    if not isinstance(prices, (list, tuple, np.ndarray)):
        return prices
    values = np.asarray(prices, dtype=float)
    if values.ndim != 1 or not values.size:
        raise ConfigError(f"prices: a sequence must be one EUR/MWh value per interval, got shape {values.shape}")
    if start is None:
        raise ConfigError("prices given as values need start= (the first interval's UTC start) and resolution= "
                          "(their interval length); or pass a file, 'sample:NAME' or a frame with timestamp and da")
    import polars as pl

    from ..timegrid import TimeGrid, parse_resolution, to_utc

    minutes = parse_resolution(resolution)
    grid = TimeGrid(to_utc(start), values.size, minutes)
    return pl.DataFrame({"timestamp": grid.series(), "da": values})


def optimize(site: Site | str | Path | dict, prices=None, *, reserve_prices=None, start=None, end=None,
             resolution: str | int = "15min", products=None, binaries: bool = False,
             backend: str | None = None, pyomo_hook: Callable | None = None, locks: Locks | None = None,
             fill: str | None = None, market: MarketPrices | None = None, threads: int = 1,
             time_limit: float | None = None, warm: WarmSolver | None = None,
             one_lp: bool = False) -> OptimizationResult:
    """Optimise a site's schedule over a window with perfect knowledge of the given prices.

    site: a Site, a YAML path or a dict. prices: day-ahead source (path, 'sample:NAME',
    'scenario:NAME', a polars frame with `timestamp` and `da`). reserve_prices: capacity-price
    sources (`PRODUCT=REF` or a dict). products: a kernel name ('da_plus_fcr_afrr') or a list;
    default: the site's `markets.products`. binaries: forbid simultaneous charge and discharge
    (MIP). backend: 'highs' (direct, fast) or 'pyomo' (the bridge; `pyomo_hook(model)` may add
    constraints); default 'highs', or 'pyomo' when a hook is given (a hook with backend='highs' is
    refused: it would never be called). prices may also be a sequence of EUR/MWh values, one per
    `resolution` interval from `start`. market: prices already on a grid (skips reading files). warm: a WarmSolver kept
    between calls: a problem of the same structure as its last one (another day of the same site)
    only hands over costs and bounds and restarts HiGHS from the last basis. The site's PV and wind
    are dispatched with the batteries: curtailable, sold at the day-ahead price plus their feed-in
    premium (none on the energy that charges a battery), within the POI.
    A window of four weeks or more (batteries and markets, LP, no time limit) is solved by weeks
    joined into the one LP (`optimization.staged`, which keeps its own warm chain; `warm` is then
    unused): the same optimum, 2-5x faster; `threads` then solves that many runs of weeks side by side. `one_lp=True` hands HiGHS the whole LP at once
    (with `threads` HiGHS threads).
    Raises ConfigError, DataError or InfeasibleError with an explanation.
    """
    if backend is None:
        backend = "pyomo" if pyomo_hook is not None else "highs"
    elif pyomo_hook is not None and backend != "pyomo":
        raise ConfigError(f"pyomo_hook needs backend='pyomo' (got backend={backend!r}): the hook edits the Pyomo "
                          "model, which the direct HiGHS path never builds")
    prices = _price_frame(prices, start, resolution)
    base_dir = None
    if isinstance(site, (str, Path)):
        base_dir = Path(site).parent
        site = Site.from_yaml(site)
    elif isinstance(site, dict):
        site = Site.from_dict(site)
    if products is not None:
        site = site.with_products(parse_products(products))
    if market is None:
        if prices is None:
            raise ConfigError("optimize needs prices (a source) or market (prices on a grid)")
        market = load_market_prices(site.zone, site.markets.products, prices, reserve_prices, start, end,
                                    resolution, fill, base_dir)

    generation = site_generation(site, market.grid, None, base_dir)  # PV / wind: None without them
    t0 = time.perf_counter()
    f = build(site, market, site.markets.products, binaries=binaries, locks=locks, generation=generation)
    built = time.perf_counter()
    extra = {"binaries": binaries, "solved_as": "one LP"}
    # a long window by weeks even when a warm solver is offered: the weeks keep their own warm chain
    if backend == "highs" and not one_lp and time_limit is None and staged.stageable(f):
        by_weeks = staged.solve_staged(f, threads)
        if by_weeks is not None and by_weeks.solution.status == "optimal":
            sol = by_weeks.solution
            extra.update(solved_as=f"{by_weeks.stages} weeks joined into one LP", simplex_iterations=sol.iterations)
            return _noted(build_result(f, sol.x, sol.status, built - t0 + by_weeks.build_seconds,
                                       by_weeks.solve_seconds, backend, sol.objective, extra), market)
        # a week that cannot be solved: the one LP decides, and explains an infeasibility
    lp = f.lp.assemble()
    if backend == "highs" and warm is not None:
        build_seconds = time.perf_counter() - t0
        sol = warm.solve(lp)
    elif backend == "highs":
        h = highs.new_highs(threads, time_limit)
        highs.pass_model(h, lp)
        build_seconds = time.perf_counter() - t0
        sol = highs.run(h)
    elif backend == "pyomo":
        from .pyomo_bridge import solve_pyomo

        t_build = time.perf_counter()
        sol, model = solve_pyomo(lp, [b.id for b in f.batteries], pyomo_hook, threads=threads)
        added = getattr(model, "_bess_hook_rows", [])
        if sol.status == "infeasible" and added and highs.solve(lp)[0].status == "optimal":
            # feasible without the user's rows: they are the cause, not the rules diagnose() knows
            raise InfeasibleError(f"site {site.id}: infeasible with the constraints pyomo_hook added "
                                  f"({', '.join(added)}); without them the problem is feasible", ["pyomo_hook"])
        build_seconds = time.perf_counter() - t_build - sol.solve_seconds + (t_build - t0)
    else:
        raise ConfigError(f"backend {backend!r} is not 'highs' or 'pyomo'")

    if sol.status == "infeasible":
        found = diagnose(lp, market.grid.timestamps)
        raise InfeasibleError(f"site {site.id}: " + explain(found), [fam for fam, _ in found])
    if sol.x is None:
        raise SolverError(f"site {site.id}: HiGHS stopped with status {sol.status}")
    return _noted(build_result(f, sol.x, sol.status, build_seconds, sol.solve_seconds, backend, sol.objective,
                               {**extra, "simplex_iterations": sol.iterations}), market)


def _noted(result: OptimizationResult, market: MarketPrices) -> OptimizationResult:
    """The data notes of reading the prices (finer data averaged) in the summary and its description."""
    result.summary["notes"] = list(market.notes)
    return result
