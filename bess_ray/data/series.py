"""Reading market and profile series into polars with UTC interval starts and canonical units.

Canonical units: EUR/MWh for energy prices ('da'), EUR/MW/h for capacity prices (one column per
reserve product: 'fcr', 'afrr_up', ...), and plain numbers for profiles ('profile').

A series is referenced as a file path (CSV or Parquet), `sample:NAME` (bundled real data) or
`scenario:NAME` (the scenario store). Recognised layouts besides a plain `timestamp,value` table:
regelleistung.net FCR tender results, Energinet FCR-N/FCR-D, and the long Nordic zones format.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import DataError
from ..markets import PRODUCTS, get_zone
from . import quality
from .samples import sample_path

TIME_COLUMNS = ("timestamp_utc", "timestamp", "time", "datetime", "date_from", "start", "hourutc", "")


@dataclass
class Series:
    """A checked series: `frame` has `timestamp`, `end` (UTC) and one column per quantity."""

    frame: pl.DataFrame
    resolution_min: int
    source: str
    report: quality.DataReport
    units: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in ("timestamp", "end")]

    def values(self, column: str) -> np.ndarray:
        return self.frame[column].to_numpy()


# ---------------------------------------------------------------------------------------- units
def parse_unit(text: str) -> tuple[str, str | None]:
    """Split a column name like 'price_eur_mwh' or 'DE_..._PRICE_[EUR/MW]' into (name, unit).

    Units: 'eur_mwh', 'eur_kwh', 'eur_mw_h' (capacity per MW per hour), 'eur_mw_block' (per MW per
    block), or a foreign currency ('dkk', ...), which the caller rejects.
    """
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    patterns = [
        (r"_?(eur|dkk|sek|nok|usd|gbp|pln|chf)_mwh$", "{}_mwh"),
        (r"_?(eur|dkk|sek|nok|usd|gbp|pln|chf)_mw_(h|per_h|hour)$", "{}_mw_h"),
        (r"_?(eur|dkk|sek|nok|usd|gbp|pln|chf)_kwh$", "{}_kwh"),
        (r"_?(ct|cent)_kwh$", "ct_kwh"),
        (r"_?(eur|dkk|sek|nok|usd|gbp|pln|chf)_mw(_block|_4h)?$", "{}_mw_block"),
        (r"_?price(eur|dkk|sek|nok)$", "{}_mw_h"),  # Energinet: FCR_N_PriceEUR is per MW per hour
    ]
    for pat, unit in patterns:
        m = re.search(pat, s)
        if m:
            return s[: m.start()] or "price", unit.format(m.group(1))
    return s, None


def to_canonical(values: pl.Expr, unit: str | None, product: str, block_hours: pl.Expr | None) -> pl.Expr:
    """Convert a price column to the canonical unit of its product, or raise naming the unit."""
    if unit is None or product == "profile":
        return values
    currency = unit.split("_")[0]
    if currency not in ("eur", "ct"):
        raise DataError(f"unit {unit!r}: prices must be in EUR; convert the column or pick its EUR twin")
    is_energy = not PRODUCTS[product].is_reserve
    if is_energy:
        factor = {"eur_mwh": 1.0, "eur_kwh": 1000.0, "ct_kwh": 10.0}.get(unit)
        if factor is None:
            raise DataError(f"unit {unit!r} is a capacity price; {product} needs an energy price in EUR/MWh")
        return values * factor
    if unit == "eur_mw_h":
        return values
    if unit == "eur_mw_block":
        return values / block_hours
    raise DataError(f"unit {unit!r} is an energy price; {product} needs a capacity price in EUR/MW/h or EUR/MW per block")


# ---------------------------------------------------------------------------------------- layouts
def _read_table(path: Path) -> pl.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path)
    head = path.read_bytes()[:4096].decode("utf-8-sig", errors="replace").splitlines()[0]
    sep = ";" if head.count(";") > head.count(",") else ","
    return pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8-lossy")


def _parse_time(col: pl.Series, tz: str | None) -> tuple[pl.Series, pl.Series]:
    """Text or datetime column -> (UTC instants, wall-clock times the spacing is regular in)."""
    if col.dtype == pl.String:
        text = col.str.strip_chars().str.replace(r"Z$", "+00:00").str.replace(" ", "T")
        has_offset = bool(text.drop_nulls().head(50).str.contains(r"[+-]\d\d:?\d\d$").any())
        if has_offset:
            parsed = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_unit="us")
            if parsed.null_count() > col.null_count():
                parsed = text.str.to_datetime(strict=False, time_unit="us", time_zone="UTC")
        else:
            parsed = text.str.to_datetime(strict=False, time_unit="us")
    else:
        parsed = col.cast(pl.Datetime("us", col.dtype.time_zone if isinstance(col.dtype, pl.Datetime) else None))
    if parsed.dtype.time_zone is not None:
        utc = parsed.dt.convert_time_zone("UTC")
        return utc, utc.dt.replace_time_zone(None)
    if tz:  # naive local clock times
        local = parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        return local.dt.convert_time_zone("UTC"), parsed
    return parsed.dt.replace_time_zone("UTC"), parsed


def _regelleistung(raw: pl.DataFrame, zone: str | None) -> tuple[pl.DataFrame, dict]:
    """FCR cooperation tender results: one row per 4-h block, price per MW per block, CET/CEST."""
    if not zone:
        raise DataError("an FCR tender-results file holds several countries: say which zone (zone=...)")
    country = get_zone(zone).fcr_country
    col = next((c for c in raw.columns if c.upper().startswith(f"{country}_SETTLEMENTCAPACITY_PRICE")), None)
    if country is None or col is None:
        raise DataError(f"the FCR tender results have no price column for zone {zone}")
    start_h = raw["PRODUCTNAME"].str.extract(r"_(\d\d)_\d\d$").cast(pl.Int64)
    local = raw.select(pl.col("DATE_FROM").str.to_datetime("%d-%m-%Y", strict=False, time_unit="us")
                       + pl.duration(hours=start_h)).to_series()
    demand = next((c for c in raw.columns if c.upper().startswith(f"{country}_DEMAND")), None)
    out = pl.DataFrame({"row": raw["row"], "time": local.dt.strftime("%Y-%m-%dT%H:%M:%S"),
                        "fcr": raw[col].replace("-", None),
                        "demand": raw[demand].replace("-", None).cast(pl.Float64, strict=False) if demand else 1.0})
    # a repeat tender that procured nothing (demand 0 or '-') is not a price for the block
    out = out.filter(pl.col("fcr").is_not_null() & (pl.col("demand") > 0)).drop("demand")
    return out, {"time_col": "time", "tz": "Europe/Berlin", "columns": {"fcr": ("fcr", "eur_mw_block")}}


def _energinet(raw: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Energinet FCR-N / FCR-D: newest row first by design, HourUTC in UTC, EUR and DKK columns."""
    cols = {"FCR_N_PriceEUR": "fcr_n", "FCR_D_UpPriceEUR": "fcr_d_up", "FCR_D_DownPriceEUR": "fcr_d_down"}
    present = {k: v for k, v in cols.items() if k in raw.columns}
    out = raw.select("row", pl.col("HourUTC").alias("time"), *[pl.col(k).alias(v) for k, v in present.items()])
    out = out.sort("time")  # the publisher's order is descending; sorting is part of this layout
    return out, {"time_col": "time", "tz": None, "columns": {v: (v, "eur_mw_h") for v in present.values()}}


