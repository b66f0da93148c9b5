"""`bess-ray cluster check` and `bess-ray validate` of a launcher config: what is wrong with a
cluster, before a sweep or the API finds out.

The live check runs one small task on every node (no CPU reserved) and compares what each node
reports with this client and with the others: Ray and bess-ray versions, token auth, the store
each node is given and whether it answers from there, writable folders, the API's port.
"""
from __future__ import annotations

import os
import socket
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .runtime import ensure_ray

REDIS_PORT = 6379


@dataclass
class Finding:
    ok: bool
    what: str
    detail: str

    def line(self) -> str:
        return f"  {'ok     ' if self.ok else 'PROBLEM'} {self.what}: {self.detail}"


@dataclass
class Report:
    address: str
    nodes: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, ok: bool, what: str, detail: str) -> None:
        self.findings.append(Finding(bool(ok), what, detail))

    def lines(self) -> list[str]:
        head = f"cluster at {self.address}: {len(self.nodes)} node(s), " + (
            "no problem found" if self.ok else f"{sum(not f.ok for f in self.findings)} problem(s)")
        return [head] + [f.line() for f in self.findings]

    def as_dict(self) -> dict:
        return {"address": self.address, "ok": self.ok, "nodes": self.nodes,
                "findings": [asdict(f) for f in self.findings]}


