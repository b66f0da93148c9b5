"""The verdicts of `bess-ray cluster check` on what the nodes report (the live run is in
tests/e2e/test_cluster_guide.py)."""
from bess_ray.cluster.check import Report, _judge


def node(**over) -> dict:
    facts = {"node": "a" * 56, "host": "head", "head": True, "ray": "2.60.0", "bess_ray": "0.1.0", "python": "3.12.3",
             "token_auth": True, "token_file_private": True, "store": "postgresql://bess@db/bess",
             "store_shared": True, "store_error": None, "home": "/home/bess/.bess_ray", "home_writable": True,
             "out": "/home/bess/sweeps", "out_writable": True, "api_port_free": True}
    return {**facts, **over}


def verdicts(*nodes, address="10.0.0.1:6390") -> dict[str, tuple[bool, str]]:
    report = Report(address, list(nodes))
    _judge(report, "2.60.0", "0.1.0", len(nodes), 8000, address)
    return {f.what: (f.ok, f.detail) for f in report.findings}


def test_a_sound_cluster_has_no_problem():
    found = verdicts(node(), node(host="w1", head=False, out=None, out_writable=None))
    assert all(ok for ok, _ in found.values()), found


def test_each_problem_is_named_with_its_node():
    found = verdicts(node(), node(host="w1", head=False, ray="2.59.0", token_auth=False, token_file_private=False,
                                  store="sqlite:////home/bess/.bess_ray/bess_ray.sqlite", store_shared=False,
                                  store_error="OperationalError: connection refused", home_writable=False))
    assert found["Ray versions"] == (False, "2.59.0, 2.60.0 on the nodes, 2.60.0 here: pin one release on every "
                                            "node and client (cluster.yaml installs ray[serve]==X)")
    assert found["token auth"][0] is False and "w1" in found["token auth"][1]
    assert found["token file"][0] is False and "chmod 600" in found["token file"][1]
    assert found["store"][0] is False and "different stores" in found["store"][1] and "SQLite" in found["store"][1]
    assert found["store reachable"] == (False, "w1 (OperationalError: connection refused)")
    assert found["BESS_RAY_HOME writable"] == (False, "w1:/home/bess/.bess_ray")
    assert found["bess-ray versions"][0] and found["output folder"][0]


def test_one_node_may_keep_sqlite_but_not_an_unwritable_output_or_redis_port():
    found = verdicts(node(store="sqlite:///x.sqlite", store_shared=False, out_writable=False), address="h:6379")
    assert found["store"][0]
    assert found["output folder"] == (False, "/home/bess/sweeps on the head is not writable (nor can it be created there)")
    assert found["GCS port"][0] is False and "6390" in found["GCS port"][1]


def test_a_node_that_does_not_answer_is_a_problem():
    report = Report("auto", [node(), {"node": "b" * 56, "error": "GetTimeoutError: 120 s", "head": False}])
    _judge(report, "2.60.0", "0.1.0", 2, 8000, "auto")
    assert not report.ok and report.findings[0].what == "node bbbbbbbb"
    assert report.lines()[0] == "cluster at auto: 2 node(s), 1 problem(s)"
