"""Backtests, simulations and sweeps over HTTP against a real Serve instance: answered at once when
small, 202 + progress + results by id when not, cancellation, files, and bad input."""
import io
import json
import time

import polars as pl
import pytest
import yaml

from bess_ray.backtesting.run import backtest
from bess_ray.simulation.run import simulate

from tests.api_client import call
from tests.conftest import CONFIGS

SITE = yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text())


def backtest_body(days: int = 7, **over) -> dict:
    cfg = yaml.safe_load((CONFIGS / "backtests" / "de_lu_2023_da.yaml").read_text())
    cfg.update(site=SITE, window={"start": "2023-03-06", "end": f"2023-03-{6 + days:02d}"}, baselines=["oracle"])
    cfg.pop("report_week")
    return {**cfg, **over}


def wait_for(api, path: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, job = call(api, "GET", path, role="viewer")
        assert status == 200, job
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"{path} did not finish: {job}")


def test_a_small_backtest_is_answered_at_once_with_the_cli_figures(api, tmp_path):
    body = backtest_body()
    status, job = call(api, "POST", "/v1/backtests", body, role="analyst")
    assert status == 200, job
    assert job["status"] == "done" and job["progress"] == {"done": 7, "total": 7, "unit": "days", "fraction": 1.0}
    direct = backtest(backtest.__globals__["BacktestConfig"].model_validate(body))
    assert job["result"]["revenue_eur"] == pytest.approx(direct.summary["revenue_eur"], abs=1e-6)
    assert job["result"]["capture_rate"] == pytest.approx(direct.summary["capture_rate"], abs=1e-9)

    files = {f["path"] for f in call(api, "GET", f"/v1/backtests/{job['id']}/files", role="viewer")[1]}
    assert {"summary.json", "realised.parquet", "report.html"} <= files, files
    status, raw = call(api, "GET", f"/v1/backtests/{job['id']}/files/realised.parquet", role="viewer")
    assert status == 200 and pl.read_parquet(io.BytesIO(raw)).height == 7 * 96
    assert call(api, "GET", f"/v1/backtests/{job['id']}/result", role="viewer")[1] == job["result"]
    assert job["id"] in [j["id"] for j in call(api, "GET", "/v1/backtests", role="viewer")[1]]


def test_a_backtest_through_the_control_pipeline_over_http_gives_the_operable_figures(api):
    body = backtest_body(days=1, workflow="da_plus_fcr_afrr",
                         prices={"day_ahead": "sample:DE_LU_2023",
                                 "reserves": ["sample:FCR_2021@2023", "sample:DE_AFRR_UP_2015_2017@2023",
                                              "sample:DE_AFRR_DOWN_2015_2017@2023"]},
                         through_control={"frequency": "sample:CE_2022-09-17"})
    status, job = call(api, "POST", "/v1/backtests", body, role="analyst", headers={"Prefer": "wait=120"})
    assert status == 200 and job["status"] == "done", job
    operable = job["result"]["operable"]
    direct = backtest(backtest.__globals__["BacktestConfig"].model_validate(body)).summary["operable"]
    assert operable["revenue_eur"] == pytest.approx(direct["revenue_eur"], abs=0.005)
    assert operable["frequency"]["source"] == "sample:CE_2022-09-17" and operable["cycles"] == 86400 + 10
    assert operable["reserve_activation_mwh"]["fcr"] != 0.0
    files = {f["path"] for f in call(api, "GET", f"/v1/backtests/{job['id']}/files", role="viewer")[1]}
    assert {"operable.parquet", "interventions.csv", "plots/plan_vs_operable.png"} <= files, files


def test_respond_async_gives_202_then_progress_then_the_result(api):
    status, job, headers = call(api, "POST", "/v1/backtests", backtest_body(days=21),
                                role="analyst", headers={"Prefer": "respond-async"}, answer_headers=True)
    assert status == 202 and job["status"] in ("queued", "running") and "result" not in job
    assert headers["location"] == f"/v1/backtests/{job['id']}"
    assert job["progress"]["total"] == 21 and job["progress"]["unit"] == "days"
    early = call(api, "GET", f"/v1/backtests/{job['id']}/result", role="viewer")
    assert early[0] in (200, 409)  # 409 while it runs: "job ... is running (n of 21 days)"
    done = wait_for(api, headers["location"])
    assert done["status"] == "done" and done["progress"]["done"] == 21
    assert done["result"]["revenue_eur"] > 0 and done["started_utc"] and done["finished_utc"]


def test_a_running_job_can_be_cancelled(api):
    status, job = call(api, "POST", "/v1/backtests", backtest_body(days=25, window={"start": "2023-01-02",
                                                                                     "end": "2023-12-31"}),
                       role="analyst", headers={"Prefer": "respond-async"})
    assert status == 202
    status, cancelled = call(api, "DELETE", f"/v1/backtests/{job['id']}", role="analyst")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    status, answer = call(api, "GET", f"/v1/backtests/{job['id']}/result", role="viewer")
    assert status == 409 and "cancelled" in answer["detail"]
    assert call(api, "DELETE", f"/v1/backtests/{job['id']}", role="analyst")[0] == 409


