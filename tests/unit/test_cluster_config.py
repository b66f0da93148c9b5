"""The cluster launcher configs pass Ray's own validator (the check `ray up` runs first)."""
import copy
import re
import tomllib

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.conftest import CONFIGS, ROOT

CLUSTERS = [ROOT / "cluster.yaml", CONFIGS / "cluster" / "aws.yaml"]


@pytest.mark.parametrize("path", CLUSTERS, ids=lambda p: p.name)
def test_cluster_config_passes_rays_validator(path):
    config = yaml.safe_load(path.read_text())
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    # what makes it a bess-ray cluster: the project installed everywhere, token auth on every node
    assert any("pip install" in c and "bess-ray" in c for c in config["setup_commands"])
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts if c.strip().startswith(("ulimit", "RAY_AUTH", "ray start")))
    assert all("--port=6390" in c or "$RAY_HEAD_IP:6390" in c for c in starts if "ray start" in c)  # not Redis's 6379
    assert all(". ~/bess-ray.env" in c for c in starts if "ray start" in c)  # the store, read before Ray starts
    assert config["file_mounts"]["~/bess-ray.env"] == "deployments/cluster.env"
    assert (ROOT / "configs" / "sweeps" / "quickstart.yaml").exists()  # what the header submits


@pytest.mark.parametrize("path", CLUSTERS, ids=lambda p: p.name)
def test_every_node_gets_one_ray_that_the_project_allows(path):
    from packaging.requirements import Requirement

    setup = " ".join(yaml.safe_load(path.read_text())["setup_commands"])
    pinned = re.search(r'"ray\[serve\]==([0-9.]+)"', setup).group(1)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ray_req = next(Requirement(d) for d in deps if d.startswith("ray[serve]"))
    assert ray_req.specifier.contains(pinned), (pinned, str(ray_req.specifier))
    assert pinned in (ROOT / "docs" / "cluster.md").read_text()


def test_the_validator_rejects_a_misspelt_key():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["setup_comands"] = []
    with pytest.raises(Exception, match="setup_comands"):
        validate_config(prepare_config(config))
