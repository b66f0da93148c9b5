"""Record every cycle's state, inputs and commands, and re-run them through the pure pipeline.

A recording is JSON Lines, one cycle a line. Floats are written with `repr` (Python's json does), so
they read back bit for bit; a replay therefore gives the very same commands, or names the cycle and
the field where it does not (a changed pipeline, or a recording from another release).
"""
from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Iterator

from . import limits, measurements, pipeline, resolution, schedules, states

_TYPES = {cls.__name__: cls for mod in (limits, measurements, pipeline, resolution, schedules, states)
          for cls in vars(mod).values() if isinstance(cls, type) and dataclasses.is_dataclass(cls)}
_ENUMS = {"Mode": states.Mode, "Quality": measurements.Quality}
_TUPLES = {"Range": resolution.Range, "Step": resolution.Step, "Reading": measurements.Reading}


def encode(obj):
    if dataclasses.is_dataclass(obj):
        return {"_t": type(obj).__name__, **{f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                                              if not f.name.startswith("_")}}
    if isinstance(obj, tuple) and type(obj).__name__ in _TUPLES:
        return {"_n": type(obj).__name__, "v": [encode(x) for x in obj]}
    if isinstance(obj, Enum):
        return {"_e": type(obj).__name__, "v": obj.value}
    if isinstance(obj, (dict, MappingProxyType)):
        return {"_m": [[k, encode(v)] for k, v in obj.items()]}
    if isinstance(obj, frozenset):
        return {"_s": sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [encode(x) for x in obj]
    return obj


def decode(obj):
    if isinstance(obj, list):
        return tuple(decode(x) for x in obj)
    if not isinstance(obj, dict):
        return obj
    if "_t" in obj:
        cls = _TYPES[obj["_t"]]
        return cls(**{k: decode(v) for k, v in obj.items() if k != "_t"})
    if "_n" in obj:
        return _TUPLES[obj["_n"]](*(decode(x) for x in obj["v"]))
    if "_e" in obj:
        return _ENUMS[obj["_e"]](obj["v"])
    if "_m" in obj:
        return MappingProxyType({k: decode(v) for k, v in obj["_m"]})
    if "_s" in obj:
        return frozenset(obj["_s"])
    raise ValueError(f"not a recorded value: {obj!r}")


class Recorder:
    """Appends one line per cycle; flushed every line so that a killed loop keeps what it did."""

    def __init__(self, path: str | Path, controller: pipeline.Controller):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("a", encoding="utf-8")
        if self.path.stat().st_size == 0:
            self._f.write(json.dumps({"controller": encode(controller)}) + "\n")

    def record(self, state: pipeline.SiteState, inputs: pipeline.Inputs, commands) -> None:
        state = dataclasses.replace(state, snapshot=None)  # derived from the rest: not recorded twice
        self._f.write(json.dumps({"state": encode(state), "inputs": encode(inputs),
                                  "commands": encode(commands)}) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read(path: str | Path) -> tuple[pipeline.Controller, Iterator[tuple]]:
    lines = Path(path).open(encoding="utf-8")
    head = json.loads(next(lines))
    controller = decode(head["controller"])

    def cycles():
        for line in lines:
            rec = json.loads(line)
            yield decode(rec["state"]), decode(rec["inputs"]), decode(rec["commands"])
    return controller, cycles()


def replay(path: str | Path) -> tuple[int, list[str]]:
    """Re-run a recording; returns the number of cycles and one line per command that differs."""
    controller, cycles = read(path)
    n, diffs = 0, []
    for state, inputs, recorded in cycles:
        n += 1
        _, commands = controller.step(state, inputs)
        for old, new in zip(recorded, commands):
            if old != new:
                fields = [f.name for f in dataclasses.fields(old) if getattr(old, f.name) != getattr(new, f.name)]
                diffs.append(f"cycle {old.cycle} {old.asset}: {', '.join(fields)} differ "
                             f"(recorded {old.setpoint_mw!r} MW, replayed {new.setpoint_mw!r} MW)")
        if len(recorded) != len(commands):
            diffs.append(f"cycle {state.cycle + 1}: {len(recorded)} commands recorded, {len(commands)} replayed")
    return n, diffs
