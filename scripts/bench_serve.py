"""Latency and throughput of `POST /v1/schedules` over real HTTP against a local Ray Serve instance.

Each request is one battery (the DE-LU example site, 1 MW / 2 MWh), one day at 15 minutes, day-ahead
energy plus FCR capacity, on real prices: a different day of 2023 per request (ENTSO-E DE-LU
day-ahead prices held over the quarter hours, FCR tender results of 2021 re-stamped onto 2023), so
no answer can be reused. The clients run in this process (aiohttp) and share the 2 cores with Serve.

Closed loop: `--clients` clients (default 16), each sending its next request when the last one
answered. Prints p50 / p95 / p99 latency, throughput and errors, and the same for one client alone.

    python scripts/bench_serve.py                    # 16 clients, 20 s, plus one client alone
    python scripts/bench_serve.py --clients 16 --seconds 60 --solver-replicas 2
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


async def run_clients(url: str, token: str, payloads: list[dict], clients: int, seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            body = payloads[next(counter) % len(payloads)]
            t = time.perf_counter()
            async with session.post(url + "/v1/schedules", json=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    errors[r.status] = errors.get(r.status, 0) + 1
                    continue
            latencies.append(time.perf_counter() - t)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(lat), "errors": errors, "throughput": len(lat) / wall,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)), "max": float(lat.max())}


def show(r: dict) -> None:
    print(f"  {r['clients']:>2} client(s): {r['requests']} requests, {r['throughput']:.1f} req/s, "
          f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms, "
          f"errors {sum(r['errors'].values())} {r['errors'] or ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--solver-replicas", type=int, default=None)
    a = ap.parse_args()

    import ray
    from ray import serve

    from bess_ray.serve.app import build_app
    from bess_ray.store.keys import KeyStore

    payloads = bodies()
    home = tempfile.mkdtemp(prefix="bench_serve_")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = {"home": home, **({"solver_replicas": a.solver_replicas} if a.solver_replicas else {})}
    serve.run(build_app(args), name="bess-ray", route_prefix="/")
    token = KeyStore(Path(home)).create("analyst", "bench")[0]
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(run_clients(url, token, payloads, a.clients, 5.0))  # warm-up: workers, imports, JIT
        print(f"POST /v1/schedules: one battery, one day at 15 min, DA + FCR, real 2023 prices; "
              f"{len(payloads)} distinct days; {a.seconds:.0f} s per run")
        one = asyncio.run(run_clients(url, token, payloads, 1, a.seconds / 2))
        show(one)
        many = asyncio.run(run_clients(url, token, payloads, a.clients, a.seconds))
        show(many)
        print(f"target with {a.clients} clients: p50 <= 30 ms ({many['p50'] / 30:.2f}x of it), "
              f"p99 <= 150 ms ({many['p99'] / 150:.2f}x of it), no errors ({sum(many['errors'].values())})")
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
