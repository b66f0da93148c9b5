"""`bess-ray` against clusters that cannot be joined, and `bess-ray validate` of the launcher configs,
through the CLI as a user runs them."""
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.conftest import ROOT


def bess_ray(*args, env=None, timeout=120) -> tuple[int, str, str, float]:
    t = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "bess_ray.cli", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, **(env or {})})
    return run.returncode, run.stdout, run.stderr, time.monotonic() - t


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_head_that_does_not_answer_is_one_line_within_seconds():
    port = _dead_port()
    code, out, err, seconds = bess_ray("sweep", "configs/sweeps/quickstart.yaml", "--out", "/tmp/never",
                                       "--address", f"127.0.0.1:{port}")
    assert code == 2 and err.startswith(f"error: no Ray head (GCS) answers at 127.0.0.1:{port}")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert seconds < 60, seconds  # not minutes of GCS retries (a bound, not a benchmark)
    assert not Path("/tmp/never").exists()


def test_without_an_address_a_dead_recorded_cluster_is_not_joined():
    # Ray's address file names a cluster whose head is gone: no address means a local Ray, at once
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # Ray's socket paths must stay short
    os.makedirs(f"{ray_tmp}/ray")
    Path(f"{ray_tmp}/ray/ray_current_cluster").write_text(f"127.0.0.1:{_dead_port()}\n")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    env.pop("RAY_ADDRESS", None)
    code = ("from bess_ray.cluster.runtime import ensure_ray\nimport ray\n"
            "assert ensure_ray(num_cpus=1)\nprint(ray.cluster_resources()['CPU'])\nray.shutdown()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert run.returncode == 0 and run.stdout.strip() == "1.0", run.stderr[-2000:]
    # --address auto asks for that cluster: it is reported as gone
    code, _, err, _ = bess_ray("cluster", "check", "--address", "auto", env={"RAY_TMPDIR": ray_tmp})
    assert code == 2 and "--address auto: the cluster recorded on this machine" in err, err


def test_the_dashboard_address_is_not_a_bess_ray_address():
    code, _, err, _ = bess_ray("cluster", "check", "--address", "http://127.0.0.1:8265")
    assert code == 2 and "`ray job submit`" in err and "HOST:PORT" in err


def test_validate_gives_rays_verdict_on_the_launcher_configs(tmp_path):
    for path in ("cluster.yaml", "configs/cluster/aws.yaml"):
        code, out, err, _ = bess_ray("validate", path)
        assert code == 0, err
        assert "Ray's validator: ok" in out and "warning" not in out, out
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["setup_comands"] = config.pop("setup_commands")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    code, out, err, _ = bess_ray("validate", str(tmp_path / "bad.yaml"))
    assert code == 2 and "Ray's cluster config validator" in err and "setup_comands" in err, err
    assert "site" not in err.lower()  # not a site-schema error

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["head_start_ray_commands"] = ["ray stop", "ray start --head --port=6379"]
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(config))
    code, out, err, _ = bess_ray("validate", str(tmp_path / "plain.yaml"))
    assert code == 0
    assert "warning: a `ray start` runs without RAY_AUTH_MODE=token" in out
    assert "warning: the head's GCS port is 6379" in out
