"""Perfect foresight: the ORACLE. It reads the actual prices of the future, which no real trader
can; it exists only as the upper bound that capture rates are measured against."""
from __future__ import annotations

import numpy as np


class PerfectForesight:
    name = "perfect_foresight (oracle)"
    oracle = True

    def __init__(self) -> None:
        self.actual: dict[str, np.ndarray] | None = None  # handed over by the engine, oracle only

    def forecast(self, view, targets: np.ndarray, products) -> dict[str, np.ndarray]:
        return {p: self.actual[p][targets] for p in products}