def _nordic_long(raw: pl.DataFrame, zone: str | None) -> tuple[pl.DataFrame, dict]:
    """ENTSO-E export of several zones in long format: `,0,country_code` with local offsets."""
    if not zone:
        raise DataError("a multi-zone price file needs the zone to pick (zone=...)")
    code = get_zone(zone).code
    key = {"DK1": "DK_1", "DK2": "DK_2", **{f"SE{i}": f"SE_{i}" for i in range(1, 5)},
           **{f"NO{i}": f"NO_{i}" for i in range(1, 6)}}.get(code, code)
    _, time_col, price_col, zone_col = raw.columns
    out = raw.filter(pl.col(zone_col) == key).select("row", pl.col(time_col).alias("time"),
                                                     pl.col(price_col).alias("da"))
    if out.height == 0:
        raise DataError(f"the multi-zone price file has no rows for zone {code} (looked for {key!r})")
    return out, {"time_col": "time", "tz": None, "columns": {"da": ("da", "eur_mwh")}}


def _generic(raw: pl.DataFrame, product: str | None, column: str | None, unit: str | None) -> tuple[pl.DataFrame, dict]:
    lower = {c.lower().lstrip("\ufeff"): c for c in raw.columns}
    time_col = next((lower[n] for n in TIME_COLUMNS if n in lower), raw.columns[1])
    value_cols = [c for c in raw.columns if c not in ("row", time_col)]
    if column is not None:
        if column not in value_cols:
            raise DataError(f"no column {column!r}; the file has {', '.join(value_cols)}")
        value_cols = [column]
    columns: dict[str, tuple[str, str | None]] = {}
    for c in value_cols:
        name, col_unit = parse_unit(c)
        target = product if (product and len(value_cols) == 1) else name
        if target in ("price", "value", "da_price", "day_ahead", "dayahead"):
            target = product or "da"
        if target not in PRODUCTS and target != "profile":
            continue  # not a price column (demand, volumes, DKK twins ...)
        columns[c] = (target, unit or col_unit)
    if not columns:
        raise DataError(f"found no price column in {', '.join(value_cols)}; name it after a product "
                        f"({', '.join(PRODUCTS)}) with a unit suffix such as _eur_mwh or _eur_mw_h, or pass product=")
    return raw, {"time_col": time_col, "tz": None, "columns": columns}


