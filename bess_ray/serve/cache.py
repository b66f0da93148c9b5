"""The scenario cache: stored scenarios held in memory for the solvers, within a memory limit.

One replica owns the cache. A loaded scenario is an Arrow table in Ray's object store, put there
once: every solver replica on the node reads it zero-copy from shared memory instead of reading and
decoding its Parquet file per request. When a load would pass the limit, the least recently used
scenarios are unloaded first. Unknown names and scenarios larger than the whole limit are refused.
"""
import time
from collections import OrderedDict

import polars as pl
import ray
from ray import serve

from ..data.quality import DataReport
from ..data.series import Series
from ..store import use_store
from ..store.scenarios import ScenarioStore
from ..timegrid import utc_iso


def series_from_entry(name: str, entry: dict) -> Series:
    """A cached scenario as the Series the store would have read (zero-copy from the object store)."""
    frame = pl.from_arrow(ray.get(entry["table"][0]))
    source = f"scenario:{name}"
    return Series(frame, entry["resolution_min"], source, DataReport(source, entry["rows"], entry["resolution_min"]),
                  entry["units"])


@serve.deployment(ray_actor_options={"num_cpus": 0}, num_replicas=1, max_ongoing_requests=256,
                  logging_config={"enable_access_log": False})
class ScenarioCache:
    def __init__(self, home: str | None = None, limit_mb: float = 512.0, store: str | None = None) -> None:
        self.store = ScenarioStore(use_store(home, store))
        self.limit = int(limit_mb * 1024 * 1024)
        self.entries: OrderedDict[str, dict] = OrderedDict()  # least recently used first
        self.hits = self.misses = self.evictions = 0

    def load(self, name: str) -> dict:
        """Load (or reload) a stored scenario. {"entry", "evicted"} or {"error": (status, detail)}."""
        meta = self.store.get(name)
        if meta is None:
            return {"error": (404, f"unknown scenario {name!r}")}
        table = self.store.load(name).frame.to_arrow()
        if table.nbytes > self.limit:
            return {"error": (413, f"scenario {name!r} takes {table.nbytes:,} bytes in memory, more than the "
                                   f"cache's limit of {self.limit:,}")}
        self.entries.pop(name, None)
        evicted = []
        while self.entries and self.used() + table.nbytes > self.limit:
            evicted.append(self.entries.popitem(last=False)[0])
            self.evictions += 1
        self.entries[name] = {"table": [ray.put(table)], "bytes": table.nbytes, "rows": table.num_rows,
                              "resolution_min": meta["resolution_min"], "units": meta["columns"],
                              "loaded_utc": utc_iso(), "hits": 0, "last_used": time.time()}
        return {"entry": self._show(name), "evicted": evicted}

    def unload(self, name: str) -> bool:
        return self.entries.pop(name, None) is not None

    def lookup(self, names: list[str]) -> dict[str, dict]:
        """The cached ones among `names`, as entries for `series_from_entry`; counts hits and misses."""
        found = {}
        for name in names:
            entry = self.entries.get(name)
            if entry is None:
                self.misses += 1
                continue
            self.hits += 1
            entry["hits"] += 1
            entry["last_used"] = time.time()
            self.entries.move_to_end(name)
            found[name] = entry
        return found

    def used(self) -> int:
        return sum(e["bytes"] for e in self.entries.values())

    def stats(self) -> dict:
        return {"limit_bytes": self.limit, "used_bytes": self.used(), "scenarios": len(self.entries),
                "hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "entries": [self._show(n) for n in reversed(self.entries)]}

    def _show(self, name: str) -> dict:
        e = self.entries[name]
        return {"name": name, "bytes": e["bytes"], "rows": e["rows"], "resolution_min": e["resolution_min"],
                "loaded_utc": e["loaded_utc"], "hits": e["hits"],
                "last_used_utc": utc_iso(e["last_used"])}
