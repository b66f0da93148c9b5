"""Starting, finding and stopping live sites on Ray (the actors of `sites.py`)."""
from __future__ import annotations

import time

import ray

from ..control.settings import Operation
from .sites import NAMESPACE, AssetActor, FieldSimActor, SiteActor, asset_name, site_name


def start_simulator(operation: Operation, port: int):
    """The site's field simulator as an actor, serving Modbus TCP on `port`."""
    name = f"fieldsim:{operation.site.id}"
    sim = FieldSimActor.options(name=name, namespace=NAMESPACE, get_if_exists=True).remote(
        operation.site.model_dump(mode="json"), port)
    ray.get(sim.units.remote(), timeout=60)
    return sim


def start_site(operation: Operation, *, store: str | None = None, sim_port: int | None = None,
               telemetry_s: float = 5.0, detached: bool = False, clock: str = "real") -> dict:
    """One asset actor per battery, then the site actor (which finds them by name). Joins actors
    that already run under those names."""
    lifetime = {"lifetime": "detached"} if detached else {}
    site = operation.site
    assets = []
    # with the simulator every battery is on it; else each on its own device
    for b, url in zip(operation.batteries, operation.device_urls("sim" if sim_port is not None else None, sim_port)):
        cfg = operation.asset(b.id)
        assets.append(AssetActor.options(name=asset_name(site.id, b.id), namespace=NAMESPACE, get_if_exists=True,
                                         **lifetime).remote(
            site.id, b.id, url, rating_mw=max(b.charge_mw, b.discharge_mw), period_s=operation.control.period_s,
            reversion_s=operation.control.reversion_s, register_map=cfg.register_map, store=store))
    ray.get([a.status.remote() for a in assets], timeout=120)
    handle = SiteActor.options(name=site_name(site.id), namespace=NAMESPACE, get_if_exists=True, **lifetime).remote(
        operation.model_dump(mode="json"), store=store, telemetry_s=telemetry_s, clock=clock)
    ray.get(handle.status.remote(), timeout=120)
    return {"site": handle, "assets": assets}


def site_handle(site: str):
    """The live site actor, or None."""
    try:
        return ray.get_actor(site_name(site), namespace=NAMESPACE)
    except ValueError:
        return None


def live_sites() -> list[str]:
    names = ray.util.list_named_actors(all_namespaces=True)
    return sorted(n["name"][len("site:"):] for n in names
                  if n["namespace"] == NAMESPACE and n["name"].startswith("site:"))


def stop_site(site: str, assets: list[str], wait_s: float = 5.0) -> None:
    """Take a site down: stop it (0 kW), let a cycle write that, then end its actors."""
    handle = site_handle(site)
    if handle is not None:
        try:
            ray.get(handle.stop.remote("site shut down", "bess-ray"), timeout=wait_s)
            end = time.time() + wait_s  # until a cycle has commanded 0 kW to every asset
            while time.time() < end and any(a["command_mw"] != 0.0 for a in ray.get(handle.status.remote())["assets"]):
                time.sleep(0.1)
        except (ray.exceptions.RayError, TimeoutError):
            pass
        ray.kill(handle, no_restart=True)
    for a in assets:
        try:
            ray.kill(ray.get_actor(asset_name(site, a), namespace=NAMESPACE), no_restart=True)
        except ValueError:
            pass
