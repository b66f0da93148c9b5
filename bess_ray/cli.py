"""The `bess-ray` command. Imports stay inside each command so that start-up is fast and
`optimize` never imports Ray."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import BessRayError


def _path(text: str) -> Path:
    """An output path; a leading ~ is this user's home also when no shell expanded it (`ray job
    submit` quotes its arguments)."""
    return Path(text).expanduser()


def _add_price_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--prices", required=required, metavar="SOURCE",
                   help="day-ahead prices: a CSV/Parquet file, sample:NAME or scenario:NAME "
                        "(suffix @YEAR re-stamps onto another year)")
    p.add_argument("--reserve-prices", nargs="*", default=[], metavar="[PRODUCT=]SOURCE",
                   help="capacity prices, one or more sources; PRODUCT= picks one column")
    p.add_argument("--fill", choices=["ffill", "linear", "zero"], help="fill gaps and NaN instead of failing")


def cmd_optimize(a: argparse.Namespace) -> int:
    from .optimization import optimize

    result = optimize(a.site, a.prices, reserve_prices=a.reserve_prices, start=a.start, end=a.end,
                      resolution=a.resolution, products=a.products, binaries=a.binaries, backend=a.backend,
                      fill=a.fill, one_lp=a.one_lp, threads=a.threads)
    out = result.write(a.out, tuple(a.format))
    print(result.describe())
    print(f"wrote {out}/schedule.{a.format[0]}, site_schedule.{a.format[0]}, summary.json")
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    from .simulation.config import SimulationConfig
    from .simulation.run import format_summary

    if (a.mode or SimulationConfig.from_yaml(a.config).mode) == "parallel":
        from functools import partial

        from .cluster.simulate import simulate

        simulate = partial(simulate, address=a.address)
    else:
        from .simulation.run import simulate

    def progress(r) -> None:
        print(f"  {r.year}: revenue {r.revenue_eur:,.0f} EUR, SoH {100 * r.soh_end:.1f} %, {r.efc:.0f} cycles "
              f"({r.seconds:.1f} s)", file=sys.stderr, flush=True)

    result = simulate(a.config, a.out, mode=a.mode, years=a.years, timeseries=False if a.no_timeseries else None,
                      progress=progress)
    print(format_summary(result))
    print(f"wrote {a.out}/: {', '.join(sorted(p.name for p in Path(a.out).iterdir()))}")
    return 0


def cmd_backtest(a: argparse.Namespace) -> int:
    from .sidecar import Sidecar

    side = Sidecar("bess_ray.backtesting.run")  # it imports on the other core while this process does
    try:
        from .backtesting.config import BacktestConfig, ThroughControl
        from .backtesting.run import backtest

        cfg = BacktestConfig.from_yaml(a.config)
        if a.through_control or a.frequency:
            tc = cfg.through_control or ThroughControl()
            cfg = cfg.model_copy(update={"through_control": tc.model_copy(
                update={"frequency": a.frequency} if a.frequency else {})})
        result = backtest(cfg, a.out, sidecar=side, base_dir=Path(a.config).resolve().parent)
    finally:
        side.close()
    s = result.summary
    print(f"backtest {s['name']}: {s['site']} ({s['zone']}), {s['workflow']}"
          f"{' + schedule_revision' if s['schedule_revision'] else ''}, forecast {s['forecast']}, {s['days']} days")
    print(f"revenue {s['revenue_eur']:,.2f} EUR" + (f", capture rate {s['capture_rate']:.1%} of the oracle "
                                                     f"({s['oracle_revenue_eur']:,.2f} EUR)" if s["capture_rate"] else ""))
    for k, v in s["revenue_by_stream_eur"].items():
        print(f"  {k:<14} {v:>14,.2f} EUR")
    for k, v in s["baselines_revenue_eur"].items():
        print(f"  baseline {k:<9} {v:>11,.2f} EUR")
    if "operable" in s:
        o = s["operable"]
        print(f"operable {o['revenue_eur']:,.2f} EUR through the control pipeline ({o['gap_eur']:+,.2f} EUR against "
              f"the plan) on {o['frequency']['source']} frequency: {o['delivered_mwh']:,.2f} MWh delivered of "
              f"{o['planned_mwh']:,.2f} planned, {o['non_delivery_intervals']} intervals of reserve not delivered")
        for k, v in o["limiter_interventions"].items():
            print(f"  limiter {k:<24} {v['count']:>6} times, {v['seconds']:>9,.0f} s")
    t = s["timing"]
    print(f"{t['total_seconds']:.1f} s ({t['main_run_seconds']:.2f} s main run, {t['main_highs_seconds']:.2f} s in HiGHS"
          + (f", {t['operable_seconds']:.1f} s through the control pipeline" if "operable" in s else "")
          + f"); wrote {a.out}/summary.json, realised.parquet, settlement.parquet, report.html ...")
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from .cluster.sweep import run_sweep
    from .sweeps.results import format_table, rank

    report = run_sweep(a.spec, a.out, address=a.address, max_in_flight=a.max_in_flight, force=a.force,
                       num_cpus=a.num_cpus, progress=not a.quiet)
    print(f"sweep {a.spec}: {report.describe()}")
    for line in report.failures:
        print(f"  failed: {line}")
    axes = []
    if report.done + report.skipped:
        ranked = rank(a.out)
        print(format_table(ranked.head(a.top), compact=True))
        axes = [c for c in ("scenario", "sizing", "strategy", "variant", "year")
                if c in ranked.columns and ranked[c].n_unique() > 1][:2]
    group = f" --group-by {' '.join(axes)}" if axes else ""
    print(f"results in {a.out}/results/ (bess-ray results {a.out}{group} --plots)")
    return 1 if report.failed else 0


def cmd_results(a: argparse.Namespace) -> int:
    from .sweeps.results import format_table, plot, rank
    from .sweeps.store import SweepStore

    if a.failed:
        for f in SweepStore(a.out).failures():
            print(f"{f['case_id']} {f['params']} after {f['attempts']} attempt(s): {f['error']}")
            if a.traceback:
                print(f["traceback"])
        return 0
    frame = rank(a.out, a.by, a.where, a.group_by, a.top)
    print(format_table(frame, compact=True))
    if a.csv:
        frame.write_csv(a.csv)
        print(f"wrote {a.csv}")
    if a.plots:
        print("wrote " + ", ".join(str(p) for p in plot(a.out, a.by)))
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from ray import serve

    from .cluster.runtime import ensure_ray, haproxy_ingress
    from .serve.app import build_app

    if not (a.address or os.environ.get("RAY_ADDRESS")):
        haproxy_ingress()  # a local Ray: HTTP through HAProxy when it is installed
    ensure_ray(a.address)
    serve.start(http_options={"host": a.host, "port": a.port})
    args = {"max_upload_mb": a.max_upload_mb, "replicas": a.replicas, "cache_mb": a.cache_mb,
            "wait_s": a.wait_s, **({"flows": str(Path(a.flows).resolve())} if a.flows else {})}
    serve.run(build_app(args), name="bess-ray", route_prefix="/")
    print(f"bess-ray API on http://{a.host}:{a.port} (docs at /docs); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


def cmd_keys(a: argparse.Namespace) -> int:
    from .store.keys import KeyStore

    store = KeyStore()
    if a.keys_cmd == "create":
        key, record = store.create(a.role, a.name or "")
        print(key)
        print(f"created key {record['id']} ({record['role']}{', ' + record['name'] if record['name'] else ''}); "
              "it is shown only now: only its hash is stored", file=sys.stderr)
    elif a.keys_cmd == "list":
        for k in store.list():
            state = f"revoked {k['revoked_utc']}" if k["revoked_utc"] else "active"
            print(f"{k['id']}  {k['role']:<8} {k['created_utc']}  {state:<32} {k['name']}")
    elif a.keys_cmd == "revoke":
        if not store.revoke(a.id):
            raise BessRayError(f"no active key {a.id!r} (bess-ray keys list)")
        print(f"revoked {a.id}")
    return 0


def cmd_store(a: argparse.Namespace) -> int:
    from .store import StoreError, open_store, store_url
    from .store.database import open_database, redact
    from .store.migrations import LATEST, history, migrate, version

    if a.store_cmd == "migrate":
        db = open_database(store_url())
        before = version(db)
        applied = migrate(db)
        print(f"{redact(db.url)}: schema version {before} -> {LATEST}" if applied
              else f"{redact(db.url)}: schema version {LATEST}, nothing to do")
        return 0
    store = open_store()
    if a.store_cmd == "info":
        counts = {t: store.db.row(f"SELECT COUNT(*) AS n FROM {t}")["n"]
                  for t in ("points", "samples", "documents", "scenarios", "jobs", "api_keys", "audit_log")}
        info = {"store": store.url, "backend": store.db.dialect, "cache": store.cache_url,
                "schema_version": LATEST, "migrations": history(store.db), "rows": counts}
        if a.json:
            print(json.dumps(info, indent=2))
        else:
            print(f"store   {info['store']} ({info['backend']}), schema version {LATEST}")
            print(f"cache   {info['cache'] or 'none (BESS_RAY_CACHE=redis://HOST:6379/0)'}")
            for m in info["migrations"]:
                print(f"  v{m['version']} {m['applied_utc']}  {m['name']}")
            print("rows    " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        return 0
    from .store.analytics import export

    where = {}
    for item in a.where or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise StoreError(f"--where {item!r}: write KEY=VALUE")
        where[key] = value
    rows = export(store.points, a.prefix, _instant(a.start), _instant(a.end), a.out, where or None)
    print(f"exported {rows:,} values below {a.prefix} to {a.out}")
    return 0


def _instant(text: str):
    """A date or date-time from the command line; without a zone it is UTC."""
    from datetime import datetime, timezone

    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def cmd_validate(a: argparse.Namespace) -> int:
    from .validate import validate_file

    for line in validate_file(a.file, a.prices, a.reserve_prices, a.fill):
        print(line)
    return 0


def cmd_cluster(a: argparse.Namespace) -> int:
    from .cluster.check import check_cluster

    report = check_cluster(a.address, a.out, a.api_port)
    print(json.dumps(report.as_dict(), indent=2) if a.json else "\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_data(a: argparse.Namespace) -> int:
    from .store.scenarios import ScenarioStore

    store = ScenarioStore()
    if a.data_cmd == "import":
        from .data.series import read_series

        series = read_series(a.file, product=a.product, column=a.column, unit=a.unit, tz=a.tz, zone=a.zone,
                             fill=a.fill)
        meta = store.add(a.name, series, zone=a.zone, description=a.description or "", replace=a.replace)
        print(f"imported {a.name}: {meta['rows']} rows, {', '.join(meta['columns'])}, "
              f"{meta['start_utc']} .. {meta['end_utc']}, {meta['resolution_min']} min")
        print(series.report)
    elif a.data_cmd == "pv-profile":
        from .config import PVLocation
        from .data.pv import pv_profile
        from .timegrid import TimeGrid

        loc = PVLocation.from_dict({k: getattr(a, k) for k in ("latitude", "longitude", "tilt", "azimuth",
                                                                "altitude_m", "losses", "weather")}, "pv-profile")
        series = pv_profile(loc, TimeGrid.from_range(a.start, a.end, a.resolution), Path.cwd())
        meta = store.add(a.name, series, description=a.description or series.source, replace=a.replace)
        v = series.values("profile")
        print(f"stored {a.name}: {meta['rows']} rows, {meta['start_utc']} .. {meta['end_utc']}, "
              f"{meta['resolution_min']} min; {series.source}; capacity factor {v.mean():.1%}, peak {v.max():.3f}")
        print(f"use it as a PV asset's profile: scenario:{a.name}")
    elif a.data_cmd == "list":
        rows = store.list()
        if not rows:
            from .store import open_store

            print(f"no scenarios in {open_store().url} (bess-ray data import FILE --name NAME)")
        for m in rows:
            print(f"{m['name']:<24} {','.join(m['columns']):<22} {m['start_utc']} .. {m['end_utc']} "
                  f"{m['resolution_min']:>4} min {m['rows']:>7} rows  {m['source']}")
    elif a.data_cmd == "show":
        meta = store.get(a.name)
        if meta is None:
            raise BessRayError(f"unknown scenario {a.name!r}")
        print(json.dumps(meta, indent=2))
        print(store.load(a.name).frame.head(a.head))
    elif a.data_cmd == "delete":
        if not store.delete(a.name):
            raise BessRayError(f"unknown scenario {a.name!r}")
        print(f"deleted {a.name}")
    elif a.data_cmd == "samples":
        from .data.samples import SAMPLES

        for name, s in SAMPLES.items():
            print(f"sample:{name:<24} {s.description}")
    return 0


def cmd_control(a: argparse.Namespace) -> int:
    import asyncio

    from . import operate

    if a.replay:
        return operate.replay_file(a.replay)
    if not a.site:
        raise SystemExit("bess-ray control: give SITE.yaml (or --replay FILE)")
    summary = asyncio.run(operate.control(a.site, a.device, a.schedule, a.cycles, a.record, a.quiet))
    print(f"{summary['cycles']} cycles, {summary['missed']} missed; lateness p50 {summary['lateness_p50_ms']:.1f} ms, "
          f"p99 {summary['lateness_p99_ms']:.1f} ms; read-to-write p50 {summary['read_to_write_p50_ms']:.1f} ms")
    return 0


def cmd_operate(a: argparse.Namespace) -> int:
    from . import operate

    return operate.operate(a.operations, sim=a.sim, sim_modbus_port=a.sim_modbus_port, port=a.port, host=a.host,
                           address=a.address, schedule=a.schedule, seconds=a.seconds)


def cmd_fieldsim(a: argparse.Namespace) -> int:
    import asyncio

    from . import operate

    asyncio.run(operate.fieldsim(a.site, a.modbus_port, a.mqtt, a.faults, a.host, a.seconds))
    return 0


def cmd_flows(a: argparse.Namespace) -> int:
    from .flows import commands

    if a.flows_cmd == "run":
        return commands.run(a.file, clock=a.clock, first=a.start, last=a.end, sites=not a.no_sites,
                            address=a.address, as_json=a.json, quiet=a.quiet, pace=a.pace)
    if a.flows_cmd == "backfill":
        return commands.run(a.file, first=a.start, last=a.end, backfill=True, address=a.address, as_json=a.json,
                            quiet=a.quiet)
    if a.flows_cmd == "history":
        return commands.history(site=a.site, flow=a.flow, status=a.status, as_json=a.json, limit=a.limit)
    if a.flows_cmd == "trigger":
        return commands.trigger(a.file, a.flow, a.site, a.delivery, a.hour, a.address)
    return commands.listing()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bess-ray", description="Battery energy storage on real market data.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("optimize", help="optimise a site over a price window (perfect foresight)")
    p.add_argument("--site", required=True, help="site YAML")
    _add_price_args(p, required=True)
    p.add_argument("--start", help="window start, ISO-8601 (UTC unless an offset is given)")
    p.add_argument("--end", help="window end (exclusive)")
    p.add_argument("--resolution", default="15min", help="15min (default) or 60min")
    p.add_argument("--products", help="kernel (da_only, da_plus_fcr, da_plus_afrr, da_plus_fcr_afrr, "
                                      "da_plus_fcrn_fcrd) or a comma list; default: the site's")
    p.add_argument("--binaries", action="store_true", help="forbid simultaneous charge and discharge (MIP)")
    p.add_argument("--backend", choices=["highs", "pyomo"], default="highs")
    p.add_argument("--one-lp", action="store_true",
                   help="hand HiGHS the whole window at once, not by weeks joined into the same LP (slower)")
    p.add_argument("--threads", type=int, default=1,
                   help="runs of weeks solved side by side (with --one-lp: HiGHS threads); default 1")
    p.add_argument("--format", nargs="+", choices=["parquet", "csv"], default=["parquet"])
    p.add_argument("--out", required=True, type=_path, help="output folder")
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("backtest", help="walk-forward backtest with baselines, artifacts and a report")
    p.add_argument("config", type=Path, help="backtest YAML (see configs/backtests/)")
    p.add_argument("--out", required=True, type=_path, help="output folder")
    p.add_argument("--through-control", action="store_true",
                   help="also deliver the plan second by second through the control pipeline (plan vs operable)")
    p.add_argument("--frequency", metavar="SOURCE",
                   help="measured frequency for --through-control: auto (default), nominal, sample:NAME or a file")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("simulate", help="multi-year simulation: physics, degradation, PV / wind, finance")
    p.add_argument("config", type=Path, help="simulation YAML (see configs/simulations/)")
    p.add_argument("--out", required=True, type=_path, help="output folder")
    p.add_argument("--mode", choices=["sequential", "parallel"], help="override the config's mode")
    p.add_argument("--years", type=int, help="simulate only the first N years")
    p.add_argument("--no-timeseries", action="store_true", help="skip the per-interval time series")
    p.add_argument("--address", help="Ray cluster address for parallel mode (default: a local Ray)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("sweep", help="run every case of a sweep spec as Ray tasks; resumable")
    p.add_argument("spec", type=Path, help="sweep YAML (see configs/sweeps/)")
    p.add_argument("--out", required=True, type=_path, help="output folder (rerun to resume)")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--max-in-flight", type=int, help="tasks submitted at once (default: 2 x the cluster's CPUs)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("--force", action="store_true", help="reuse an output folder written by another spec")
    p.add_argument("--top", type=int, default=10, help="cases shown in the final ranking")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("results", help="rank, filter, group and plot the cases of a sweep's output folder")
    p.add_argument("out", type=_path, help="the sweep's output folder")
    p.add_argument("--by", help="metric to rank by (default: npv_eur if present, else revenue_eur)")
    p.add_argument("--where", help="SQL filter, e.g. \"scenario = 'de_lu_real' AND duration_h >= 2\"")
    p.add_argument("--group-by", nargs="+", metavar="COLUMN", help="aggregate the metric per group")
    p.add_argument("--top", type=int, help="show the first N rows")
    p.add_argument("--csv", type=Path, help="also write the table as CSV")
    p.add_argument("--plots", action="store_true", help="write PNG figures to OUT/plots/")
    p.add_argument("--failed", action="store_true", help="list the failed cases instead")
    p.add_argument("--traceback", action="store_true", help="with --failed: print each traceback")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("validate", help="check a site, backtest, simulation or sweep config and the data it references")
    p.add_argument("file", type=Path)
    _add_price_args(p, required=False)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("serve", help="the HTTP API on Ray Serve, locally (deployments/serve.yaml for a cluster)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--replicas", type=int, default=1, help="API replicas, each solving one schedule at a time")
    p.add_argument("--max-upload-mb", type=float, default=50.0)
    p.add_argument("--cache-mb", type=float, default=512.0, help="memory limit of the scenario cache")
    p.add_argument("--wait-s", type=float, default=10.0,
                   help="a job finished within this is answered at once, a longer one with 202 and its id")
    p.add_argument("--flows", metavar="FILE", help="a flows file whose runs can be triggered over HTTP")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("cluster", help="a Ray cluster: what is wrong with it (versions, auth, store, folders, ports)")
    csub = p.add_subparsers(dest="cluster_command", required=True)
    k = csub.add_parser("check", help="run a check on every node and compare them with this client")
    k.add_argument("--address", default=None, help="HOST:PORT of the head's GCS, ray://HOST:PORT or auto "
                                                  "(default: RAY_ADDRESS, else auto)")
    k.add_argument("--out", help="an output folder on the head to check (for example ~/sweeps)")
    k.add_argument("--api-port", type=int, default=8000, help="the API's HTTP port (serve.yaml: 8000)")
    k.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("keys", help="API keys for the HTTP API: create, list, revoke")
    ksub = p.add_subparsers(dest="keys_cmd", required=True)
    k = ksub.add_parser("create", help="print a new key (shown once; only its hash is stored)")
    k.add_argument("--role", required=True, choices=["viewer", "analyst", "operator", "admin"])
    k.add_argument("--name", help="who or what the key is for")
    ksub.add_parser("list", help="keys with their role and state (never the key itself)")
    k = ksub.add_parser("revoke", help="revoke a key by its id")
    k.add_argument("id")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("control", help="run a site's control loop against devices or the field simulator (no Ray)")
    p.add_argument("site", nargs="?", help="an operations YAML (configs/operations/) or a site YAML")
    p.add_argument("--device", help="sim (an in-process field simulator), modbus://HOST:PORT[/UNIT] or "
                                    "mqtt://HOST:PORT/PREFIX for every battery; default: the operations file's")
    p.add_argument("--schedule", metavar="FILE", help="a site schedule (CSV/Parquet; bess-ray optimize's site_schedule)")
    p.add_argument("--cycles", type=int, help="stop after N cycles (default: run until interrupted)")
    p.add_argument("--record", metavar="FILE", help="append every cycle's inputs and commands (JSON Lines)")
    p.add_argument("--replay", metavar="FILE", help="re-run a recording through the pipeline; report differences")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=cmd_control)

    p = sub.add_parser("operate", help="live sites: one Ray actor per site and per asset, and the HTTP API with the "
                                       "operator endpoints (status, schedules, stop / resume, events, live page)")
    p.add_argument("operations", nargs="+", help="operations files (configs/operations/*.yaml)")
    p.add_argument("--sim", action="store_true", help="run each site's batteries on the field simulator (a test tool) "
                                                      "and today's plan on the bundled prices from the first minute")
    p.add_argument("--sim-modbus-port", type=int, help="the simulator's Modbus port (default: the file's simulator.modbus_port)")
    p.add_argument("--schedule", metavar="FILE", help="hand every site this schedule (bess-ray optimize's site_schedule)")
    p.add_argument("--port", type=int, default=8000, help="the API's port (8000)")
    p.add_argument("--host", default="127.0.0.1", help="the API's address (127.0.0.1; 0.0.0.0 for the network)")
    p.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    p.set_defaults(func=cmd_operate)

    p = sub.add_parser("fieldsim", help="TEST TOOL: simulated battery inverters speaking SunSpec over Modbus TCP "
                                        "and MQTT, with faults (plain TCP, no credentials)",
                       description="A TEST TOOL: one simulated battery, inverter and BMS per battery of the site, "
                                   "speaking SunSpec over Modbus TCP (and MQTT), with injectable faults. Plain TCP, "
                                   "no credentials: never expose it beyond a test network.")
    p.add_argument("site", help="an operations or site YAML: one simulated device per battery (unit ids 1, 2, ...)")
    p.add_argument("--modbus-port", type=int, default=5020)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    p.add_argument("--mqtt", metavar="URL", help="also run the devices over MQTT: mqtt://HOST:PORT/PREFIX")
    p.add_argument("--faults", metavar="FILE", help="a fault file (YAML: faults: [{kind, asset, at_s, for_s}])")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until interrupted)")
    p.set_defaults(func=cmd_fieldsim)

    p = sub.add_parser("flows", help="versioned trading flows at the market gates: run the orchestrator, backfill, "
                                     "trigger one run, list the history")
    fsub = p.add_subparsers(dest="flows_cmd", required=True)
    for name, text in (("run", "run a flows file's flows at their triggers (real clock: until interrupted, or --to)"),
                       ("backfill", "run a past window on a simulated clock: outputs recorded, nothing handed")):
        k = fsub.add_parser(name, help=text)
        k.add_argument("file", help="a flows file (configs/flows/*.yaml)")
        if name == "run":
            k.add_argument("--clock", choices=["real", "simulated"], default="real",
                           help="simulated: the window's triggers as fast as the machine allows")
            k.add_argument("--no-sites", action="store_true", help="do not start or reach the site actors (outputs only)")
            k.add_argument("--pace", type=float, default=0.0, metavar="SECONDS",
                           help="simulated clock: wall seconds per trigger instant, to watch a run")
        k.add_argument("--from", dest="start", required=name == "backfill", help="first delivery day (ISO date)")
        k.add_argument("--to", dest="end", required=name == "backfill", help="day after the last delivery day")
        k.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
        k.add_argument("--json", action="store_true", help="print the summary as JSON")
        k.add_argument("--quiet", action="store_true", help="print only the summary")
    k = fsub.add_parser("history", help="every run with its inputs, outputs and status")
    k.add_argument("--site")
    k.add_argument("--flow")
    k.add_argument("--status", choices=["pending", "running", "retry", "succeeded", "done", "failed", "skipped"])
    k.add_argument("--limit", type=int, default=1000)
    k.add_argument("--json", action="store_true", help="JSON rows (with inputs and outputs)")
    k = fsub.add_parser("trigger", help="run one (flow, site, delivery day) now, once")
    k.add_argument("file")
    k.add_argument("flow")
    k.add_argument("site")
    k.add_argument("delivery", help="the delivery day (ISO date)")
    k.add_argument("--hour", help="hourly flows: the hour (ISO, UTC)")
    k.add_argument("--address")
    fsub.add_parser("list", help="the flows and versions this release ships")
    p.set_defaults(func=cmd_flows)

    p = sub.add_parser("store", help="the store (BESS_RAY_STORE, default SQLite under BESS_RAY_HOME): "
                                     "migrate, info, export data points to Parquet")
    ssub = p.add_subparsers(dest="store_cmd", required=True)
    ssub.add_parser("migrate", help="bring the store's schema to this release's version (also done on every start)")
    k = ssub.add_parser("info", help="URL, backend, cache, schema version and row counts")
    k.add_argument("--json", action="store_true")
    k = ssub.add_parser("export", help="float data points below a prefix over [--from, --to) as Parquet, for DuckDB")
    k.add_argument("prefix", help="an id prefix, e.g. site/de1")
    k.add_argument("--from", dest="start", required=True, help="start, ISO date or date-time (UTC unless it has a zone)")
    k.add_argument("--to", dest="end", required=True, help="end (exclusive)")
    k.add_argument("--out", required=True, type=_path, help="the Parquet file to write")
    k.add_argument("--where", action="append", metavar="KEY=VALUE", help="only points with this metadata (repeatable)")
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("data", help="the scenario store: import, list, show, delete; bundled samples")
    dsub = p.add_subparsers(dest="data_cmd", required=True)
    d = dsub.add_parser("import", help="check a CSV/Parquet series and store it as a named scenario")
    d.add_argument("file")
    d.add_argument("--name", required=True)
    d.add_argument("--product", help="quantity of a one-column file: da, fcr, afrr_up, ... or profile")
    d.add_argument("--column", help="the value column to take")
    d.add_argument("--unit", help="eur_mwh, eur_kwh, eur_mw_h or eur_mw_block (else read from the column name)")
    d.add_argument("--tz", help="time zone of naive timestamps (default UTC)")
    d.add_argument("--zone", help="bidding zone, to pick from multi-zone files")
    d.add_argument("--fill", choices=["ffill", "linear", "zero"])
    d.add_argument("--description")
    d.add_argument("--replace", action="store_true", help="replace a scenario of the same name")
    d = dsub.add_parser("pv-profile", help="generate a PV profile for a location with pvlib and store it")
    d.add_argument("--name", required=True)
    d.add_argument("--latitude", type=float, required=True)
    d.add_argument("--longitude", type=float, required=True)
    d.add_argument("--tilt", type=float, default=30.0)
    d.add_argument("--azimuth", type=float, default=180.0, help="clockwise from north; 180 = south")
    d.add_argument("--altitude-m", type=float, default=0.0)
    d.add_argument("--losses", type=float, default=0.14)
    d.add_argument("--weather", help="a weather file (timestamp, ghi [, dni, dhi, temp_air]); default clear sky")
    d.add_argument("--start", required=True, help="first interval (UTC)")
    d.add_argument("--end", required=True, help="end of the last interval (UTC)")
    d.add_argument("--resolution", default="15min")
    d.add_argument("--description")
    d.add_argument("--replace", action="store_true", help="replace a scenario of the same name")
    d = dsub.add_parser("list", help="list stored scenarios")
    d = dsub.add_parser("show", help="metadata and first rows of a scenario")
    d.add_argument("name")
    d.add_argument("--head", type=int, default=5)
    d = dsub.add_parser("delete", help="delete a scenario and its data file")
    d.add_argument("name")
    dsub.add_parser("samples", help="list the bundled real data samples")
    p.set_defaults(func=cmd_data)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BessRayError as e:  # a user's error names the field or the rows; anything else is a bug: a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
