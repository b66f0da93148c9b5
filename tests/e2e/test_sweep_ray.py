"""Sweeps on real Ray: fan-out, resume, failures, a worker killed mid-task, a node lost mid-sweep,
and the `bess-ray sweep` / `bess-ray results` commands."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from bess_ray.cluster.sweep import run_sweep

from tests.conftest import ROOT
from tests.sweep_specs import with_failing_case, write_spec

MONTH = {"window": {"start": "2023-03-06", "end": "2023-04-03"}, "baselines": ["oracle"]}
EIGHT = {"sizings": {f"{h}h": {"power_mw": 1.0, "duration_h": h} for h in (1, 2, 3, 4)}, "variants": {"month": MONTH}}


def result_ids(out: Path) -> list[str]:
    return sorted(pl.read_parquet(f)["case_id"][0] for f in (out / "results").glob("*.parquet"))


def test_sweep_runs_every_case_once_and_resumes(ray_session, tmp_path):
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    first = run_sweep(spec, out, progress=False)
    assert (first.done, first.skipped, first.failed) == (4, 0, 0)
    ids = result_ids(out)
    assert len(ids) == len(set(ids)) == 4
    assert sorted(pl.read_parquet(out / "cases.parquet")["case_id"]) == ids
    years = pl.concat([pl.read_parquet(f) for f in (out / "years").glob("*.parquet")])
    assert sorted(years["case_id"]) == ids

    again = run_sweep(spec, out, progress=False)
    assert (again.done, again.skipped) == (0, 4)

    # a sweep killed with one case unwritten: the rerun runs that case only
    lost = out / "results" / f"{ids[0]}.parquet"
    before = {f.name: f.stat().st_mtime_ns for f in (out / "results").glob("*.parquet") if f != lost}
    lost.unlink()
    resumed = run_sweep(spec, out, progress=False)
    assert (resumed.done, resumed.skipped) == (1, 3)
    assert result_ids(out) == ids
    assert {f.name: f.stat().st_mtime_ns for f in (out / "results").glob("*.parquet") if f != lost} == before


def test_failing_cases_are_retried_then_recorded_and_the_others_finish(ray_session, tmp_path):
    out = tmp_path / "out"
    report = run_sweep(with_failing_case(tmp_path), out, progress=False)
    assert (report.done, report.failed) == (2, 2)
    failures = [json.loads(f.read_text()) for f in (out / "failed").glob("*.json")]
    assert len(failures) == 2
    assert all(f["attempts"] == 2 for f in failures)  # retries.errors = 1 by default
    assert all("boom: this forecaster always fails" in f["error"] and f["traceback"].startswith("Traceback")
               for f in failures)
    assert {f["params"]["strategy"] for f in failures} == {"boom"}
    # a rerun tries the failed cases again, and only them
    rerun = run_sweep(with_failing_case(tmp_path), out, progress=False)
    assert (rerun.done, rerun.skipped, rerun.failed) == (0, 2, 2)


def _kill_one_running_case(stop: threading.Event, killed: list) -> None:
    while not stop.is_set() and not killed:
        found = subprocess.run(["pgrep", "-f", "ray::_case_task"], capture_output=True, text=True).stdout.split()
        if found:
            os.kill(int(found[0]), signal.SIGKILL)
            killed.append(int(found[0]))
        time.sleep(0.02)


def test_a_worker_killed_mid_task_is_retried_and_the_sweep_completes(ray_session, tmp_path):
    spec = write_spec(tmp_path, **EIGHT)
    out = tmp_path / "out"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_running_case, args=(stop, killed), daemon=True)
    killer.start()
    try:
        report = run_sweep(spec, out, progress=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was running a case to kill"
    assert (report.done, report.failed) == (8, 0)
    ids = result_ids(out)
    assert len(ids) == len(set(ids)) == 8


LOST_NODE = """
import json, sys, threading, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from bess_ray.cluster.sweep import run_sweep

spec, out = sys.argv[1], Path(sys.argv[2])
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
worker = cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, namespace="bess", log_to_driver=False)
removed = []