# ---------------------------------------------------------------------------------------- entry point
RESTAMP = re.compile(r"(.+)@(?:(\d{4}):)?(\d{4})")  # REF@YEAR or REF@FROM:TO


def split_product(entry) -> tuple[str | None, object]:
    """'PRODUCT=REF' -> (PRODUCT, REF); anything else -> (None, entry)."""
    if isinstance(entry, str) and "=" in entry.split(":")[0]:
        product, ref = entry.split("=", 1)
        return product.strip(), ref.strip()
    return None, entry


def base_ref(entry: str) -> str:
    """A reference without its `PRODUCT=` prefix and `@YEAR` re-stamp: 'sample:NAME', 'scenario:NAME'
    or a path."""
    ref = str(split_product(entry)[1])
    m = RESTAMP.fullmatch(ref)
    return m.group(1) if m else ref


def resolve(ref: str | Path, base_dir: Path | None = None) -> tuple[Path | None, dict, str]:
    """Reference -> (path or None for a stored scenario, default options, display name).

    A suffix `@YEAR` (or `@FROM:TO`) re-stamps the series' year onto another year, see
    `transforms.restamp_year`: `sample:FCR_2021@2023`.
    """
    text = str(ref)
    m = RESTAMP.fullmatch(text)
    if m:
        path, opts, _ = resolve(m.group(1), base_dir)
        opts["restamp"] = (int(m.group(2)) if m.group(2) else None, int(m.group(3)))
        return path, opts, text
    if text.startswith("sample:"):
        path, opts = sample_path(text.removeprefix("sample:"))
        return path, opts, text
    if text.startswith("scenario:"):
        return None, {}, text
    path = Path(text)
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = base_dir / path
    if not path.is_file():
        raise DataError(f"{text}: no such file")
    return path, {}, text


def read_series(ref: str | Path, *, product: str | None = None, column: str | None = None,
                unit: str | None = None, tz: str | None = None, zone: str | None = None,
                fill: str | None = None, base_dir: Path | None = None) -> Series:
    """Read, convert and check one series; raise DataError listing the affected rows.

    `product` names the quantity of a one-column file ('da', 'fcr', 'afrr_up', ..., or 'profile');
    `unit` overrides the unit read from the column name; `tz` says naive times are local clock times
    in that zone (default: naive times are UTC); `zone` picks a country or zone from multi-zone files;
    `fill` ('ffill', 'linear', 'zero') fills gaps and NaN instead of failing on them.
    """
    known = _memo.get()
    if known is None:
        return _read(*resolve(ref, base_dir), product, column, unit, tz, zone, fill)
    # keyed on the reference as written, so a worker answers without the file being on its node
    key = (str(ref), str(base_dir), product, column, unit, tz, zone, fill)
    if key not in known:
        known[key] = _read(*resolve(ref, base_dir), product, column, unit, tz, zone, fill)
    return known[key]


# A sweep reads each series once in the driver and ships the memo to its workers (see `memo`). A
# context variable, so that sweeps running side by side in threads (the API's jobs) keep their own.
_memo: ContextVar[dict | None] = ContextVar("series_memo", default=None)


@contextmanager
def memo(series: dict | None = None):
    """Within this block, `read_series` answers repeated reads from one dict (returned), filling it
    as it reads; pass a dict already filled (e.g. in a sweep worker) to answer from it."""
    token = _memo.set({} if series is None else series)
    try:
        yield _memo.get()
    finally:
        _memo.reset(token)


_stored: ContextVar = ContextVar("stored_scenarios", default=None)
_scenario_reader = None  # name -> Series: the store's, handed in by the package (data/ never imports store/)


def use_scenario_reader(read) -> None:
    """Read `scenario:NAME` sources with `read(name) -> Series` (`bess_ray` hands in the store's)."""
    global _scenario_reader
    _scenario_reader = read


@contextmanager
def stored_scenarios(load):
    """Within this block, a stored scenario is first asked of `load(name)` (a Series, or None to read
    it from the store): the API's in-memory scenario cache."""
    token = _stored.set(load)
    try:
        yield
    finally:
        _stored.reset(token)


