import pytest

from bess_ray.config import Site
from bess_ray.errors import ConfigError
from tests.conftest import CONFIGS, battery, site_dict


@pytest.mark.parametrize("path", sorted((CONFIGS / "sites").glob("*.yaml")), ids=lambda p: p.stem)
def test_example_sites_load(path):
    site = Site.from_yaml(path)
    assert site.schema_version == 1 and site.batteries


def test_example_site_is_the_one_the_issue_describes():
    s = Site.from_yaml(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml")
    (b,) = s.batteries
    assert (b.charge_mw, b.discharge_mw, b.energy_mwh) == (1.0, 1.0, 2.0)
    assert (b.charge_efficiency, b.discharge_efficiency, b.soc_initial, b.final_soc) == (0.95, 0.95, 0.5, "at_least_initial")
    assert s.zone == "DE-LU" and s.markets.products == ("da",)


def test_portfolio_poi_is_below_the_sum_of_batteries():
    s = Site.from_yaml(CONFIGS / "sites" / "de_lu_portfolio_3x.yaml")
    assert len(s.batteries) == 3
    assert s.poi.export_mw < sum(b.discharge_mw for b in s.batteries)


def error_of(data) -> str:
    with pytest.raises(ConfigError) as e:
        Site.from_dict(data, "site.yaml")
    return str(e.value)


def test_unknown_key_names_its_path():
    msg = error_of(site_dict(battery(colour="red")))
    assert "site.yaml: assets.0.colour: unknown key" in msg


def test_efficiency_above_one_names_field():
    assert "assets.0.charge_efficiency" in error_of(site_dict(battery(charge_efficiency=1.2)))


def test_soc_order_and_initial_soc():
    assert "soc_min (0.9) must be below soc_max" in error_of(site_dict(battery(soc_min=0.9, soc_max=0.5)))
    assert "soc_initial (0.05) lies outside" in error_of(site_dict(battery(soc_min=0.1, soc_initial=0.05)))
    assert "final_soc (0.95) lies outside" in error_of(site_dict(battery(soc_max=0.9, final_soc=0.95)))


def test_product_must_exist_in_zone():
    msg = error_of(site_dict(zone="SE3", products=("da", "fcr")))
    assert "zone SE3 has no market for fcr" in msg


def test_unknown_zone_product_and_schema_version():
    assert "zone: unknown zone 'XX'" in error_of(site_dict(zone="XX"))
    assert "unknown product 'fcrx'" in error_of(site_dict(products=("da", "fcrx")))
    data = site_dict()
    data["schema_version"] = 2
    assert "schema_version" in error_of(data)


def test_kernel_name_expands_and_duplicate_ids_fail():
    s = Site.from_dict(site_dict(products=("da_plus_fcr_afrr",)))
    assert s.markets.products == ("da", "fcr", "afrr_up", "afrr_down")
    assert "asset ids must be unique" in error_of(site_dict(battery(), battery()))


def test_reserve_duration_override_is_checked():
    s = Site.from_dict(site_dict(products=("da", "fcr"), reserve_duration_h={"fcr": 0.5}))
    assert s.markets.duration_h("fcr") == 0.5 and s.markets.duration_h("afrr_up") == 1.0
    assert "'da' is not a reserve product" in error_of(site_dict(reserve_duration_h={"da": 1}))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        Site.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Site.from_yaml(bad)