def remove_worker_node():
    # wait until cases are running on both nodes, then take one away
    while len(list((out / "results").glob("*.parquet"))) < 2:
        time.sleep(0.02)
    cluster.remove_node(worker)
    removed.append(time.time())

threading.Thread(target=remove_worker_node, daemon=True).start()
report = run_sweep(spec, out, progress=False)
print(json.dumps({"done": report.done, "failed": report.failed, "removed": bool(removed),
                  "nodes_alive": sum(n["Alive"] for n in ray.nodes())}))
ray.shutdown()
cluster.shutdown()
"""


def test_a_node_lost_mid_sweep_still_ends_with_every_case_once(tmp_path):
    """Two nodes (ray.cluster_utils.Cluster), one removed while cases run on it (in a subprocess,
    so the cluster does not meet the session's Ray)."""
    spec = write_spec(tmp_path, **EIGHT)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", LOST_NODE, str(spec), str(out)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    status = json.loads(run.stdout.strip().splitlines()[-1])
    assert status == {"done": 8, "failed": 0, "removed": True, "nodes_alive": 1}
    ids = result_ids(out)
    assert len(ids) == len(set(ids)) == 8


def bess_ray(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bess_ray.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_sweep_interrupted_then_rerun_finishes_the_rest_exactly_once(tmp_path):
    spec = write_spec(tmp_path, **EIGHT)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bess_ray.cli", "sweep", str(spec), "--out", str(out), "--num-cpus", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list((out / "results").glob("*.parquet"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again" in err
    before = result_ids(out)
    assert 2 <= len(before) < 8
    rerun = bess_ray("sweep", spec, "--out", out, "--num-cpus", "2")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{8 - len(before)} case(s) run, {len(before)} already done, 0 failed, of 8" in rerun.stdout
    ids = result_ids(out)
    assert len(ids) == len(set(ids)) == 8 and set(before) <= set(ids)


def test_cli_sweep_ranks_and_results_groups_filters_and_plots(tmp_path):
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    run = bess_ray("sweep", spec, "--out", out, "--num-cpus", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "4 case(s) run, 0 already done, 0 failed, of 4" in run.stdout
    assert "capture_rate" in run.stdout and "done=4 failed=0" in run.stderr  # ranking and progress bar

    res = bess_ray("results", out, "--group-by", "sizing", "--by", "capture_rate", "--plots",
                   "--csv", tmp_path / "g.csv")
    assert res.returncode == 0, res.stderr
    grouped = pl.read_csv(tmp_path / "g.csv")
    assert sorted(grouped["sizing"]) == ["1h", "2h"] and grouped["cases"].to_list() == [2, 2]
    assert (out / "plots" / "capture_rate_by_duration.png").stat().st_size > 5000
    top = bess_ray("results", out, "--where", "sizing = '2h'", "--top", "1", "--csv", tmp_path / "t.csv")
    assert top.returncode == 0 and pl.read_csv(tmp_path / "t.csv")["sizing"].to_list() == ["2h"]

    other = write_spec(tmp_path / "other", sizings={"4h": {"power_mw": 1.0, "duration_h": 4}})
    refused = bess_ray("sweep", other, "--out", out)
    assert refused.returncode == 2 and "holds the results of another sweep" in refused.stderr
    assert len(list((out / "results").glob("*.parquet"))) == 4


@pytest.mark.parametrize("over, message", [
    ({"sites": {"nowhere": "no/such/site.yaml"}}, "sites.nowhere: .*no such config file"),
    ({"scenarios": {"bad": {"day_ahead": "sample:NO_SUCH_SAMPLE"}}}, r"case \(.*scenario=bad.*\): .*NO_SUCH_SAMPLE"),
    ({"strategies": {"x": {"lookahead": 12}}}, r"case \(.*strategy=x.*\): lookahead: unknown key"),
])
def test_cli_bad_spec_fails_before_any_task_with_the_path(tmp_path, over, message):
    import re

    out = tmp_path / "out"
    run = bess_ray("sweep", write_spec(tmp_path, **over), "--out", out)
    assert run.returncode == 2
    assert re.search(message, run.stderr), run.stderr
    assert "Started a local Ray" not in run.stderr and not (out / "results").exists()
