"""Local TCP ports for servers this process starts (the API in tests, HAProxy's side ports, field
simulators)."""
from __future__ import annotations

import random
import socket
from pathlib import Path

_FIRST = 20000  # above Ray's worker ports (10002-19999)


def free_port() -> int:
    """A free local port below the kernel's ephemeral range: between this choice and the server's
    bind, an outgoing connection (Ray opens many) can take an ephemeral port, never this one."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_FIRST, max(low, _FIRST + 1000))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a crowded range: let the OS choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
