"""PV profiles generated from a location with pvlib: a share of the array's nameplate per interval.

Irradiance is either pvlib's Ineichen clear sky (with the Linke turbidity climatology pvlib ships)
or a user's weather file (`timestamp`, `ghi` in W/m2, optionally `dni` and `dhi`, else split from
GHI by the Erbs model, and `temp_air` in deg C, else 20). The chain, as PVWatts v5 does it: the sun's
position at the middle of each interval, plane-of-array irradiance (Hay-Davies, Perez-free so that
no extra data is needed), the SAPM cell temperature of an open-rack glass module, DC power with a
temperature coefficient, then system losses; the result is clipped to 0..1 of nameplate.
The profile goes through the same checks as every imported series (`read_series`), so it is
stored, listed and used (`profile: scenario:NAME`) exactly like one.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import DataError
from ..timegrid import TimeGrid
from .series import Series, read_series


GAMMA_PDC = -0.0035  # DC power per deg C of cell temperature, crystalline silicon


def pv_profile(system, grid: TimeGrid, base_dir: Path | None = None) -> Series:
    """The output of `system` (a `config.PVLocation`: latitude, longitude, tilt, azimuth,
    altitude_m, losses, weather) on `grid`, as a checked profile Series (column `profile`, 0..1);
    a relative weather file is read from `base_dir`."""
    weather = system.weather
    pvlib, pd = _pvlib()
    mid = grid.timestamps + np.timedelta64(grid.resolution_min * 30, "s")
    times = pd.DatetimeIndex(mid).tz_localize("UTC")
    site = pvlib.location.Location(system.latitude, system.longitude, altitude=system.altitude_m)
    sun = site.get_solarposition(times)
    if weather is None:
        sky = site.get_clearsky(times, model="ineichen", solar_position=sun)
        temp_air = np.full(len(times), 20.0)
        source = (f"pvlib {pvlib.__version__} clear sky at {system.latitude:g} N {system.longitude:g} E, "
                  f"tilt {system.tilt:g}, azimuth {system.azimuth:g}")
    else:
        sky, temp_air = _weather(weather, grid, sun, base_dir, pvlib, pd)
        source = f"pvlib {pvlib.__version__} on {weather} at {system.latitude:g} N {system.longitude:g} E"
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    poa = pvlib.irradiance.get_total_irradiance(
        system.tilt, system.azimuth, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"], sky["dhi"],
        dni_extra=dni_extra, model="haydavies")["poa_global"].fillna(0.0).to_numpy()
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_glass"]
    cell = pvlib.temperature.sapm_cell(poa, temp_air, 1.0, **params)
    dc = pvlib.pvsystem.pvwatts_dc(poa, cell, 1.0, GAMMA_PDC)  # per W of nameplate
    share = np.clip(np.nan_to_num(np.asarray(dc) * (1.0 - system.losses)), 0.0, 1.0).round(6)
    frame = pl.DataFrame({"timestamp": grid.series(), "profile": share})
    with tempfile.TemporaryDirectory() as tmp:  # through the checks every imported profile passes
        path = Path(tmp) / "pv_profile.parquet"
        frame.write_parquet(path)
        s = read_series(path, product="profile")
    return Series(s.frame, s.resolution_min, source, s.report, s.units)


def _weather(ref, grid: TimeGrid, sun, base_dir, pvlib, pd):
    path = Path(ref)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.exists():
        raise DataError(f"weather: {ref}: no such file")
    frame = pl.read_parquet(path) if path.suffix in (".parquet", ".pq") else pl.read_csv(path, try_parse_dates=True)
    missing = {"timestamp", "ghi"} - set(frame.columns)
    if missing:
        raise DataError(f"weather: {ref}: needs columns timestamp and ghi (W/m2); missing {', '.join(sorted(missing))}")
    ts = frame["timestamp"]
    if ts.dtype == pl.String:
        ts = ts.str.to_datetime(time_zone="UTC")
    ts = ts.dt.replace_time_zone("UTC") if ts.dtype.time_zone is None else ts.dt.convert_time_zone("UTC")
    index = pd.DatetimeIndex(ts.dt.replace_time_zone(None).to_numpy()).tz_localize("UTC")
    cols = {c: frame[c].cast(pl.Float64).to_numpy() for c in ("ghi", "dni", "dhi", "temp_air") if c in frame.columns}
    for c, v in cols.items():
        bad = np.flatnonzero(~np.isfinite(v) | ((v < 0) if c != "temp_air" else (np.abs(v) > 70)))
        if bad.size:
            raise DataError(f"weather: {ref}: column {c}: {bad.size} missing or impossible value(s), first in row {bad[0] + 1}")
    data = pd.DataFrame(cols, index=index).sort_index()
    start, end = pd.Timestamp(grid.start).tz_localize("UTC"), pd.Timestamp(grid.end).tz_localize("UTC")
    if data.index[0] > start or data.index[-1] + (data.index[-1] - data.index[-2]) < end:
        raise DataError(f"weather: {ref} covers {data.index[0]} .. {data.index[-1]}, not the window {start} .. {end}")
    times = sun.index
    on = data.reindex(data.index.union(times)).interpolate("time").reindex(times)  # hourly weather onto the grid
    if "dni" not in on or "dhi" not in on:
        split = pvlib.irradiance.erbs(on["ghi"], sun["zenith"], times)
        on["dni"], on["dhi"] = split["dni"], split["dhi"]
    temp_air = on["temp_air"].to_numpy() if "temp_air" in on else np.full(len(times), 20.0)
    return on[["ghi", "dni", "dhi"]], temp_air


def _pvlib():
    try:
        import pandas as pd
        import pvlib
    except ImportError:
        raise DataError("PV profiles from a location need pvlib: pip install 'bess-ray[pv]'") from None
    return pvlib, pd
