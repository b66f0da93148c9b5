"""Store URLs: a wrong one is refused naming BESS_RAY_STORE and what is accepted; an unreachable
server names its address, quickly."""
import pytest

from bess_ray.errors import ConfigError
from bess_ray.store import open_store, store_url
from bess_ray.store.database import StoreError, parse, redact


@pytest.mark.parametrize("url, message", [
    ("mysql://root@localhost/x", "BESS_RAY_STORE: unknown scheme 'mysql'"),
    ("/tmp/x.sqlite", "is not a URL; use sqlite:///PATH or postgresql://"),
    ("sqlite://relative.db", "needs an absolute file path after sqlite://"),
    ("postgresql:///nohost", "names no host"),
    ("postgresql://u:secret@/db", "postgresql://u:\\*\\*\\*@/db' names no host"),  # never the password
])
def test_a_wrong_url_names_the_variable_and_what_is_accepted(url, message):
    with pytest.raises(ConfigError, match=message):
        parse(url)


def test_an_unreachable_server_is_named_at_once():
    with pytest.raises(StoreError, match=r"store postgresql://bess:\*\*\*@127.0.0.1:1/x: cannot connect: .*refused"):
        open_store("postgresql://bess:pw@127.0.0.1:1/x")


def test_the_default_is_the_embedded_store_under_bess_ray_home(isolated_store, monkeypatch):
    assert store_url() == f"sqlite:///{isolated_store.resolve() / 'bess_ray.sqlite'}"
    monkeypatch.setenv("BESS_RAY_STORE", "postgresql://a@db/bess")
    assert store_url() == "postgresql://a@db/bess"
    assert redact("postgresql://a:b@db/x") == "postgresql://a:***@db/x"


def test_a_cache_url_that_is_not_redis_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="BESS_RAY_CACHE: 'memcached://x' is not a Redis URL"):
        open_store(f"sqlite:///{tmp_path}/s.sqlite", "memcached://x")
