"""Small sweep specs on real prices for the sweep tests: one-week backtest windows, so a case takes
a fraction of a second."""
from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import CONFIGS

BASE = CONFIGS / "backtests" / "de_lu_2023_da.yaml"
WEEK = {"window": {"start": "2023-03-06", "end": "2023-03-13"}, "baselines": ["oracle"]}

BOOM = '''
class Boom:
    """A forecaster that fails, to make a case raise inside its task."""
    def forecast(self, view, targets, products):
        raise RuntimeError("boom: this forecaster always fails")
'''


def write_spec(folder: Path, name: str = "spec.yaml", **over) -> Path:
    spec = {
        "schema_version": 1, "name": "test_sweep", "kind": "backtest", "base": str(BASE),
        "scenarios": {"de_real": {"day_ahead": ["sample:DE_LU_2023", "sample:DE_LU_2024"]}},
        "sizings": {"1h": {"power_mw": 1.0, "duration_h": 1}, "2h": {"power_mw": 1.0, "duration_h": 2}},
        "strategies": {"d1": {"forecast": {"type": "persistence", "lags_days": [1]}},
                       "d1_d7": {"forecast": {"type": "persistence", "lags_days": [1, 7], "weights": [0.5, 0.5]}}},
        "variants": {"week": WEEK},
    }
    spec.update(over)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def with_failing_case(folder: Path) -> Path:
    (folder / "boom.py").write_text(BOOM)
    return write_spec(folder, strategies={
        "d1": {"forecast": {"type": "persistence", "lags_days": [1]}},
        "boom": {"forecast": {"type": "custom_python", "cls": str(folder / "boom.py") + ":Boom"}}})
