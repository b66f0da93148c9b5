"""Flows speed: a simulated trading week (2023-06-05..12) with every flow, for 1 and for 3 sites, run
as Ray tasks with the schedules handed to the sites' actors on the field simulator, against the
same flows run inline in this process with no Ray and no sites (the reference), side by side; and
the orchestrator's own overhead per run (wall time less the time inside the flows).

    python scripts/bench_flows.py [--write]

Sites: the DE-LU example battery (data update, trading, auction, intraday, manual, send), the
three-battery portfolio (the same with FCR, aFRR capacity and hourly aFRR activation) and the
10 MW PV + storage site (as the example battery). Target: <= 60 s for the 3-site week on 2 cores.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from benchlog import recorded  # noqa: E402

CONFIGS = ROOT / "configs"
WEEK = (date(2023, 6, 5), date(2023, 6, 12))
TARGET_S = 60.0
SITES = [CONFIGS / "operations" / "de_lu_1mw_2mwh_sim.yaml", CONFIGS / "operations" / "de_lu_portfolio_3x.yaml",
         CONFIGS / "sites" / "de_lu_10mw_20mwh_pv.yaml"]


class Desk(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def flows_file(folder: Path, n_sites: int, url: str) -> Path:
    doc = yaml.safe_load((CONFIGS / "flows" / "de_lu_all_flows.yaml").read_text())
    doc["name"] = f"bench_{n_sites}"
    doc["sites"] = [str(p) for p in SITES[:n_sites]]
    ids = ["de_lu_1mw_2mwh", "de_lu_portfolio_3x", "de_lu_10mw_20mwh_pv"][:n_sites]
    kept = []
    for entry in doc["flows"]:
        if entry.get("sites"):
            entry["sites"] = [s for s in entry["sites"] if s in ids]
            if entry["flow"] == "trading" and entry["version"] == "v1" and n_sites == 3:
                entry["sites"].append("de_lu_10mw_20mwh_pv")
            if not entry["sites"]:
                continue
        kept.append(entry)
    kept.append({"flow": "send", "at": {"cron": "0 17 * * *", "delivery": "next_day"}, "params": {"url": url}})
    doc["flows"] = kept
    path = folder / f"flows_{n_sites}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def measure(path: Path, attached: bool) -> dict:
    from bess_ray.flows import Orchestrator, SiteLink, load_flows
    from bess_ray.store import open_store

    home = tempfile.mkdtemp(prefix="bench_flows_")
    store = open_store(f"sqlite:///{home}/bess_ray.sqlite")
    flows = load_flows(path)
    t0 = time.perf_counter()
    link = SiteLink(flows, store.db.url, simulated=True) if attached else None
    started = time.perf_counter() - t0
    try:
        s = Orchestrator(flows, *WEEK, store=store.db.url, clock="simulated", sites=link,
                         executor="ray" if attached else "inline").run()
    finally:
        if link is not None:
            link.close()
    s["actors_s"] = started
    return s


def main() -> None:
    import ray

    server = ThreadingHTTPServer(("127.0.0.1", 0), Desk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/desk"
    folder = Path(tempfile.mkdtemp(prefix="bench_flows_cfg_"))
    os.environ.setdefault("BESS_RAY_HOME", str(folder / "home"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="bench")
    print(f"flows: a simulated trading week {WEEK[0]}..{WEEK[1]} with every flow, DE-LU 2023 prices, "
          f"Ray tasks on {os.cpu_count()} cores, schedules handed to the sites' actors on the field simulator")
    print(f"{'sites':>5} {'runs':>5} {'week (Ray + actors)':>20} {'inline (reference)':>19} {'ratio':>6} "
          f"{'in flows':>9} {'overhead/run':>13} {'actors up':>10}  target")
    for n in (1, 3):
        path = flows_file(folder, n, url)
        ref = measure(path, attached=False)
        s = measure(path, attached=True)
        assert s["status"] == {"done": s["runs"]}, s["status"]
        assert s["settlement"] == ref["settlement"], "the Ray run and the inline run must settle alike"
        ok = "ok" if s["wall_s"] <= TARGET_S else "MISSED"
        print(f"{n:>5} {s['runs']:>5} {s['wall_s']:>18.1f} s {ref['wall_s']:>17.1f} s {s['wall_s'] / ref['wall_s']:>5.1f}x "
              f"{s['task_s']:>7.1f} s {s['overhead_ms_per_run']:>10.1f} ms {s['actors_s']:>8.1f} s  "
              f"<= {TARGET_S:g} s {ok if n == 3 else ''}")
        money = ", ".join(f"{k} {v['revenue_eur']:,.2f}" for k, v in s["settlement"].items())
        print(f"      money (EUR at the real prices): {money}")
    ray.shutdown()
    server.shutdown()


if __name__ == "__main__":
    with recorded("flows"):
        main()