def _read(path, defaults, source, product, column, unit, tz, zone, fill) -> Series:
    if path is None:
        name = base_ref(source).removeprefix("scenario:")
        loader = _stored.get()
        series = (loader and loader(name)) or _scenario_reader(name)
        return _restamped(series, defaults.get("restamp"), zone, source)
    product = product or defaults.get("product")
    column = column or defaults.get("column")
    unit = unit or defaults.get("unit")
    tz = tz or defaults.get("tz")
    fill = fill or defaults.get("fill")
    if product is not None and product not in PRODUCTS and product != "profile":
        raise DataError(f"unknown product {product!r}; known: {', '.join(PRODUCTS)}, profile")
    try:
        raw = _read_table(path)
    except Exception as e:  # polars / pyarrow parse errors
        raise DataError(f"{source}: cannot read the file: {e}") from None
    raw = raw.rename({c: c.lstrip("\ufeff") for c in raw.columns}).with_row_index("row", offset=2)
    raw = raw.with_columns(pl.col("row").cast(pl.Int64))
    if "PRODUCTNAME" in raw.columns:
        table, layout = _regelleistung(raw, zone)
    elif "HourUTC" in raw.columns and "FCR_N_PriceEUR" in raw.columns:
        table, layout = _energinet(raw)
    elif len(raw.columns) == 4 and raw.columns[1] == "" and raw.columns[3] == "country_code":
        table, layout = _nordic_long(raw, zone)
    else:
        table, layout = _generic(raw, product, column, unit)
    tz = layout["tz"] or tz

    ts, wall = _parse_time(table[layout["time_col"]], tz)
    res = _resolution(wall)
    end_wall = wall + timedelta(minutes=res)
    end = end_wall.dt.replace_time_zone(tz, ambiguous="latest", non_existent="null").dt.convert_time_zone("UTC") \
        if tz else end_wall.dt.replace_time_zone("UTC")
    frame = pl.DataFrame({"row": table["row"], "timestamp": ts, "wall": wall, "end": end})
    block_hours = (pl.col("end") - pl.col("timestamp")).dt.total_minutes() / 60.0
    units = {}
    for col, (target, col_unit) in layout["columns"].items():
        values = table[col].cast(pl.Float64, strict=False) if table[col].dtype == pl.String else table[col].cast(pl.Float64)
        unparsable = values.is_null() & table[col].is_not_null() & (table[col].cast(pl.String).str.strip_chars() != "")
        if unparsable.any():
            rows = table["row"].filter(unparsable).to_list()
            raise DataError(f"{source}: column {col!r} has text that is not a number at rows {rows[:8]}")
        frame = frame.with_columns(values.alias(target))
        frame = frame.with_columns(to_canonical(pl.col(target), col_unit, target, block_hours).alias(target))
        units[target] = _canonical_unit(target)
    value_cols = list(units)
    zone_tz = tz or (get_zone(zone).timezone if zone else None)
    report = quality.check(frame, value_cols, source, zone_tz, res)
    report.issues.extend(_plausibility(frame, value_cols))
    if not report.ok and fill and all(i.kind in ("gap", "nan") for i in report.issues):
        clean, n = quality.fill(frame.drop("wall", "row", "end"), value_cols, res, fill)
        frame = clean.with_columns(end=pl.col("timestamp") + pl.duration(minutes=res))
        report = quality.DataReport(source, report.rows, res, [], filled=n)
    report.raise_if_bad("Fix the file, or for gaps and NaN pass a fill policy (--fill ffill|linear|zero).")
    frame = frame.select("timestamp", "end", *value_cols)
    return _restamped(Series(frame, res, source, report, units), defaults.get("restamp"), zone or None, source)


def _restamped(series: Series, restamp, zone: str | None, source: str) -> Series:
    if not restamp:
        return series
    from .transforms import restamp_year

    tz = get_zone(zone).timezone if zone else "UTC"
    frame = restamp_year(series.frame, restamp[1], restamp[0], tz)
    return Series(frame, series.resolution_min, source, series.report, series.units)


def _resolution(wall: pl.Series) -> int:
    steps = wall.drop_nulls().diff().dt.total_minutes().drop_nulls()
    steps = steps.filter(steps > 0)
    if steps.len() == 0:
        raise DataError("a series needs at least two distinct timestamps")
    return int(steps.mode().min())


def _canonical_unit(product: str) -> str:
    if product == "profile":
        return "1"
    return "EUR/MW/h" if PRODUCTS[product].is_reserve else "EUR/MWh"


def _plausibility(frame: pl.DataFrame, value_cols: list[str]) -> list[quality.DataIssue]:
    """Catch prices in the wrong unit: EUR/kWh day-ahead prices look like numbers below 1."""
    issues = []
    if "da" in value_cols:
        vals = frame["da"].drop_nulls().drop_nans()
        if vals.len() > 24 and float(vals.abs().quantile(0.9)) < 1.0:
            issues.append(quality.DataIssue(
                "unit", (), "day-ahead prices are almost all below 1: EUR/kWh instead of EUR/MWh? "
                "Name the column ..._eur_kwh or pass unit='eur_kwh'"))
    return issues