def node_facts(out: str | None, api_port: int) -> dict:
    """What one node says about itself (runs as a task pinned to that node)."""
    import ray
    from ray._raylet import AuthenticationMode, get_authentication_mode

    from .. import __version__
    from ..store import home, open_store, store_url
    from ..store.database import redact

    facts = {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
             "ray": ray.__version__, "bess_ray": __version__, "python": sys.version.split()[0],
             "token_auth": get_authentication_mode() == AuthenticationMode.TOKEN}
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    facts["token_file_private"] = (not token.is_file()) or not (token.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    url = store_url()
    facts["store"] = redact(url)
    facts["store_shared"] = not url.startswith("sqlite")
    try:
        open_store(url).db.row("SELECT 1 AS one")
        facts["store_error"] = None
    except Exception as e:  # the finding names it; the check goes on
        facts["store_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    facts["home"] = str(home())
    facts["home_writable"] = _writable(home())
    facts["out"] = None if out is None else str(Path(out).expanduser())
    facts["out_writable"] = None if out is None else _writable(Path(out).expanduser())
    with socket.socket() as s:
        facts["api_port_free"] = s.connect_ex(("127.0.0.1", api_port)) != 0
    return facts


def _writable(folder: Path) -> bool:
    """True when `folder` (or the first of its parents that exists) takes a new file."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def check_cluster(address: str | None = "auto", out: str | None = None, api_port: int = 8000) -> Report:
    """Join the cluster at `address` (ClusterError, in one line, when it cannot be joined) and check
    every live node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .. import __version__

    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    ensure_ray(address)
    report = Report(address)
    alive = [n for n in ray.nodes() if n.get("Alive")]
    head = next((n["NodeID"] for n in alive if "node:__internal_head__" in n.get("Resources", {})), None)
    task = ray.remote(num_cpus=0, max_retries=0)(node_facts)
    refs = {n["NodeID"]: task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(out if n["NodeID"] == head else None, api_port) for n in alive}
    for node_id, ref in refs.items():
        try:
            facts = ray.get(ref, timeout=120)
        except Exception as e:
            facts = {"node": node_id, "error": f"{type(e).__name__}: {e}"}
        facts["head"] = node_id == head
        report.nodes.append(facts)
    _judge(report, ray.__version__, __version__, len(alive), api_port, address)
    return report


def _judge(report: Report, client_ray: str, client_bess: str, n_nodes: int, api_port: int, address) -> None:
    nodes = [n for n in report.nodes if "error" not in n]
    for n in report.nodes:
        if "error" in n:
            report.add(False, f"node {n['node'][:8]}", f"did not answer the check: {n['error']}")
    rays = sorted({n["ray"] for n in nodes})
    report.add(rays == [client_ray], "Ray versions",
               f"{', '.join(rays)} on the nodes, {client_ray} here" + ("" if rays == [client_ray] else
               ": pin one release on every node and client (cluster.yaml installs ray[serve]==X)"))
    bess = sorted({n["bess_ray"] for n in nodes})
    report.add(bess == [client_bess], "bess-ray versions", f"{', '.join(bess)} on the nodes, {client_bess} here")
    off = [n["host"] for n in nodes if not n["token_auth"]]
    report.add(not off, "token auth", "on every node" if not off else
               f"off on {', '.join(off)}: start Ray there with RAY_AUTH_MODE=token and the cluster's token")
    loose = [n["host"] for n in nodes if not n["token_file_private"]]
    report.add(not loose, "token file", "readable by its owner only" if not loose else
               f"~/.ray/auth_token is readable by others on {', '.join(loose)}: chmod 600 it")
    stores = sorted({n["store"] for n in nodes})
    shared = all(n["store_shared"] for n in nodes)
    report.add(len(stores) == 1 and (shared or n_nodes == 1), "store",
               f"{', '.join(stores)}" + ("" if len(stores) == 1 else ": the nodes are given different stores")
               + ("" if shared or n_nodes == 1 else ": one node's SQLite file on a cluster of several nodes; "
                  "set BESS_RAY_STORE to a PostgreSQL URL on every node (deployments/cluster.env)"))
    failing = [f"{n['host']} ({n['store_error']})" for n in nodes if n["store_error"]]
    report.add(not failing, "store reachable", "from every node" if not failing else ", ".join(failing))
    unwritable = [f"{n['host']}:{n['home']}" for n in nodes if not n["home_writable"]]
    report.add(not unwritable, "BESS_RAY_HOME writable", "on every node" if not unwritable else ", ".join(unwritable))
    head = next((n for n in nodes if n["head"]), None)
    if head is not None and head["out"] is not None:
        report.add(head["out_writable"], "output folder", f"{head['out']} on the head is "
                   + ("writable" if head["out_writable"] else "not writable (nor can it be created there)"))
    if head is not None:
        report.add(True, "API port", f"{api_port} on the head is " + ("free" if head["api_port_free"] else
                   "in use (by the API when it is deployed; `serve status` tells)"))
    port = str(address or "").rpartition(":")[2]
    if port == str(REDIS_PORT):
        report.add(False, "GCS port", f"{REDIS_PORT} is Redis's: a node that runs Redis (the store's cache) cannot "
                   "start the GCS there; cluster.yaml uses 6390")


def validate_launcher_config(path: Path, data: dict) -> list[str]:
    """Ray's own verdict on a cluster launcher config (what `ray up` checks first), then bess-ray's
    notes: token auth, the GCS port, the pinned Ray, the files it copies."""
    import copy

    import ray
    from ray.autoscaler._private.util import prepare_config, validate_config

    try:
        validate_config(prepare_config(copy.deepcopy(data)))
    except Exception as e:
        raise ConfigError(f"{path}: Ray's cluster config validator: {str(e).splitlines()[0]}") from None
    lines = [f"{path}: Ray cluster launcher config {data['cluster_name']!r} ({data['provider']['type']} provider): "
             "Ray's validator: ok"]
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in data.get(key, [])
              if "ray start" in c]
    notes = []
    if any("RAY_AUTH_MODE=token" not in c for c in starts):
        notes.append("a `ray start` runs without RAY_AUTH_MODE=token: that node takes unauthenticated clients")
    head = [c for c in data.get("head_start_ray_commands", []) if "ray start" in c]
    if head and not any("--port=" in c and f"--port={REDIS_PORT}" not in c for c in head):
        notes.append(f"the head's GCS port is {REDIS_PORT} (Ray's default), Redis's port: use another (--port=6390)")
    setup = " ".join(data.get("setup_commands", []))
    if f"ray[serve]=={ray.__version__}" not in setup:
        notes.append(f"setup_commands do not pin ray[serve]=={ray.__version__} (this machine's Ray): nodes may differ")
    for remote, local in data.get("file_mounts", {}).items():
        if not Path(local).expanduser().exists():
            notes.append(f"file_mounts {remote}: {local} does not exist from {Path.cwd()} (run `ray up` from the "
                         "repository's root)")
    return lines + [f"  warning: {n}" for n in notes]
