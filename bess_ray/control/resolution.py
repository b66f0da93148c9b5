"""Priority resolution: each layer may only narrow the power range the layers above it left.

A layer asks for a range (`limit`) or a point (`target`). A range is intersected with what is left;
one that does not overlap is refused and the earlier layer wins. A point is clipped into what is left
and collapses the range, so every layer below it has nothing left to decide. The chain of ranges,
and the layer that decided, travel with the command.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Range(NamedTuple):  # tuples, not dataclasses: several are made per asset and cycle
    lo: float
    hi: float

    def clip(self, x: float) -> float:
        return min(max(x, self.lo), self.hi)

    def contains(self, x: float, tol: float = 1e-9) -> bool:
        return self.lo - tol <= x <= self.hi + tol

    def within(self, other: "Range", tol: float = 1e-9) -> bool:
        return other.lo - tol <= self.lo and self.hi <= other.hi + tol

    @property
    def point(self) -> bool:
        return self.lo == self.hi


ZERO = Range(0.0, 0.0)


class Step(NamedTuple):
    """One layer's effect: the range it left and why."""

    layer: str
    lo: float
    hi: float
    note: str = ""


@dataclass(frozen=True)
class Resolution:
    steps: tuple[Step, ...]
    decided_by: str

    @property
    def range(self) -> Range:
        return Range(self.steps[-1].lo, self.steps[-1].hi)


class Resolver:
    """Applies layers in priority order. Build one per asset and cycle."""

    def __init__(self, first: str, rng: Range, note: str = ""):
        self._range = rng
        self._steps = [Step(first, rng.lo, rng.hi, note)]
        self._decided = first if rng.point else ""

    @property
    def range(self) -> Range:
        return self._range

    @property
    def decided(self) -> bool:
        return bool(self._decided)

    def limit(self, layer: str, rng: Range, note: str = "") -> None:
        if self._decided:
            return
        lo, hi = max(self._range.lo, rng.lo), min(self._range.hi, rng.hi)
        if lo > hi:
            self._steps.append(Step(layer, self._range.lo, self._range.hi,
                                    f"refused {rng.lo:.6g}..{rng.hi:.6g}: outside what is left" + _sep(note)))
            return
        self._set(layer, Range(lo, hi), note)

    def target(self, layer: str, mw: float, note: str = "") -> None:
        if self._decided:
            return
        x = self._range.clip(mw)
        if abs(x - mw) > 1e-9:  # not for rounding noise
            note = f"{note}, asked {mw:.6g}, clipped" if note else f"asked {mw:.6g}, clipped"
        self._set(layer, Range(x, x), note)

    def resolve(self, idle_mw: float = 0.0) -> Resolution:
        """Finish: when no layer set a point, stay as close to `idle_mw` (0, or the reserve
        activation alone) as the range allows."""
        if not self._decided:
            self.target("idle", idle_mw)
        return Resolution(tuple(self._steps), self._decided)

    def _set(self, layer: str, rng: Range, note: str) -> None:
        self._range = rng
        self._steps.append(Step(layer, rng.lo, rng.hi, note))
        if rng.point:
            self._decided = layer


def _sep(note: str) -> str:
    return f"; {note}" if note else ""
