"""A user's own constraints from the site file: held by optimize (direct and Pyomo), by every day of
a walk-forward backtest and by sweep cases; named when they make a problem infeasible; refused
when unmarked, misnamed, ill-fitted or sent over HTTP."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

import bess_ray
from bess_ray.config import Site
from bess_ray.errors import ConfigError, InfeasibleError
from tests.conftest import CONFIGS

SITE = yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text())
WEEK = dict(start="2023-03-01", end="2023-03-08")

RULES = '''
import numpy as np
from bess_ray import site_constraint


@site_constraint
def morning_reserve(rules, fraction=0.8, hour=7):
    """At least `fraction` of the energy stored at the end of every interval of a local hour."""
    t = np.flatnonzero(rules.hour == hour)
    for b, battery in enumerate(rules.batteries):
        rules.add(f"soc_{battery}", [(rules.soc[b, t], 1.0)], lo=fraction * rules.energy_mwh[b], t=t)


@site_constraint
def daily_discharge(rules, mwh=1.0):
    """At most `mwh` discharged per local day by the whole site: one row per day."""
    day = np.broadcast_to(rules.day, rules.discharge.shape)
    rules.add("energy", [(rules.discharge, rules.dt_hours, day)], hi=mwh)


@site_constraint
def broken(rules):
    rules.add("x", [(rules.soc[0], 1.0)], lo=[1.0, 2.0])


def unmarked(rules):
    pass
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    (d / "my_rules.py").write_text(RULES)
    return d


def site(folder: Path, *constraints, **battery) -> Site:
    d = copy.deepcopy(SITE)
    d["assets"][0].update(battery)
    d["constraints"] = list(constraints)
    return Site.from_dict(d, base_dir=folder)


def morning(fraction=0.9, hour=7) -> dict:
    return {"function": "my_rules.py:morning_reserve", "params": {"fraction": fraction, "hour": hour}}


def local(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(local=pl.col("timestamp").dt.convert_time_zone("Europe/Berlin"))


def at_seven(frame: pl.DataFrame, hour: int = 7) -> pl.Series:
    return local(frame).filter(pl.col("local").dt.hour() == hour)["soc_end_frac"]


def test_an_soc_rule_holds_at_its_local_hour_every_day_and_costs_money(folder):
    free = bess_ray.optimize(site(folder), "sample:DE_LU_2023", **WEEK)
    held = bess_ray.optimize(site(folder, morning()), "sample:DE_LU_2023", **WEEK)
    assert at_seven(free.schedule).min() < 0.5  # without the rule the battery is emptied before 07:00
    assert at_seven(held.schedule).len() == 7 * 4 and at_seven(held.schedule).min() >= 0.9 - 1e-9
    assert held.summary["revenue_eur"] < free.summary["revenue_eur"] - 1.0


def test_a_summed_rule_gets_one_row_per_local_day(folder):
    r = bess_ray.optimize(site(folder, {"function": "my_rules.py:daily_discharge", "params": {"mwh": 1.0}}),
                          "sample:DE_LU_2023", **WEEK)
    per_day = local(r.schedule).group_by(pl.col("local").dt.date()).agg((pl.col("discharge_mw") * 0.25).sum())
    # a UTC week spans 8 local days (its last hour is 8 March in Berlin); each keeps the budget
    assert per_day.height == 8 and per_day["discharge_mw"].max() <= 1.0 + 1e-6
    assert per_day.sort("local")["discharge_mw"][1:7].min() > 0.9  # it binds: unbounded, the battery cycles more


def test_the_pyomo_bridge_carries_the_users_rows_under_their_label(folder):
    from bess_ray.optimization.blocks import build
    from bess_ray.optimization.pyomo_bridge import to_pyomo
    from bess_ray.data.market import load_market_prices

    s = site(folder, morning())
    market = load_market_prices("DE-LU", ("da",), "sample:DE_LU_2023", start="2023-03-01", end="2023-03-02")
    f = build(s, market)
    m = to_pyomo(f.lp.assemble(), ["bess1"])
    rows = m.morning_reserve_soc_bess1
    assert len(rows) == 4 and sorted(rows.keys()) == [24, 25, 26, 27]  # 07:00-08:00 CET = 06:00 UTC
    direct = bess_ray.optimize(s, "sample:DE_LU_2023", start="2023-03-01", end="2023-03-02")
    bridged = bess_ray.optimize(s, "sample:DE_LU_2023", start="2023-03-01", end="2023-03-02", backend="pyomo")
    assert bridged.summary["revenue_eur"] == pytest.approx(direct.summary["revenue_eur"], abs=0.01)


def test_a_long_window_with_a_user_rule_is_one_lp_that_keeps_it(folder):
    r = bess_ray.optimize(site(folder, morning(0.6)), "sample:DE_LU_2023", start="2023-03-01", end="2023-04-05")
    assert r.summary["solved_as"] == "one LP"  # the weeks cannot split rows they do not know
    assert at_seven(r.schedule).min() >= 0.6 - 1e-9  # including the days after the DST change of 26 March


def test_an_infeasible_user_rule_is_named_not_the_final_soc(folder):
    with pytest.raises(InfeasibleError) as e:
        bess_ray.optimize(site(folder, morning(0.95), soc_max=0.9, soc_initial=0.5, final_soc="free"),
                          "sample:DE_LU_2023", **WEEK)
    assert e.value.families == ["user"]
    assert "morning_reserve.soc_bess1" in str(e.value) and "final" not in str(e.value).lower()
    assert "2023-03-01T06:00" in str(e.value)


def test_a_backtest_keeps_the_rule_on_every_day_it_decides(folder):
    from bess_ray.backtesting.config import BacktestConfig

    # in that week the plan without the rule is empty at 21:00 every evening
    (folder / "site.yaml").write_text(yaml.safe_dump({**SITE, "constraints": [morning(hour=21)]}))
    cfg = dict(name="t", site="site.yaml", prices={"day_ahead": "sample:DE_LU_2023"},
               window={"start": "2023-03-06", "end": "2023-03-10"}, workflow="da_only",
               forecast={"type": "persistence", "lags_days": [1]}, baselines=[])
    held = bess_ray.backtest(BacktestConfig.model_validate(cfg), base_dir=folder)
    free = bess_ray.backtest(BacktestConfig.model_validate({**cfg, "site": SITE}), base_dir=folder)
    assert at_seven(held.realised, 21).len() == 4 * 4 and at_seven(held.realised, 21).min() >= 0.9 - 1e-6
    assert at_seven(free.realised, 21).max() < 0.5
    assert held.summary["revenue_eur"] < free.summary["revenue_eur"]


def test_a_sweep_case_builds_its_lps_with_the_sites_rules(folder):
    from bess_ray.sweeps.case import load_shared, run_case
    from bess_ray.sweeps.spec import load_sweep
    from bess_ray.data.series import memo
    from tests.sweep_specs import write_spec

    (folder / "site.yaml").write_text(yaml.safe_dump({**SITE, "constraints": [morning()]}))
    base = yaml.safe_load((CONFIGS / "backtests" / "de_lu_2023_da.yaml").read_text())
    for name, site_ref in (("held", "site.yaml"), ("free", str(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml"))):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({**base, "site": site_ref}))
    revenue = {}
    for name in ("held", "free"):
        sweep = load_sweep(write_spec(folder / name, base=str(folder / f"{name}.yaml"),
                                      sizings={"2h": {"power_mw": 1.0, "duration_h": 2}},
                                      strategies={"d1": {"forecast": {"type": "persistence", "lags_days": [1]}}}))
        with memo() as shared:
            load_shared(sweep, shared)
            (case,) = sweep.cases
            assert bool(case.config["site"].get("constraints")) == (name == "held")
            o = run_case(case, sweep.base_dir)
        assert o.ok, o.error
        revenue[name] = o.row["revenue_eur"]
    # a backtest on forecasts may earn more or less under a rule; what counts is that the case is
    # the rule's backtest, to the cent
    from bess_ray.backtesting.config import BacktestConfig
    from tests.sweep_specs import WEEK as SWEEP_WEEK

    direct = bess_ray.backtest(BacktestConfig.model_validate({**yaml.safe_load((folder / "held.yaml").read_text()),
                                                              **SWEEP_WEEK, "baselines": []}), base_dir=folder)
    assert revenue["held"] == pytest.approx(direct.summary["revenue_eur"], abs=0.005)
    assert abs(revenue["held"] - revenue["free"]) > 0.5


@pytest.mark.parametrize("constraint, message", [
    ({"function": "my_rules.py:unmarked"}, "decorate it with @bess_ray.site_constraint"),
    ({"function": "my_rules.py:nothing"}, "cannot load"),
    ({"function": "nowhere.py:f"}, "cannot load"),
    ({"function": "no_colon"}, "give 'package.module:name'"),
    ({"function": "my_rules.py:morning_reserve", "params": {"fracton": 0.8}}, "params do not fit"),
    ({"function": "my_rules.py:morning_reserve", "name": "bad name"}, "constraints.0.name"),
])
def test_a_wrong_constraint_names_its_field_and_the_reason(folder, constraint, message):
    with pytest.raises(ConfigError, match="constraints.0") as e:
        site(folder, constraint)
    assert message in str(e.value)


def test_two_constraints_of_one_name_are_refused(folder):
    with pytest.raises(ConfigError, match="repeated: morning_reserve"):
        site(folder, morning(), morning(0.5))
    assert len(site(folder, morning(), {**morning(0.5), "name": "late"}, ).constraints) == 2


def test_a_relative_file_needs_a_site_file_on_disk_but_a_copy_keeps_its_absolute_path(folder):
    d = {**SITE, "constraints": [morning()]}
    with pytest.raises(ConfigError, match="read only from a config file on disk"):
        Site.from_dict(d)
    s = site(folder, morning())
    assert s.constraints[0].function == f"{folder.resolve() / 'my_rules.py'}:morning_reserve"
    again = Site.from_dict(s.model_dump(mode="json"))  # what a sweep's worker or a flow receives
    assert again.with_products(("da",)).constraints == s.constraints


def test_a_rule_that_fails_stops_the_run_naming_it_and_the_window(folder):
    with pytest.raises(ConfigError, match=r"constraints\[0\] \(broken.*window from 2023-03-01T00:00.*x: lo: shape \(2,\) does not fit \(672,\)"):
        bess_ray.optimize(site(folder, {"function": "my_rules.py:broken"}), "sample:DE_LU_2023", **WEEK)


def test_rows_the_rules_view_refuses(folder):
    from bess_ray.data.market import load_market_prices
    from bess_ray.optimization.blocks import build
    from bess_ray.optimization.rules import Rules

    market = load_market_prices("DE-LU", ("da",), "sample:DE_LU_2023", start="2023-03-01", end="2023-03-02")
    r = Rules(build(site(folder), market), "Europe/Berlin", "mine")
    # 1 March 2023 00:00 UTC is 01:00 CET, a Wednesday; the last hour is on 2 March in Berlin
    assert r.hour[0] == 1 and r.weekday[0] == 2 and r.day[-5] == 0 and r.day[-1] == 1
    with pytest.raises(ValueError, match="columns must be taken"):
        r.add("x", [(np.array([0.5]), 1.0)], hi=1.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        r.add("x", [(r.soc[0], np.inf)], hi=1.0)
    with pytest.raises(ValueError, match="give each entry its row"):
        r.add("x", [(r.soc[0], 1.0), (r.soc[0, :3], 1.0)], hi=1.0)
    with pytest.raises(ValueError, match="letters, digits"):
        r.add("a.b", [(r.soc[0], 1.0)], hi=1.0)
    with pytest.raises(ValueError, match="no battery 'b9'"):
        r.battery("b9")
    r.add("x", [(r.soc[0], 1.0)], hi=2.0)
    with pytest.raises(ValueError, match="added already"):
        r.add("x", [(r.soc[0], 1.0)], hi=2.0)


def test_constraints_are_refused_over_http_before_any_code_is_loaded(folder):
    from bess_ray.serve.refs import check_refs

    marker = folder / "imported.txt"
    (folder / "trap.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    d = {**SITE, "constraints": [{"function": f"{folder / 'trap.py'}:f"}]}
    with pytest.raises(ConfigError, match="site.constraints: site constraints run Python code on the server"):
        check_refs({"site": d}, scenarios=None)
    from bess_ray.serve.schedules import ScheduleRequest, solve_schedule

    req = ScheduleRequest.model_validate({"site": d, "scenario": {"day_ahead": "sample:DE_LU_2023",
                                                                  "start": "2023-03-01T00:00Z", "end": "2023-03-02T00:00Z"}})
    with pytest.raises(ConfigError, match="site.constraints"):
        solve_schedule(req)
    assert not marker.exists()
