import pytest
import yaml

from bess_ray.errors import DataError
from bess_ray.validate import validate_file
from tests.conftest import battery, site_dict


def write_site(tmp_path, *assets, **kw):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site_dict(battery(), *assets, **kw)))
    return path


def test_site_with_pv_and_wind_profiles(tmp_path):
    (tmp_path / "wind.csv").write_text("timestamp_utc,wind_share\n2023-01-01T00:00:00Z,0.3\n"
                                       "2023-01-01T01:00:00Z,0.5\n2023-01-01T02:00:00Z,0.4\n")
    path = write_site(tmp_path, dict(type="pv", id="pv1", capacity_mw=5, profile="sample:DE_SOLAR_2024"),
                      dict(type="wind", id="w1", capacity_mw=3, profile="wind.csv"))
    lines = validate_file(path)
    assert "config ok" in lines[0]
    assert any("pv pv1: profile sample:DE_SOLAR_2024: 8783 rows" in line for line in lines)
    assert any("wind w1: profile wind.csv: 3 rows" in line for line in lines)  # relative to the site file


def test_missing_profile_and_uncovered_prices_fail(tmp_path):
    path = write_site(tmp_path, dict(type="pv", id="pv1", capacity_mw=5, profile="nope.csv"))
    with pytest.raises(DataError, match="nope.csv: no such file"):
        validate_file(path)
    path = write_site(tmp_path, products=("da", "fcr"))
    with pytest.raises(DataError, match="no prices for fcr"):
        validate_file(path, prices="sample:DE_LU_2023")
