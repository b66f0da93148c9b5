import pytest

from bess_ray import optimize
from bess_ray.data import read_series
from bess_ray.errors import DataError
from bess_ray.store.scenarios import ScenarioStore
from tests.conftest import CONFIGS


def test_import_list_show_load_delete(isolated_store):
    store = ScenarioStore()
    series = read_series("sample:DE_LU_2023")
    meta = store.add("de23", series, zone="DE-LU", description="real DE-LU 2023")
    assert meta["rows"] == 8760 and meta["columns"] == {"da": "EUR/MWh"} and meta["start_utc"] == "2022-12-31T23:00:00Z"
    assert [m["name"] for m in store.list()] == ["de23"]
    loaded = store.load("de23")
    assert loaded.frame.equals(series.frame)
    assert store.db.row("SELECT COUNT(*) AS n FROM scenario_data")["n"] == 1
    assert store.delete("de23") and store.list() == []
    assert store.db.row("SELECT COUNT(*) AS n FROM scenario_data")["n"] == 0  # its data went with it
    assert not store.delete("de23")


def test_scenario_reference_in_optimize():
    ScenarioStore().add("de23", read_series("sample:DE_LU_2023"))
    r = optimize(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml", "scenario:de23", start="2023-06-01", end="2023-06-03")
    assert r.status == "optimal" and r.summary["data_sources"]["da"] == "scenario:de23"


def test_names_duplicates_and_unknown():
    store = ScenarioStore()
    s = read_series("sample:DE_LU_2023")
    with pytest.raises(DataError, match="scenario name"):
        store.add("../evil", s)
    store.add("x", s)
    with pytest.raises(DataError, match="exists"):
        store.add("x", s)
    store.add("x", read_series("sample:BE_2023"), replace=True)
    assert store.load("x").values("da")[0] == pytest.approx(-4.39)
    assert store.db.row("SELECT COUNT(*) AS n FROM scenario_data")["n"] == 1  # the replaced data is gone
    with pytest.raises(DataError, match="unknown scenario 'nope'; stored: x"):
        store.load("nope")


def test_a_failed_import_leaves_nothing_and_the_old_version_in_place():
    store = ScenarioStore()
    store.add("y", read_series("sample:DE_LU_2023"))
    broken = read_series("sample:BE_2023")
    broken.source = None  # the row's NOT NULL source: the insert fails after the data was written
    with pytest.raises(Exception):
        store.add("y", broken, replace=True)
    assert store.load("y").values("da")[0] == read_series("sample:DE_LU_2023").values("da")[0]
    assert store.db.row("SELECT COUNT(*) AS n FROM scenario_data")["n"] == 1


def test_the_same_series_under_two_names_is_stored_once():
    store = ScenarioStore()
    s = read_series("sample:DE_LU_2023")
    store.add("a", s)
    store.add("b", s)
    assert store.db.row("SELECT COUNT(*) AS n FROM scenario_data")["n"] == 1
    store.delete("a")
    assert store.load("b").frame.equals(s.frame)
