"""Shared fixtures. Unit tests need no Ray and no services."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch):
    """Every test gets its own embedded store, so nothing leaks into ~/.bess_ray."""
    monkeypatch.setenv("BESS_RAY_HOME", str(tmp_path / "bess_home"))
    return tmp_path / "bess_home"


def battery(**kw) -> dict:
    base = dict(type="battery", id="b1", charge_mw=1.0, discharge_mw=1.0, energy_mwh=2.0,
                charge_efficiency=1.0, discharge_efficiency=1.0, soc_min=0.0, soc_max=1.0,
                soc_initial=0.5, final_soc="free")
    base.update(kw)
    return base


def site_dict(*batteries, zone="DE-LU", products=("da",), poi=(100.0, 100.0), **markets) -> dict:
    return dict(schema_version=1, id="test_site", zone=zone,
                poi=dict(import_mw=poi[0], export_mw=poi[1]),
                assets=list(batteries) or [battery()], markets=dict(products=list(products), **markets))


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that needs it (2 CPUs, no dashboard)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="bess-tests")
    yield ray
    ray.shutdown()
