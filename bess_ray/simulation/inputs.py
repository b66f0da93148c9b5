"""Everything a simulated year needs, read and checked once, as plain picklable data (Ray tasks of
parallel mode get it through the object store)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Battery, Site
from ..data.market import MarketPrices
from ..markets import get_zone
from ..data.generation import Generation
from .battery import Cohort, PlantState
from .config import SimulationConfig
from .degradation import AgingState, model, stress, synthetic_soc
from ..data.generation import site_generation
from .scenarios import HISTORY_DAYS, scenario_prices, simulation_grid


@dataclass
class Inputs:
    cfg: SimulationConfig
    site: Site  # nameplate, trading the strategy's products, with the degradation cost to dispatch by
    market: MarketPrices  # every year, with history before and look-ahead after
    spans: list[tuple[int, int]]  # interval range of each simulated year on market.grid
    generation: Generation | None
    temperature_c: np.ndarray  # per interval of market.grid
    base_dir: Path

    @property
    def history(self) -> int:
        return int(HISTORY_DAYS * 24 * 60 // self.market.grid.resolution_min)

    def year_slice(self, i: int) -> tuple[MarketPrices, Generation | None, np.ndarray, tuple[int, int]]:
        """The prices, generation and temperatures around year i, and the year's window in them."""
        a, b = self.spans[i]
        lo = max(a - self.history, 0)
        hi = min(b + int(np.ceil(self.cfg.strategy.lookahead_h * 60 / self.market.grid.resolution_min)) + 1,
                 self.market.grid.periods)
        market = self.market.window(lo, hi)
        gen = self.generation.window(lo, hi) if self.generation is not None else None
        return market, gen, self.temperature_c[a:b], (a - lo, b - lo)


def prepare(cfg: SimulationConfig, base_dir: Path) -> Inputs:
    """Read the site, build the scenario prices and generation, and fix the degradation cost."""
    site = cfg.load_site(base_dir)
    tz = get_zone(site.zone).timezone
    grid, spans = simulation_grid(cfg.sim_years, tz, cfg.resolution, cfg.strategy.lookahead_h)
    market = scenario_prices(cfg.prices, site.zone, site.markets.products, cfg.sim_years, grid, base_dir)
    gen = site_generation(site, grid, cfg.sim_years, base_dir)
    temps = cfg.battery_model.temperature_c
    if isinstance(temps, (int, float)):
        temperature = np.full(grid.periods, float(temps))
    else:
        month = grid.series().dt.convert_time_zone(tz).dt.month().to_numpy() - 1
        temperature = np.asarray(temps, dtype=float)[month]
    site = with_degradation_cost(site, cfg)
    return Inputs(cfg, site, market, spans, gen, temperature, base_dir)


def expected_week(cfg: SimulationConfig, bat: Battery) -> np.ndarray:
    """A week of SoC under the expected cycling: parallel.expected_cycles_per_day at expected_dod
    (default the SoC window) and the battery's C-rate."""
    return synthetic_soc(cfg.parallel.expected_cycles_per_day, cfg.parallel.expected_dod or (bat.soc_max - bat.soc_min),
                         max(bat.charge_mw, bat.discharge_mw) / bat.energy_mwh)


def degradation_cost_eur_mwh(cfg: SimulationConfig, bat: Battery) -> float:
    """The cycle-ageing cost of discharging one MWh, derived from the life model.

    Replacing the cells costs C (EUR per MWh of nameplate; the finance's replacement cost, else its
    energy capex) and is due once (1 - end_of_life_soh) of the capacity is gone. Under the expected
    cycling (parallel.expected_cycles_per_day at expected_dod, C-rate = power / energy, at the mean
    cell temperature) the life model gives the cycle fade q_cyc after the simulated years and the
    full equivalent cycles N that caused it. One MWh discharged is 1 / (E x SoH) cycles, so it costs

        C x (q_cyc / N) / ((1 - end_of_life_soh) x SoH_mean)   EUR/MWh.

    Only cycle fade counts: calendar fade happens whether the battery trades or not.
    """
    bm, fin = cfg.battery_model, cfg.finance
    c = 1000.0 * (fin.replacement_cost_eur_per_kwh or fin.capex_eur_per_kwh)
    if c == 0:
        return 0.0
    m = model(bm.chemistry)
    temp = float(np.mean(bm.temperature_c))
    week = expected_week(cfg, bat)
    state = AgingState()
    sohs = []
    for _ in range(cfg.years * 52):
        state = m.advance(state, stress(week, 0.25, temp, state.soh))
        sohs.append(state.soh)
    if state.efc <= 0:
        return 0.0
    return c * (state.cycle / state.efc) / ((1.0 - bm.end_of_life_soh) * float(np.mean(sohs)))


def with_degradation_cost(site: Site, cfg: SimulationConfig) -> Site:
    setting = cfg.battery_model.degradation_cost
    if setting == "site":
        return site
    assets = [a.model_copy(update={"degradation_cost_eur_mwh": float(setting) if not isinstance(setting, str)
                                   else degradation_cost_eur_mwh(cfg, a)}) if isinstance(a, Battery) else a
              for a in site.assets]
    return site.model_copy(update={"assets": assets})


def initial_state(site: Site, cfg: SimulationConfig) -> PlantState:
    bats = site.batteries
    soh = cfg.battery_model.initial_soh
    cohorts = [[Cohort(b.energy_mwh, AgingState(calendar=1.0 - soh))] for b in bats]  # used cells: fade so far
    return PlantState(np.array([b.energy_mwh * soh * b.soc_initial for b in bats]), cohorts)


def projected_states(inputs: Inputs) -> list[PlantState]:
    """Parallel mode: the state each year starts from, projected from the expected cycling with the
    life model and the replacement policy applied at year ends."""
    cfg, site = inputs.cfg, inputs.site
    bm = cfg.battery_model
    m = model(bm.chemistry)
    state = initial_state(site, cfg)
    out = []
    for i in range(cfg.years):
        soc = state.capacity_mwh() * np.array([b.soc_initial for b in site.batteries])
        out.append(PlantState(soc, [[Cohort(c.mwh, c.aging) for c in cs] for cs in state.cohorts]))
        a, b = inputs.spans[i]
        temp = float(inputs.temperature_c[a:b].mean())
        for j, bat in enumerate(site.batteries):
            week = expected_week(cfg, bat)
            for cohort in state.cohorts[j]:
                for _ in range(52):
                    cohort.aging = m.advance(cohort.aging, stress(week, 0.25, temp, cohort.aging.soh))
            soh = sum(c.mwh * c.aging.soh for c in state.cohorts[j]) / bat.energy_mwh
            if soh < bm.end_of_life_soh and bm.replacement == "replace":
                state.cohorts[j] = [Cohort(bat.energy_mwh)]
            elif soh < bm.end_of_life_soh and bm.replacement == "augment":
                state.cohorts[j].append(Cohort((bm.augment_to_soh - soh) * bat.energy_mwh))
    return out
