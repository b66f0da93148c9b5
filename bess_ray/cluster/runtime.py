"""Connecting to Ray: a running cluster at an address, or a local Ray started for this process."""
from __future__ import annotations

import os


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
