"""docs/cluster.md, run as written: a head and a worker started with `ray start` on this machine
(token auth, the GCS on 6390, PostgreSQL as the store), a sweep submitted with `ray job submit`,
a worker killed mid-sweep and the job resubmitted, the API deployed with serve.yaml and answering
with a key made in another process, and `serve shutdown` leaving nothing behind.

The page's command blocks marked `<!-- on: head | worker | client -->` are extracted and run with
only the placeholders filled in (HEAD, the store's URL). One machine plays every node, so the test
adds what two nodes on one host need: --block (to stop exactly these nodes), one CPU each, a
temp dir of their own and a free dashboard-agent port for the worker.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest
import yaml

from bess_ray.net import free_port

from tests.api_client import call
from tests.conftest import CONFIGS, ROOT, postgres_database

PAGE = ROOT / "docs" / "cluster.md"
API_PORT, DASHBOARD_PORT, GCS_PORT = 8000, 8265, 6390


def page_blocks() -> list[tuple[str, str]]:
    """(role, script) of every marked bash block, in page order."""
    return re.findall(r"<!-- on: (\w+) -->\n```bash\n(.*?)```", PAGE.read_text(), re.S)


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Guide:
    """Runs the page's blocks in order on this machine, as the user's shell would."""

    def __init__(self, home: Path, head_ip: str) -> None:
        self.home, self.head_ip = home, head_ip
        self.blocks = page_blocks()
        self.exports: list[str] = []  # a client's shell keeps what it exported
        self.nodes: dict[str, subprocess.Popen] = {}
        path = os.environ["PATH"]
        self.env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", "CI": os.environ.get("CI", "")}

    def take(self, role: str, containing: str) -> str:
        for i, (r, script) in enumerate(self.blocks):
            if r == role and containing in script:
                del self.blocks[i]
                return script.replace("HEAD", self.head_ip)
        raise AssertionError(f"docs/cluster.md has no {role} block with {containing!r} (left: {self.blocks})")

    def client(self, containing: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        script = self.take("client", containing)
        run = subprocess.run(["bash", "-ec", "\n".join(self.exports + [script])], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=timeout)
        self.exports += [line for line in script.splitlines() if line.startswith("export ")]
        if check:
            assert run.returncode == 0, f"{script}\nexit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        return run

    def background_client(self, containing: str) -> subprocess.Popen:
        script = self.take("client", containing)
        return subprocess.Popen(["bash", "-ec", "\n".join(self.exports + [script])], cwd=ROOT, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def start_node(self, role: str, name: str, extra: str) -> None:
        script = self.take(role, "ray start")
        script = re.sub(r"(ray start [^\n]*)", lambda m: f"{m.group(1)} --block {extra}", script)
        log = open(self.home / f"{name}.log", "w")
        self.nodes[name] = subprocess.Popen(["bash", "-ec", script], cwd=self.home, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def on_head(self, containing: str) -> str:
        script = self.take("head", containing)
        run = subprocess.run(["bash", "-ec", script], cwd=self.home, env=self.env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, f"{script}\n{run.stdout}\n{run.stderr}"
        return run.stdout

    def alive(self, name: str) -> bool:
        if self.nodes[name].poll() is not None:
            raise AssertionError(f"the {name} exited: {(self.home / f'{name}.log').read_text()[-3000:]}")
        return True

    def kill(self, name: str) -> None:
        node = self.nodes.pop(name)
        try:
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.nodes):
            self.kill(name)


def wait_for(what: str, ok, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_cluster_guide_runs_as_written(tmp_path):
    for port in (API_PORT, DASHBOARD_PORT, GCS_PORT):
        if not _free(port):
            pytest.fail(f"port {port} is taken on this machine: the guide's cluster needs it")
    from ray._private.services import get_node_ip_address

    head_ip = get_node_ip_address()
    home = tmp_path / "home"
    home.mkdir()
    guide = Guide(home, head_ip)
    with postgres_database() as store:
        # the page: "put your store's URL in deployments/cluster.env and copy it to every node"
        env_file = (ROOT / "deployments" / "cluster.env").read_text()
        assert "BESS_RAY_STORE=" in env_file
        (home / "bess-ray.env").write_text(re.sub(r"BESS_RAY_STORE=\S+", f"BESS_RAY_STORE={store}", env_file))
        try:
            guide.client("ray get-auth-token")
            assert (home / ".ray" / "auth_token").stat().st_mode & 0o777 == 0o600
            own = f"--num-cpus=1 --temp-dir={tempfile.mkdtemp(prefix='ray-', dir='/tmp')}"  # sockets: <= 107 bytes
            guide.start_node("head", "head", own)
            wait_for("the head", lambda: guide.alive("head") and not _free(GCS_PORT) and not _free(DASHBOARD_PORT), 90)
            guide.start_node("worker", "worker", f"{own} --dashboard-agent-listen-port={free_port()}")

            check = wait_for("both nodes in the check", lambda: _two_nodes(guide), 90, every=2)
            assert "no problem found" in check.stdout, check.stdout + check.stderr
            _a_wrong_or_missing_token_is_one_line(guide)
            _sqlite_is_refused_on_two_nodes(guide)
            _sweep_survives_a_lost_worker_and_resumes(guide, home)
            _api_on_the_cluster(guide, head_ip)
        finally:
            guide.stop()
    assert not guide.blocks, f"blocks of docs/cluster.md this test did not run: {guide.blocks}"


def _two_nodes(guide: Guide):
    """`bess-ray cluster check` once both nodes are up (the block is re-run until then)."""
    guide.alive("worker")
    script = next(s for r, s in guide.blocks if r == "client" and "cluster check" in s).replace("HEAD", guide.head_ip)
    run = subprocess.run(["bash", "-ec", "\n".join(guide.exports + [script])], cwd=ROOT, env=guide.env,
                         capture_output=True, text=True, timeout=120)
    if ": 2 node(s)" not in run.stdout:
        return None
    guide.take("client", "cluster check")
    return run


def _a_wrong_or_missing_token_is_one_line(guide: Guide) -> None:
    address = f"{guide.head_ip}:{GCS_PORT}"
    for env, says in (({"RAY_AUTH_TOKEN": "0" * 64}, "this machine's token is not the cluster's"),
                      ({"HOME": str(guide.home / "elsewhere")}, "this machine has no token")):
        run = subprocess.run(["bess-ray", "cluster", "check", "--address", address], cwd=ROOT,
                             env={**guide.env, **env}, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stdout + run.stderr
        assert run.stderr.strip() == f"error: the Ray cluster at {address} refused the connection (token auth): " \
            + says + ("" if "RAY_AUTH_TOKEN" in env else ": copy the cluster's to ~/.ray/auth_token (mode 0600) or "
                      "set RAY_AUTH_TOKEN"), run.stderr


def _sqlite_is_refused_on_two_nodes(guide: Guide) -> None:
    code = ("from bess_ray.cluster.runtime import ensure_ray\nfrom bess_ray.serve.app import build_app\n"
            f"ensure_ray('{guide.head_ip}:{GCS_PORT}')\nbuild_app({{'store': 'sqlite:///{guide.home}/one.sqlite'}})")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=guide.env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and "ValueError: store: the embedded SQLite store is one node's file, but this Ray " \
        "cluster has 2 nodes" in run.stderr, run.stderr[-2000:]


def _sweep_survives_a_lost_worker_and_resumes(guide: Guide, home: Path) -> None:
    out = home / "sweeps" / "quickstart"
    submit = guide.blocks[[i for i, (r, s) in enumerate(guide.blocks) if "ray job submit" in s][0]]
    first = guide.background_client("ray job submit")
    wait_for("the first results", lambda: len(list((out / "results").glob("*.parquet"))) >= 12, 300, every=1)
    guide.kill("worker")  # a node lost mid-sweep
    time.sleep(3)
    job_id = _job_ids(guide)[-1]
    stopped = subprocess.run(["bash", "-ec", "\n".join(guide.exports + [
        f"ray job stop --address http://{guide.head_ip}:{DASHBOARD_PORT} {job_id}"])], cwd=ROOT, env=guide.env,
        capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    first.communicate(timeout=120)
    before = sorted(f.name for f in (out / "results").glob("*.parquet"))
    assert 12 <= len(before) < 24, f"{len(before)} cases done before the stop"

    guide.blocks.insert(0, submit)  # "submitting the same job again ... runs exactly the cases without a result"
    again = guide.client("ray job submit")
    n = len(before)
    assert f"{24 - n} case(s) run, {n} already done, 0 failed, of 24" in again.stdout, again.stdout[-3000:]
    ids = [pl.read_parquet(f)["case_id"][0] for f in (out / "results").glob("*.parquet")]
    assert len(ids) == len(set(ids)) == 24


def _job_ids(guide: Guide) -> list[str]:
    run = subprocess.run(["bash", "-ec", "\n".join(guide.exports + [
        f"ray list jobs --address http://{guide.head_ip}:{DASHBOARD_PORT} --format json"])], cwd=ROOT,
        env=guide.env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    jobs = [j for j in json.loads(run.stdout) if j.get("submission_id")]
    return [j["submission_id"] for j in sorted(jobs, key=lambda j: j.get("start_time") or 0)]


def _api_on_the_cluster(guide: Guide, head_ip: str) -> None:
    guide.client("serve deploy")
    base = f"http://{head_ip}:{API_PORT}"
    wait_for("the API", lambda: _answers(f"{base}/healthz"), 180, every=1)
    key = guide.on_head("keys create").strip().splitlines()[-1]  # another process, the same store
    times = [f"2023-06-01T{h:02d}:{m:02d}:00Z" for h in range(24) for m in (0, 15, 30, 45)]
    body = {"site": yaml.safe_load((CONFIGS / "sites" / "de_lu_1mw_2mwh.yaml").read_text()),
            "prices": {"timestamps": times, "day_ahead_eur_mwh": [40.0 + (i % 48) for i in range(96)]}}
    api = {"url": base}
    status, answer = call(api, "POST", "/v1/schedules", body, token=key)
    assert status == 200 and answer["status"] == "optimal" and answer["revenue_eur"] > 0, answer
    assert call(api, "POST", "/v1/schedules", body)[0] == 401

    guide.client("serve shutdown")
    wait_for("the API's port to close", lambda: _free(API_PORT), 60)
    wait_for("no actor left after serve shutdown", lambda: not _alive_actors(guide), 60, every=2)


def _alive_actors(guide: Guide) -> list[str]:
    run = subprocess.run(["bash", "-ec", "\n".join(guide.exports + [
        f"ray list actors --address http://{guide.head_ip}:{DASHBOARD_PORT} --filter state=ALIVE --format json"])],
        cwd=ROOT, env=guide.env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return [] if run.stdout.startswith("No resource") else [a["class_name"] for a in json.loads(run.stdout)]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False

