"""The `bess-ray` command end to end, in a subprocess like a user runs it."""
import json
import os
import subprocess
import sys

import polars as pl
import yaml
import pytest

from tests.conftest import CONFIGS, ROOT

SITE = str(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml")


def cli(*args, env_home=None):
    env = dict(os.environ)
    if env_home:
        env["BESS_RAY_HOME"] = str(env_home)
    return subprocess.run([sys.executable, "-m", "bess_ray.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_optimize_week_writes_schedule_and_summary(tmp_path):
    out = tmp_path / "out"
    p = cli("optimize", "--site", SITE, "--prices", "sample:DE_LU_2023", "--start", "2023-06-05", "--end",
            "2023-06-12", "--format", "parquet", "csv", "--out", out)
    assert p.returncode == 0, p.stderr
    assert "revenue" in p.stdout and "day-ahead energy" in p.stdout
    summary = json.loads((out / "summary.json").read_text())
    for key in ("revenue_eur", "revenue_by_product_eur", "status", "build_seconds", "solve_seconds"):
        assert key in summary
    sched = pl.read_parquet(out / "schedule.parquet")
    assert sched.height == 7 * 96 and {"charge_mw", "discharge_mw", "net_mw", "soc_end_mwh", "site_net_mw"} <= set(sched.columns)
    assert pl.read_csv(out / "schedule.csv").height == sched.height
    assert summary["revenue_eur"] == pytest.approx(sched["revenue_eur"].sum())


def test_optimize_with_reserves_and_product_override(tmp_path):
    p = cli("optimize", "--site", SITE, "--prices", "sample:DE_LU_2023", "--reserve-prices", "fcr=sample:FCR_2021@2023",
            "--products", "da_plus_fcr", "--start", "2023-03-01", "--end", "2023-03-03", "--resolution", "60min",
            "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["products"] == ["da", "fcr"] and summary["revenue_by_product_eur"]["fcr"] > 0
    assert summary["window"]["resolution_min"] == 60


def test_optimize_does_not_import_ray(tmp_path):
    code = ("import sys; from bess_ray.cli import main; "
            f"main(['optimize','--site',{SITE!r},'--prices','sample:DE_LU_2023','--start','2023-01-02',"
            f"'--end','2023-01-03','--out',{str(tmp_path)!r}]); "
            "assert 'ray' not in sys.modules, 'ray was imported'; print('no ray')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0 and "no ray" in p.stdout, p.stderr


def test_bad_config_and_bad_prices_exit_2_with_the_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text().replace("charge_efficiency: 0.95",
                                                                                   "charge_efficiency: 1.5"))
    p = cli("validate", bad)
    assert p.returncode == 2 and "assets.0.charge_efficiency: Input should be less than or equal to 1" in p.stderr
    gap = tmp_path / "gap.csv"
    gap.write_text("timestamp_utc,price_eur_mwh\n2023-01-01T00:00:00Z,1\n2023-01-01T01:00:00Z,2\n"
                   "2023-01-01T05:00:00Z,3\n2023-01-01T06:00:00Z,4\n")
    p = cli("optimize", "--site", SITE, "--prices", gap, "--out", tmp_path / "o")
    assert p.returncode == 2 and "gap: 3 missing interval(s)" in p.stderr and "rows 4" in p.stderr
    assert not (tmp_path / "o").exists()  # nothing half written
    p = cli("optimize", "--site", SITE, "--prices", gap, "--fill", "linear", "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr


def test_validate_good_site_with_prices():
    p = cli("validate", CONFIGS / "sites" / "dk2_nordic_2mw_2mwh.yaml", "--prices", "sample:NORDIC_2023",
            "--reserve-prices", "sample:DK2_FCR_NORDIC_2021@2023")
    assert p.returncode == 0, p.stderr
    assert "config ok" in p.stdout and "fcr_n, fcr_d_up: ok" in p.stdout


def test_validate_backtest_config(tmp_path):
    p = cli("validate", CONFIGS / "backtests" / "de_lu_2023_fcr_afrr.yaml")
    assert p.returncode == 0, p.stderr
    assert "backtest de_lu_2023_fcr_afrr: config ok" in p.stdout and "fcr from sample:FCR_2021@2023" in p.stdout
    bad = tmp_path / "bt.yaml"
    bad.write_text((CONFIGS / "backtests" / "de_lu_2023_da.yaml").read_text()
                   .replace("../sites/de_lu_1mw_2mwh.yaml", str(CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml"))
                   .replace("end: 2024-01-01", "end: 2025-03-01"))
    p = cli("validate", bad)
    assert p.returncode == 2 and "is not inside the day-ahead prices" in p.stderr


def test_data_import_list_show_delete(tmp_path):
    home = tmp_path / "home"
    src = ROOT / "bess_ray" / "data" / "samples" / "day_ahead" / "BE_2023_hourly.csv"
    p = cli("data", "import", src, "--name", "be23", "--zone", "BE", env_home=home)
    assert p.returncode == 0 and "imported be23: 8760 rows" in p.stdout, p.stderr
    assert "be23" in cli("data", "list", env_home=home).stdout
    show = cli("data", "show", "be23", env_home=home)
    assert '"rows": 8760' in show.stdout
    assert cli("data", "import", src, "--name", "be23", env_home=home).returncode == 2
    assert cli("data", "delete", "be23", env_home=home).returncode == 0
    p = cli("data", "show", "be23", env_home=home)
    assert p.returncode == 2 and "unknown scenario" in p.stderr
    assert "sample:DE_LU_2023" in cli("data", "samples").stdout


@pytest.mark.slow
def test_readme_figure_full_year_perfect_foresight(tmp_path):
    """The README's figure: the DE-LU example site over all of 2023 as one LP, solved by weeks
    joined into it (the default) and handed to HiGHS whole (--one-lp): the same optimum."""
    summaries = {}
    for how in ((), ("--one-lp", "--threads", "2")):
        out = tmp_path / ("one" if how else "weeks")
        p = cli("optimize", "--site", SITE, "--prices", "sample:DE_LU_2023", *how, "--out", out)
        assert p.returncode == 0, p.stderr
        summaries[how] = json.loads((out / "summary.json").read_text())
    weeks, one = summaries.values()
    assert weeks["solved_as"] == "52 weeks joined into one LP" and one["solved_as"] == "one LP"
    assert weeks["window"]["intervals"] == 35040
    assert weeks["revenue_eur"] == pytest.approx(72133.53, abs=0.05)
    assert weeks["objective_eur"] == pytest.approx(one["objective_eur"], rel=1e-9)
    readme = (ROOT / "README.md").read_text()
    assert "72,133.53" in readme


@pytest.mark.slow
@pytest.mark.parametrize("name,streams", [
    ("de_lu_2023_da", {"da"}),
    ("de_lu_2023_fcr_afrr", {"da", "fcr", "afrr_up", "afrr_down"}),
    ("dk2_2023_fcrn_fcrd", {"da", "fcr_n", "fcr_d_up", "intraday"}),
    ("de_lu_2024_pv", {"da", "generation_da", "feed_in_premium"}),
])
def test_example_backtests_run_through_the_cli(tmp_path, name, streams):
    """The shipped backtests over (nearly) a year of real prices, as the docs quote them."""
    p = cli("backtest", CONFIGS / "backtests" / f"{name}.yaml", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    s = json.loads((tmp_path / "summary.json").read_text())
    assert streams <= set(s["revenue_by_stream_eur"])
    assert 0 < s["revenue_eur"] <= s["oracle_revenue_eur"] and 0.5 < s["capture_rate"] <= 1.0
    assert s["baselines_revenue_eur"]["naive"] < s["revenue_eur"]
    assert s["days"] >= 350 and "capture rate" in p.stdout
    figures = json.loads((ROOT / "tests" / "data" / "figures.json").read_text())[f"backtest/{name}"]
    assert round(s["revenue_eur"], 2) == figures["revenue_eur"]  # to the cent, on any machine
    assert round(s["oracle_revenue_eur"], 2) == figures["oracle_revenue_eur"]
    docs = (ROOT / "docs" / "backtests.md").read_text()
    assert f"{s['revenue_eur']:,.0f}" in docs, f"docs/backtests.md should quote {name}: {s['revenue_eur']:,.0f} EUR"


def test_a_backtest_through_the_control_pipeline_on_nordic_frequency(tmp_path):
    """bess-ray backtest --through-control: the DK2 example's first day delivered second by second on
    the Nordic week of measured frequency, with its artifacts and a clear error for a bad source."""
    cfg = yaml.safe_load((CONFIGS / "backtests" / "dk2_2023_fcrn_fcrd.yaml").read_text())
    cfg.update(site=str(CONFIGS / "sites" / "dk2_nordic_2mw_2mwh.yaml"), baselines=["oracle"],
               window={"start": "2023-01-09", "end": "2023-01-10"})
    cfg.pop("report_week", None)
    path = tmp_path / "dk2_day.yaml"
    path.write_text(yaml.safe_dump(cfg))
    p = cli("backtest", path, "--out", tmp_path / "out", "--through-control")
    assert p.returncode == 0, p.stderr
    assert "through the control pipeline" in p.stdout and "operable" in p.stdout
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    o = s["operable"]
    assert o["frequency"]["source"] == "sample:NORDIC_2015-01-01_07" and o["cycles"] == 86400 + 10
    assert set(o["reserve_activation_mwh"]) >= {"fcr_n"} and o["planned_mwh"] >= 0
    frame = pl.read_parquet(tmp_path / "out" / "operable.parquet")
    assert frame.height == 96 and {"planned_mw", "delivered_mw", "soc_delivered_mwh", "activation_fcr_n_mw"} <= set(frame.columns)
    assert (tmp_path / "out" / "interventions.csv").exists()
    assert (tmp_path / "out" / "plots" / "plan_vs_operable.png").exists()
    assert 'alt="plan_vs_operable"' in (tmp_path / "out" / "report.html").read_text()
    bad = cli("backtest", path, "--out", tmp_path / "bad", "--frequency", str(tmp_path / "nope.parquet"))
    assert bad.returncode != 0 and "frequency" in bad.stderr and "no such file" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_the_plan_versus_operable_example_gives_the_readmes_figures_to_the_cent(tmp_path):
    p = cli("backtest", CONFIGS / "backtests" / "de_lu_week_through_control.yaml", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    s = json.loads((tmp_path / "summary.json").read_text())
    want = json.loads((ROOT / "tests" / "data" / "figures.json").read_text())["operable/de_lu_week_through_control"]
    assert round(s["revenue_eur"], 2) == want["revenue_eur"]
    assert round(s["operable"]["revenue_eur"], 2) == want["operable_revenue_eur"]
    assert s["operable"]["non_delivery_intervals"] == want["non_delivery_intervals"]
    assert f"operable {want['operable_revenue_eur']:,.2f} EUR" in p.stdout
    assert f"{want['operable_revenue_eur']:,.2f}" in (ROOT / "README.md").read_text()
    assert f"{want['operable_revenue_eur']:,.2f}" in (ROOT / "docs" / "backtests.md").read_text()
