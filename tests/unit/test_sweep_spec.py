"""Sweep spec, cases, result store and ranking, without Ray (the cases run in this process)."""
import json
import math
from datetime import date

import polars as pl
import pytest

from bess_ray.data.series import memo, read_series
from bess_ray.errors import ConfigError
from bess_ray.sweeps.case import first_backtest_day, from_arrow, load_shared, run_case, to_arrow
from bess_ray.sweeps.results import rank
from bess_ray.sweeps.spec import load_sweep
from bess_ray.sweeps.store import SweepStore

from tests.conftest import CONFIGS
from tests.sweep_specs import with_failing_case, write_spec


def test_cartesian_product_labels_and_resolved_configs(tmp_path):
    sweep = load_sweep(write_spec(tmp_path))
    assert len(sweep.cases) == 4  # 1 scenario x 2 sizings x 2 strategies x 1 variant
    assert {(c.params["sizing"], c.params["strategy"]) for c in sweep.cases} == \
        {("1h", "d1"), ("1h", "d1_d7"), ("2h", "d1"), ("2h", "d1_d7")}
    c = next(c for c in sweep.cases if c.params["sizing"] == "2h")
    bess = c.config["site"]["assets"][0]
    assert (bess["discharge_mw"], bess["energy_mwh"]) == (1.0, 2.0)
    assert c.config["window"] == {"start": "2023-03-06", "end": "2023-03-13"}
    assert c.config["baselines"] == ["oracle"]
    assert c.params["site"] == "de_lu_1mw_2mwh"  # no site axis: the base config's site, by its id
    assert len({x.case_id for x in sweep.cases}) == 4


def test_case_id_is_stable_and_follows_the_resolved_config(tmp_path):
    a = {c.describe(): c.case_id for c in load_sweep(write_spec(tmp_path / "a")).cases}
    b = {c.describe(): c.case_id for c in load_sweep(write_spec(tmp_path / "b", name="other.yaml")).cases}
    assert a == b  # same cases from another file in another folder
    # a default written out explicitly resolves to the same config, hence the same id
    explicit = write_spec(tmp_path / "c", sizings={"1h": {"power_mw": 1.0, "duration_h": 1,
                                                          "battery": {"charge_efficiency": 0.95}}})
    c = {x.describe(): x.case_id for x in load_sweep(explicit).cases}
    one = "site=de_lu_1mw_2mwh, scenario=de_real, sizing=1h, strategy=d1, variant=week"
    assert c[one] == a[one]
    changed = write_spec(tmp_path / "d", sizings={"1h": {"power_mw": 1.0, "duration_h": 1.5}})
    d = {x.describe(): x.case_id for x in load_sweep(changed).cases}
    assert set(d.values()).isdisjoint(a.values())


def test_sizing_scales_poi_and_splits_round_trip_efficiency(tmp_path):
    spec = write_spec(tmp_path, sites={"portfolio": str(CONFIGS / "sites" / "de_lu_portfolio_3x.yaml")},
                      sizings={"big": {"power_mw": 5.0, "duration_h": 3, "round_trip_efficiency": 0.81},
                               "poi": {"poi_mw": 6.0, "battery": {"degradation_cost_eur_mwh": 20.0}}},
                      strategies={"fcr": {"workflow": "da_plus_fcr", "prices": {"day_ahead": "sample:DE_LU_2023",
                                                                                 "reserves": ["sample:FCR_2021@2023"]}}},
                      scenarios={})
    cases = {c.params["sizing"]: c for c in load_sweep(spec).cases}
    big = cases["big"].config["site"]
    assert all(b["charge_mw"] == b["discharge_mw"] == 5.0 and b["energy_mwh"] == 15.0 for b in big["assets"])
    assert big["assets"][0]["charge_efficiency"] == pytest.approx(0.9)
    assert big["poi"]["import_mw"] == pytest.approx(8.0 * 15.0 / 9.5)  # scaled with the batteries' power
    poi = cases["poi"].config["site"]
    assert poi["poi"] == {"import_mw": 6.0, "export_mw": 6.0}
    assert {b["degradation_cost_eur_mwh"] for b in poi["assets"]} == {20.0}
    assert cases["poi"].config["workflow"] == "da_plus_fcr"