def test_a_simulation_matches_the_cli_run(api):
    cfg = yaml.safe_load((CONFIGS / "simulations" / "de_lu_10mw_20mwh_15y.yaml").read_text())
    cfg.update(site=yaml.safe_load((CONFIGS / "sites" / "de_lu_10mw_20mwh_pv.yaml").read_text()), years=2,
               timeseries=False)
    for asset in cfg["site"]["assets"]:  # the site's relative profile reference, as a bundled sample
        if asset.get("profile", "").endswith(".csv"):
            asset["profile"] = "sample:DE_SOLAR_2024"
    status, job = call(api, "POST", "/v1/simulations", cfg, role="analyst", headers={"Prefer": "wait=120"})
    assert status == 200 and job["status"] == "done", job
    assert job["progress"] == {"done": 2, "total": 2, "unit": "years", "fraction": 1.0}
    direct = simulate(simulate.__globals__["SimulationConfig"].model_validate(cfg))
    assert job["result"]["npv_eur"] == pytest.approx(direct.summary["npv_eur"], rel=1e-9)
    assert [y["year"] for y in job["result"]["yearly"]] == [2026, 2027]


def test_a_sweep_with_its_base_inline_ranks_its_cases(api):
    spec = {"schema_version": 1, "name": "api_sweep", "kind": "backtest", "base": backtest_body(),
            "sizings": {"1h": {"power_mw": 1.0, "duration_h": 1}, "2h": {"power_mw": 1.0, "duration_h": 2}}}
    status, job = call(api, "POST", "/v1/sweeps", spec, role="analyst", headers={"Prefer": "wait=120"})
    assert status == 200 and job["status"] == "done", job
    assert job["progress"]["total"] == 2 and job["result"]["cases"] == 2 and job["result"]["failed"] == 0
    ranking = job["result"]["ranking"]
    assert [r["sizing"] for r in ranking] == ["2h", "1h"]  # more energy earns more on the same prices
    assert ranking[0]["revenue_eur"] > ranking[1]["revenue_eur"] > 0
    files = {f["path"] for f in call(api, "GET", f"/v1/sweeps/{job['id']}/files", role="viewer")[1]}
    assert "spec.yaml" in files and sum(p.startswith("results/results/") for p in files) == 2, files


@pytest.mark.parametrize("path, body, field, reason", [
    ("/v1/backtests", backtest_body(prices={"day_ahead": "/etc/passwd"}), "prices.day_ahead", "names a file"),
    ("/v1/backtests", backtest_body(site="../sites/de_lu_1mw_2mwh.yaml"), "site", "names a file"),
    ("/v1/backtests", backtest_body(prices={"day_ahead": "scenario:nope"}), "prices.day_ahead", "unknown scenario"),
    ("/v1/backtests", backtest_body(prices={"day_ahead": "sample:NOPE"}), "prices.day_ahead", "unknown sample"),
    ("/v1/backtests", backtest_body(forecast={"type": "custom_python", "class": "subprocess:Popen"}),
     "forecast", "runs code on the server"),
    ("/v1/backtests", backtest_body(forecast={"type": "csv", "path": "forecasts/da.csv"}), "forecast.path",
     "names a file"),
    ("/v1/backtests", backtest_body(through_control={"frequency": "/data/hz.parquet"}), "through_control.frequency",
     "auto, nominal or one of the bundled samples"),
])
def test_jobs_refuse_server_files_and_unknown_data(api, path, body, field, reason):
    status, answer = call(api, "POST", path, body, role="analyst")
    assert status == 422 and field in str(answer["detail"]) and reason in str(answer["detail"]), answer


def test_bad_job_bodies_and_ids_are_4xx(api):
    status, answer = call(api, "POST", "/v1/backtests", backtest_body(window={"start": "2023-03-06",
                                                                                "end": "2023-03-01"}), role="analyst")
    assert status == 422 and any(d["path"] == "window" and "must be after" in d["reason"] for d in answer["detail"])
    spec = {"schema_version": 1, "name": "bad", "kind": "backtest", "base": backtest_body(),
            "sizings": {"1h": {"power_mw": -1.0}}}
    status, answer = call(api, "POST", "/v1/sweeps", spec, role="analyst")
    assert status == 422 and "sizings.1h.power_mw" in json.dumps(answer["detail"]), answer
    spec["sizings"] = {"1h": {"power_mw": 1.0}}
    spec["strategies"] = {"odd": {"workflow": "da_plus_nothing"}}
    status, answer = call(api, "POST", "/v1/sweeps", spec, role="analyst")
    assert status == 422 and "strategy=odd" in answer["detail"] and "workflow" in answer["detail"], answer
    assert "/tmp" not in answer["detail"] and "spec.yaml" not in answer["detail"]
    assert call(api, "GET", "/v1/backtests/ba_0000", role="viewer")[0] == 404
    assert call(api, "GET", "/v1/nothings/ba_0000", role="viewer")[0] == 404  # no such kind: no such path
    status, job = call(api, "POST", "/v1/backtests", backtest_body(days=1), role="analyst")
    assert status == 200
    assert call(api, "GET", f"/v1/sweeps/{job['id']}", role="viewer")[0] == 404  # a backtest, not a sweep
    for sneaky in ("../../bess_ray.sqlite", "%2e%2e/%2e%2e/bess_ray.sqlite"):
        assert call(api, "GET", f"/v1/backtests/{job['id']}/files/{sneaky}", role="viewer")[0] == 404


def test_a_backtest_that_fails_while_running_is_a_422_naming_the_cause(api):
    body = backtest_body(window={"start": "2026-03-02", "end": "2026-03-04"})  # no prices for 2026
    status, answer = call(api, "POST", "/v1/backtests", body, role="analyst")
    assert status == 422 and "2026" in answer["detail"]["reason"], answer
    job = call(api, "GET", f"/v1/backtests/{answer['detail']['job']}", role="viewer")[1]
    assert job["status"] == "failed" and job["error"] == answer["detail"]["reason"]
