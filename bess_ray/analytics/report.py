"""One self-contained HTML report: figures embedded, numbers in tables."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import polars as pl

from .. import artifacts


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _table(frame: pl.DataFrame, money: bool = True) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for r in frame.iter_rows():
        cells = "".join(f"<td>{v:,.0f}</td>" if isinstance(v, float) and money else f"<td>{html.escape(str(v))}</td>"
                        for v in r)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(path: Path, summary: dict, monthly: pl.DataFrame, figures: list[Path]) -> Path:
    s = summary
    kpis = [("realised revenue", f"{s['revenue_eur']:,.0f} EUR"),
            ("oracle revenue (perfect foresight, same engine)",
             f"{s['oracle_revenue_eur']:,.0f} EUR" if s.get("oracle_revenue_eur") is not None else "n/a"),
            ("capture rate", f"{s['capture_rate']:.1%}" if s.get("capture_rate") is not None else "n/a")]
    kpis += [(f"baseline {k}", f"{v:,.0f} EUR") for k, v in s["baselines_revenue_eur"].items()]
    kpis += [(f"stream {k}", f"{v:,.0f} EUR") for k, v in s["revenue_by_stream_eur"].items()]
    kpis += [("equivalent full cycles", f"{s['cycles']['equivalent_full_cycles']:.1f}"),
             ("rainflow cycles", f"{s['cycles']['rainflow_cycles']:.1f}")]
    if s.get("operable"):
        o = s["operable"]
        kpis += [("operable revenue (through the control pipeline)", f"{o['revenue_eur']:,.0f} EUR"),
                 ("operable minus plan", f"{o['gap_eur']:+,.0f} EUR"),
                 ("energy planned / delivered", f"{o['planned_mwh']:,.1f} / {o['delivered_mwh']:,.1f} MWh"),
                 ("reserve non-delivery intervals", f"{o['non_delivery_intervals']}"),
                 ("limiter interventions", ", ".join(f"{k} {v['count']}" for k, v in o["limiter_interventions"].items())
                  or "none"),
                 ("frequency", f"{o['frequency']['source']} ({o['frequency']['filled_seconds']} s filled)")]
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in kpis)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(s['name'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Backtest {html.escape(s['name'])}</h1>
<p>Site {html.escape(s['site'])} in {html.escape(s['zone'])}, workflow {html.escape(s['workflow'])},
forecast {html.escape(s['forecast'])}, {s['days']} delivery days from {s['window']['start']} to {s['window']['end']}.
Decisions use only prices published before each gate; settlement uses actual prices.</p>
<table>{body}</table>
{''.join(_img(f) for f in figures)}
<h2>Monthly revenue (EUR)</h2>{_table(monthly)}
<p style="color:gray;font-size:small">Prices: {html.escape('; '.join(f'{k}: {v}' for k, v in s['data_sources'].items()))}.
Sources and licences: bess_ray/data/samples/PROVENANCE.md.</p>
</body></html>"""
    artifacts.write(path, page)
    return path