def test_explicit_case_list(tmp_path):
    spec = write_spec(tmp_path, cases=[{"sizing": "1h", "strategy": "d1"}, {"sizing": "2h", "strategy": "d1_d7"}])
    sweep = load_sweep(spec)
    assert [(c.params["sizing"], c.params["strategy"]) for c in sweep.cases] == [("1h", "d1"), ("2h", "d1_d7")]
    bad = write_spec(tmp_path, name="bad.yaml", cases=[{"sizing": "3h", "strategy": "d1"}])
    with pytest.raises(ConfigError, match=r"cases\.0\.sizing: unknown label '3h'; known: 1h, 2h"):
        load_sweep(bad)
    missing = write_spec(tmp_path, name="missing.yaml", cases=[{"sizing": "1h"}])
    with pytest.raises(ConfigError, match=r"cases\.0\.strategy: missing; choose one of d1, d1_d7"):
        load_sweep(missing)


@pytest.mark.parametrize("over, message", [
    ({"sizingz": {}}, r"spec.yaml: sizingz: unknown key"),
    ({"sites": {"x": "no/such/site.yaml"}}, r"sites\.x: .*no/such/site.yaml: no such config file"),
    ({"strategies": {"bad": {"workflow": "da_plus_everything"}}}, r"case \(.*strategy=bad.*\): workflow: Input should be"),
    ({"sizings": {"x": {"power_mw": -1}}}, r"sizings\.x\.power_mw: Input should be greater than 0"),
    ({"variants": {"a": {"baselines": ["oracle"]}, "b": {"baselines": ["oracle"]}}}, r"the same config as case"),
    ({"base": str(CONFIGS / "simulations" / "de_lu_10mw_20mwh_15y.yaml")}, r"is not a backtest config"),
])
def test_bad_specs_name_the_path_and_reason(tmp_path, over, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep(write_spec(tmp_path, **over))


def test_year_axis_starts_after_the_forecast_history(tmp_path):
    spec = write_spec(tmp_path, years=[2023, 2024], variants={})
    with memo():
        sweep = load_sweep(spec, first_day=first_backtest_day)
    windows = {(c.params["strategy"], c.params["year"]): c.config["window"] for c in sweep.cases}
    assert windows[("d1", 2023)] == {"start": "2023-01-02", "end": "2024-01-01"}      # D-1 needs 1 January
    assert windows[("d1_d7", 2023)] == {"start": "2023-01-08", "end": "2024-01-01"}   # D-7 needs a week
    assert windows[("d1_d7", 2024)] == {"start": "2024-01-01", "end": "2025-01-01"}   # 2023 holds the history
    assert first_backtest_day(sweep.cases[0].config, sweep.base_dir) == date(2023, 1, 2)


def test_series_memo_reads_once_and_survives_the_arrow_round_trip():
    with memo() as shared:
        a = read_series("sample:DE_LU_2023", product="da", zone="DE-LU")
        b = read_series("sample:DE_LU_2023", product="da", zone="DE-LU")
    assert a is b and len(shared) == 1
    back = from_arrow(to_arrow(shared))
    (key, s), = back.items()
    assert s.frame.equals(a.frame) and s.resolution_min == a.resolution_min and s.source == a.source
    with memo(back):
        assert read_series("sample:DE_LU_2023", product="da", zone="DE-LU") is s


def _run_all(sweep, store: SweepStore):
    with memo() as shared:
        load_shared(sweep, shared)
        outcomes = [run_case(c, sweep.base_dir) for c in sweep.cases]
    for c, o in zip(sweep.cases, outcomes):
        if o.ok:
            store.write_result(c.case_id, o.row, o.years)
        else:
            store.write_failure(c.case_id, c.params, o.error, o.traceback, 1)
    return outcomes


def test_cases_run_to_rows_and_rank(tmp_path):
    sweep = load_sweep(write_spec(tmp_path))
    store = SweepStore(tmp_path / "out")
    store.claim(sweep)
    outcomes = _run_all(sweep, store)
    assert all(o.ok for o in outcomes)
    row = outcomes[0].row
    assert row["days"] == 7 and row["revenue_eur"] > 0 and 0 < row["capture_rate"] <= 1 + 1e-9
    assert row["revenue_da_eur"] == pytest.approx(row["revenue_eur"])
    assert row["oracle_revenue_eur"] >= row["revenue_eur"] - 1e-6
    assert store.done_ids() == {c.case_id for c in sweep.cases}
    assert not list((tmp_path / "out").rglob("*.tmp"))
    years = pl.read_parquet(tmp_path / "out" / "years" / f"{row['case_id']}.parquet")
    assert years["year"].to_list() == [2023] and years["revenue_eur"][0] == pytest.approx(row["revenue_eur"])

    ranked = rank(tmp_path / "out")
    assert ranked.height == 4 and ranked["revenue_eur"].is_sorted(descending=True)
    assert ranked["rank"].to_list() == [1, 2, 3, 4]
    # twice the energy earns more on the same prices and strategy
    by = {(r["sizing"], r["strategy"]): r["revenue_eur"] for r in ranked.iter_rows(named=True)}
    assert by[("2h", "d1")] > by[("1h", "d1")]
    grouped = rank(tmp_path / "out", by="capture_rate", group_by=["strategy"])
    assert set(grouped["strategy"]) == {"d1", "d1_d7"} and grouped["cases"].to_list() == [2, 2]
    assert rank(tmp_path / "out", where="sizing = '2h'").height == 2
    with pytest.raises(ConfigError, match="the query failed"):
        rank(tmp_path / "out", where="no_such_column = 1")
    with pytest.raises(ConfigError, match="no column 'npv'"):
        rank(tmp_path / "out", by="npv")


def test_a_failing_case_keeps_its_traceback_and_the_others_finish(tmp_path):
    sweep = load_sweep(with_failing_case(tmp_path))
    store = SweepStore(tmp_path / "out")
    store.claim(sweep)
    outcomes = _run_all(sweep, store)
    failed = [o for o in outcomes if not o.ok]
    assert len(failed) == 2 and len(store.done_ids()) == 2
    assert "boom: this forecaster always fails" in failed[0].error
    assert failed[0].traceback.startswith("Traceback") and "BacktestError" in failed[0].traceback
    recorded = store.failures()
    assert {f["params"]["strategy"] for f in recorded} == {"boom"}


def test_output_folder_of_another_spec_is_refused_unless_forced(tmp_path):
    out = tmp_path / "out"
    first = load_sweep(write_spec(tmp_path / "a"))
    store = SweepStore(out)
    store.claim(first)
    _run_all(first, store)
    store.claim(first)  # the same spec again: a resume
    other = load_sweep(write_spec(tmp_path / "b", sizings={"1h": {"power_mw": 1.0, "duration_h": 1}}))
    with pytest.raises(ConfigError, match="holds the results of another sweep"):
        SweepStore(out).claim(other)
    assert len(store.done_ids()) == 4  # nothing touched
    SweepStore(out).claim(other, force=True)
    kept = {c.case_id for c in other.cases}
    assert store.done_ids() == kept & {c.case_id for c in first.cases} and len(kept) == 2
    assert json.loads((out / "sweep.json").read_text())["digest"] == other.digest
    cases = pl.read_parquet(out / "cases.parquet")
    assert cases["case_id"].to_list() == [c.case_id for c in other.cases]

    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not a sweep's output folder"):
        SweepStore(stray).claim(first)


def test_round_trip_efficiency_column(tmp_path):
    sweep = load_sweep(write_spec(tmp_path, sizings={"x": {"round_trip_efficiency": 0.85}}))
    with memo() as shared:
        load_shared(sweep, shared)
        o = run_case(sweep.cases[0], sweep.base_dir)
    assert o.row["round_trip_efficiency"] == pytest.approx(0.85)
    assert math.isclose(o.row["duration_h"], 2.0)


def test_simulation_cases_give_npv_and_yearly_rows(tmp_path):
    import shutil

    spec = tmp_path / "sim.yaml"
    shutil.copyfile(CONFIGS / "sweeps" / "de_lu_pv_storage_npv.yaml", spec)
    text = spec.read_text().replace("base: ../simulations/", f"base: {CONFIGS}/simulations/")
    spec.write_text(text + "strategies:\n  two_years: {years: 2}\n")
    sweep = load_sweep(spec)
    assert len(sweep.cases) == 12  # 2 scenarios x 3 sizings x 2 variants x 1 strategy
    case = next(c for c in sweep.cases if c.params["sizing"] == "2h" and c.params["variant"] == "nmc")
    assert case.config["battery_model"]["chemistry"] == "nmc" and case.config["finance"]["capex_eur_per_kwh"] == 230.0
    assert case.config["finance"]["discount_rate"] == 0.07  # the rest of the block kept
    with memo() as shared:
        load_shared(sweep, shared, [case])
        o = run_case(case, sweep.base_dir)
    assert o.ok, o.traceback
    assert o.row["npv_eur"] is not None and 0.8 < o.row["final_soh"] < 1.0 and o.row["years"] == 2
    years = pl.from_arrow(o.years)
    assert years["year"].to_list() == [2026, 2027] and set(years["case_id"]) == {case.case_id}
    assert o.row["revenue_eur"] == pytest.approx(years["revenue_eur"].sum())


@pytest.mark.parametrize("name, cases", [("quickstart.yaml", 24), ("de_lu_pv_storage_npv.yaml", 12)])
def test_shipped_sweeps_expand_and_validate(name, cases):
    sweep = load_sweep(CONFIGS / "sweeps" / name)
    assert len(sweep.cases) == cases and len({c.case_id for c in sweep.cases}) == cases


def test_validate_checks_a_sweep_and_its_data(tmp_path):
    from bess_ray.validate import validate_file

    lines = validate_file(CONFIGS / "sweeps" / "quickstart.yaml")
    assert "24 backtest case(s): config ok" in lines[0]
    assert "4 series" in lines[1]  # DE-LU day-ahead 2023 and 2024, FCR onto 2023 and 2024: once each


def test_a_sweep_of_backtests_through_the_control_pipeline_ranks_the_operable_money(tmp_path):
    day = {"window": {"start": "2023-03-06", "end": "2023-03-07"}, "baselines": [],
           "through_control": {"frequency": "nominal"}}
    sweep = load_sweep(write_spec(tmp_path, strategies={"d1": {"forecast": {"type": "persistence", "lags_days": [1]}}},
                                  variants={"day": day}), first_day=first_backtest_day)
    outcomes = [run_case(c, sweep.base_dir) for c in sweep.cases]
    assert len(outcomes) == 2 and all(o.ok for o in outcomes), [o.error for o in outcomes]
    for o in outcomes:
        assert o.row["operable_revenue_eur"] is not None and o.row["non_delivery_intervals"] == 0
        # energy only, on nominal frequency: the plan's money less what ramps, delays and the BMS taper cost
        assert o.row["operable_revenue_eur"] == pytest.approx(o.row["revenue_eur"], rel=0.05)
        assert o.row["operable_gap_eur"] == pytest.approx(o.row["operable_revenue_eur"] - o.row["revenue_eur"])
