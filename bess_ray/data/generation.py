"""Co-located PV / wind: the available power of a site's generators on a grid, and the premium
they earn. A generator's output is a share of its capacity from a profile (a file, a sample, a
stored scenario), a wind-speed series through its power curve, or a PV location through pvlib."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .. import exact
from ..errors import DataError
from ..markets import get_zone
from ..timegrid import TimeGrid, iso
from .market import align, align_frames
from .series import Series, read_series
from .transforms import restamp_year


@dataclass
class Generation:
    """Co-located PV / wind behind the POI: available power per generator and interval (MW), and
    the feed-in premium (EUR/MWh) paid on generation that is exported; `premium_when_negative`
    False means no premium in intervals with a negative day-ahead price (EEG 2023 section 51).
    Without `grid_charging` the batteries may only charge from the generators."""

    ids: list[str]
    available_mw: np.ndarray
    premium_eur_mwh: np.ndarray  # one per generator
    premium_when_negative: np.ndarray  # one bool per generator
    grid_charging: bool = True

    def window(self, start: int, stop: int) -> "Generation":
        return Generation(self.ids, self.available_mw[:, start:stop], self.premium_eur_mwh,
                          self.premium_when_negative, self.grid_charging)

    def energy_mwh(self, generated: np.ndarray, into_batteries: np.ndarray, dt: float) -> dict[str, dict]:
        """Each generator's MWh over the window: available, generated, curtailed, into the batteries,
        exported (generated and into_batteries: MW per generator and interval)."""
        return {g: {"available_mwh": float(self.available_mw[j].sum() * dt),
                    "generated_mwh": float(generated[j].sum() * dt),
                    "curtailed_mwh": float((self.available_mw[j] - generated[j]).sum() * dt),
                    "into_batteries_mwh": float(into_batteries[j].sum() * dt),
                    "exported_mwh": float((generated[j] - into_batteries[j]).sum() * dt)}
                for j, g in enumerate(self.ids)}

    def premium(self, price: np.ndarray) -> np.ndarray:
        """Premium per generator and interval at these prices."""
        paid = self.premium_when_negative[:, None] | (price >= 0)[None, :]
        return np.where(paid, self.premium_eur_mwh[:, None], 0.0)



def _share_series(gen, base_dir: Path | None, grid: TimeGrid) -> tuple[Series, str]:
    """A generator's (`config.PV` or `config.Wind`) output as a share of capacity (0..1), and the
    config field it came from."""
    if gen.type == "wind" and gen.wind_speed is not None:
        s = read_series(gen.wind_speed, product="profile", base_dir=base_dir)
        speeds, shares = np.array(gen.power_curve).T
        frame = s.frame.with_columns(pl.Series("profile", np.interp(s.values("profile"), speeds, shares)))
        return Series(frame, s.resolution_min, s.source, s.report), "wind_speed"
    if gen.type == "pv" and gen.location is not None:
        from .pv import pv_profile  # pvlib is imported only for a site that asks

        return pv_profile(gen.location, grid, base_dir), "location"
    s = read_series(gen.profile, product="profile", base_dir=base_dir)
    v = s.values("profile")
    if v.size and (v.min() < -1e-9 or v.max() > 1.0 + 1e-9):
        raise DataError(f"assets.{gen.id}.profile: values must be shares of capacity within 0..1 "
                        f"(found {v.min():g}..{v.max():g})")
    return s, "profile"


def site_generation(site, grid: TimeGrid, years: list[int] | None = None, base_dir: Path | None = None) -> Generation | None:
    """Available power of each generator of a `config.Site` on the grid (MW); None without any. A
    profile must cover the grid, or hold a whole year that is then repeated (re-stamped) onto every
    year the grid touches; PV output loses `degradation_per_year` each year after `years[0]`."""
    gens = site.generators
    if not gens:
        return None
    tz = get_zone(site.zone).timezone
    first_year = years[0] if years else int(str(grid.timestamps[0])[:4])
    ts_years = grid.series().dt.convert_time_zone(tz).dt.year().to_numpy()
    rows = []
    for g in gens:
        series, field = _share_series(g, base_dir, grid)
        try:
            share = align(series, "profile", grid)
        except DataError:
            frame = series.frame
            span = (frame["end"][-1] - frame["timestamp"][0]).total_seconds() / 86400
            if span < 364:
                raise DataError(f"assets.{g.id}.{field}: {series.source} covers {span:.0f} days "
                                f"({iso(frame['timestamp'][0].replace(tzinfo=None))}..{iso(frame['end'][-1].replace(tzinfo=None))}), "
                                f"shorter than the horizon {iso(grid.start)}..{iso(grid.end)}; give the whole horizon "
                                "or one whole year to repeat") from None
            share = align_frames([restamp_year(frame, y, None, tz) for y in sorted(set(ts_years.tolist()))],
                             series, "profile", grid)
        fade = exact.integer_powers(1.0 - g.degradation_per_year, np.maximum(ts_years - first_year, 0))
        rows.append(np.clip(share * g.profile_scale, 0.0, 1.0) * g.capacity_mw * fade)
    return Generation([g.id for g in gens], np.array(rows),
                      np.array([g.feed_in_premium_eur_mwh for g in gens]),
                      np.array([g.premium_when_negative for g in gens]), site.grid_charging)
