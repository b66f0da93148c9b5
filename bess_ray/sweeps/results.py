"""Reading a sweep's results: rank, filter and group the cases with DuckDB over the Parquet files
of `DIR/results/`, and plot a metric by duration and scenario."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from ..errors import ConfigError

METRICS = ("npv_eur", "revenue_eur", "capture_rate", "profit_eur", "revenue_eur_per_mw_year", "irr", "lcos_eur_mwh")
SHOWN = ("case_id", "site", "scenario", "sizing", "strategy", "variant", "year", "power_mw", "energy_mwh")


def _connect(out: Path) -> duckdb.DuckDBPyConnection:
    folder = Path(out).resolve() / "results"
    if not any(folder.glob("*.parquet")):
        raise ConfigError(f"{out}: no finished cases (results/*.parquet); run `bess-ray sweep SPEC --out {out}`")
    con = duckdb.connect()
    pattern = str(folder / "*.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW cases AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)")
    return con


def default_metric(out: Path) -> str:
    """NPV where the cases have one (simulations), else revenue."""
    con = _connect(out)
    cols = {r[0] for r in con.execute("DESCRIBE cases").fetchall()}
    if "npv_eur" in cols and con.execute("SELECT count(npv_eur) FROM cases").fetchall()[0][0]:
        return "npv_eur"
    return "revenue_eur"


def rank(out: str | Path, by: str | None = None, where: str | None = None, group_by: list[str] | None = None,
         top: int | None = None, ascending: bool | None = None) -> pl.DataFrame:
    """The cases ranked by `by` (default: NPV, else revenue), best first; `where` is a DuckDB SQL
    filter over the result columns ("scenario = 'x' AND duration_h >= 2"); `group_by` aggregates the
    metric per group (count, mean, min, max and the best case)."""
    out = Path(out)
    con = _connect(out)
    cols = [r[0] for r in con.execute("DESCRIBE cases").fetchall()]
    by = by or default_metric(out)
    for name in [by, *(group_by or [])]:
        if name not in cols:
            raise ConfigError(f"{out}: no column {name!r}; columns: {', '.join(cols)}")
    # cost-like metrics rank low first
    order = "ASC" if (ascending if ascending is not None else by == "lcos_eur_mwh") else "DESC"
    filt = f"WHERE {where}" if where else ""
    try:
        if group_by:
            keys = ", ".join(f'"{g}"' for g in group_by)
            best = "arg_min" if order == "ASC" else "arg_max"
            sql = (f'SELECT {keys}, count(*) AS cases, avg("{by}") AS mean_{by}, min("{by}") AS min_{by}, '
                   f'max("{by}") AS max_{by}, {best}(case_id, "{by}") AS best_case FROM cases {filt} '
                   f"GROUP BY {keys} ORDER BY mean_{by} {order} NULLS LAST")
        else:
            shown = [c for c in SHOWN if c in cols] + [m for m in (by, *METRICS) if m in cols]
            shown = list(dict.fromkeys(shown))
            sql = (f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in shown)} FROM cases {filt} "
                   f'ORDER BY "{by}" {order} NULLS LAST')
        if top:
            sql += f" LIMIT {int(top)}"
        frame = con.sql(sql).pl()
    except duckdb.Error as e:
        raise ConfigError(f"{out}: the query failed: {str(e).splitlines()[0]}") from None
    frame = frame.drop([c for c in frame.columns if frame[c].null_count() == frame.height and c != by])
    return frame.with_row_index("rank", offset=1) if not group_by else frame


def plot(out: str | Path, by: str | None = None) -> list[Path]:
    """PNG figures under DIR/plots/: the metric by battery duration, one line per combination of the
    other axes that vary (at most 12 lines; the mean over the rest), and every case as ranked bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    by = by or default_metric(out)
    con = _connect(out)
    labels = [c for c in ("site", "scenario", "strategy", "variant", "year")
              if con.execute(f'SELECT count(DISTINCT "{c}") FROM cases').fetchall()[0][0] > 1]
    while len(labels) > 1 and _combinations(con, labels) > 12:  # keep the plot readable
        labels.pop()
    keys = ", ".join(f'"{c}"' for c in labels)
    frame = con.sql(f'SELECT {keys + ", " if keys else ""}duration_h, avg("{by}") AS v FROM cases '
                    f"GROUP BY ALL ORDER BY {keys + ', ' if keys else ''}duration_h").pl()
    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4))
    groups = frame.group_by(labels, maintain_order=True) if labels else [((), frame)]
    for key, g in groups:
        ax.plot(g["duration_h"], g["v"], marker="o", label=" / ".join(map(str, key)) or by)
    ax.set_xlabel("battery duration (h)")
    ax.set_ylabel(by)
    ax.set_title(f"{by} by duration" + (f", per {' / '.join(labels)}" if labels else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(folder / f"{by}_by_duration.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    ranked = rank(out, by)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.22 * ranked.height + 1)))
    labels = [" / ".join(str(r[c]) for c in ("scenario", "sizing", "strategy", "year") if c in ranked.columns
                         and r[c] is not None) for r in ranked.iter_rows(named=True)]
    ax.barh(labels[::-1], ranked[by].to_list()[::-1])
    ax.set_xlabel(by)
    ax.set_title(f"every case by {by}")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    paths.append(folder / f"{by}_ranking.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _combinations(con, labels: list[str]) -> int:
    keys = ", ".join(f'"{c}"' for c in labels)
    return con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM cases)").fetchall()[0][0]


def format_table(frame: pl.DataFrame, compact: bool = False) -> str:
    """The frame as a text table; `compact` moves columns with one value in every row to a first line."""
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in ("year", "rank") if c in frame.columns)
    header = ""
    if compact and frame.height > 1:
        same = [c for c in frame.columns if c not in ("rank", "case_id") and frame[c].n_unique() == 1]
        header = "all cases: " + ", ".join(f"{c}={frame[c][0]}" for c in same) + "\n" if same else ""
        frame = frame.drop(same)
    with pl.Config(tbl_rows=max(frame.height, 1), tbl_cols=frame.width, tbl_width_chars=250, fmt_str_lengths=40,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, float_precision=2,
                   thousands_separator=",", tbl_formatting="NOTHING", tbl_hide_dtype_separator=True):
        return header + str(frame)
