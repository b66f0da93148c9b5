"""Redis in front of any repository: latest values and hot windows cached, live values published.

Invalidation is by generation: every point has a counter `bess:gen:{id}` that a write increments
after its transaction committed, and every cached entry's key carries the generation it was read
at. A reader that fetched from the database while a writer committed stores its (now old) answer
under the old generation, where nobody looks again; no reader ever gets a value older than the
last committed write. Entries expire after `ttl_s` so that old generations do not pile up.

Live values: after each write, the point's newest value is published on `bess:live:{id}` (JSON
`{"id", "timestamp", "value"}`); `subscribe(prefix)` yields them.
"""
from __future__ import annotations

import io
import json
import time
from datetime import datetime
from typing import Iterable, Iterator

import polars as pl

from ..errors import ConfigError
from .database import StoreError
from .points import instant, micros
from .repository import Batch, Repository, _window

# one round trip: the generation and the entry cached under it
READ = """
local g = redis.call('GET', KEYS[1]) or '0'
return {g, redis.call('GET', KEYS[2] .. g)}
"""


class CachedRepository(Repository):
    """The same interface as the repository it wraps."""

    def __init__(self, inner: Repository, url: str, ttl_s: int = 3600, max_window_rows: int = 200_000) -> None:
        try:
            import redis
        except ImportError:
            raise StoreError(f"cache {url}: Redis needs its client: pip install 'bess-ray[ops]'") from None
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"BESS_RAY_CACHE: {url!r} is not a Redis URL (redis://HOST:6379/0)")
        self.inner = inner
        self.url = url
        self.ttl = ttl_s
        self.max_rows = max_window_rows
        try:
            self.redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
            self.redis.ping()
        except (redis.RedisError, ValueError) as e:
            raise StoreError(f"cache {url}: cannot connect: {e}") from None
        self._read = self.redis.register_script(READ)
        self.hits = self.misses = 0

    # definitions pass through (they are read once per batch and rarely change)
    def define(self, point):
        return self.inner.define(point)

    def point(self, point_id):
        return self.inner.point(point_id)

    def points(self, prefix=None, where=None):
        return self.inner.points(prefix, where)

    def write_many(self, batch: Batch) -> int:
        written = self.inner.write_many(batch)
        pipe = self.redis.pipeline(transaction=False)
        for point_id in batch:
            pipe.incr(f"bess:gen:{point_id}")
        pipe.execute()
        self._publish(batch)
        return written

    def _publish(self, batch: Batch) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for point_id, item in batch.items():
            frame = item[0] if isinstance(item, tuple) else item
            if frame.height:
                newest = frame.sort("timestamp").row(-1, named=True)
                value = newest["value"]
                value = value.to_list() if isinstance(value, pl.Series) else value
                pipe.publish(f"bess:live:{point_id}", json.dumps(
                    {"id": point_id, "timestamp": newest["timestamp"].isoformat(), "value": value}, default=str))
        pipe.execute()

    def latest_many(self, point_ids: Iterable[str]) -> dict[str, tuple[datetime, object]]:
        out, missing = {}, []
        for point_id in point_ids:
            gen, cached = self._read(keys=[f"bess:gen:{point_id}", f"bess:latest:{point_id}:"])
            if cached is None:
                missing.append((point_id, gen.decode()))
                continue
            self.hits += 1
            if cached != b"-":
                us, value = json.loads(cached)
                out[point_id] = (instant(us), value)
        if missing:
            self.misses += len(missing)
            found = self.inner.latest_many([p for p, _ in missing])
            pipe = self.redis.pipeline(transaction=False)
            for point_id, gen in missing:
                entry = found.get(point_id)
                if entry is not None:
                    out[point_id] = entry
                cached = json.dumps([micros(entry[0], "latest"), entry[1]]) if entry else "-"
                pipe.set(f"bess:latest:{point_id}:{gen}", cached, ex=self.ttl)
            pipe.execute()
        return out

    def read(self, point_id: str, start, end) -> pl.DataFrame:
        lo, hi = _window(start, end)
        gen, cached = self._read(keys=[f"bess:gen:{point_id}", f"bess:window:{point_id}:{lo}:{hi}:"])
        if cached is not None:
            self.hits += 1
            return pl.read_ipc(io.BytesIO(cached))
        self.misses += 1
        frame = self.inner.read(point_id, start, end)
        if frame.height <= self.max_rows:
            buf = io.BytesIO()
            frame.write_ipc(buf)
            self.redis.set(f"bess:window:{point_id}:{lo}:{hi}:{gen.decode()}", buf.getvalue(), ex=self.ttl)
        return frame

    def read_prefix(self, prefix, start, end, where=None):
        return self.inner.read_prefix(prefix, start, end, where)

    def subscribe(self, prefix: str, timeout_s: float | None = None, ready=None) -> Iterator[dict]:
        """Live values of the points below `prefix` as they are written (dicts as published);
        stops after `timeout_s` without a message. `ready` (a threading.Event) is set once the
        subscription stands, so that nothing written after it is missed."""
        pubsub = self.redis.pubsub()
        prefix = prefix.rstrip("/")
        patterns = (f"bess:live:{prefix}", f"bess:live:{prefix}/*")
        pubsub.psubscribe(*patterns)
        try:
            confirmed = 0
            while confirmed < len(patterns):
                message = pubsub.get_message(timeout=5)
                if message is None:
                    raise StoreError(f"cache {self.url}: the subscription to {prefix} was not confirmed")
                confirmed += message["type"] == "psubscribe"
            if ready is not None:
                ready.set()
            last = time.monotonic()
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "pmessage":
                    last = time.monotonic()
                    yield json.loads(message["data"])
                elif timeout_s is not None and time.monotonic() - last > timeout_s:
                    return
        finally:
            pubsub.close()
