"""Joining a Ray cluster fails within seconds, in one line that says what to check (no Ray is
started here: the checks run before ray.init)."""
import socket
import threading

import pytest

from bess_ray.cluster import runtime
from bess_ray.cluster.runtime import ClusterError, check_address, has_token, use_token_if_available


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_nothing_listening_is_named_at_once():
    port = _dead_port()
    with pytest.raises(ClusterError, match=rf"no Ray head \(GCS\) answers at 127.0.0.1:{port}.*is the head running"):
        check_address(f"127.0.0.1:{port}")


def test_a_listener_that_is_not_a_ray_head_is_named(monkeypatch):
    monkeypatch.setattr(runtime, "CONNECT_TIMEOUT_S", 0.5)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        port = server.getsockname()[1]
        with pytest.raises(ClusterError, match=rf"127.0.0.1:{port} answers but is not a Ray head"):
            check_address(f"127.0.0.1:{port}")
    finally:
        server.close()


@pytest.mark.parametrize("address, reason", [
    ("http://10.0.0.1:8265", "dashboard's job API .* `ray job submit`"),
    ("10.0.0.1", "expected HOST:PORT"),
    ("head:port", "expected HOST:PORT"),
    ("ray://10.0.0.1", "expected HOST:PORT"),
])
def test_address_forms_are_checked(address, reason):
    with pytest.raises(ClusterError, match=reason):
        check_address(address)


def test_auto_without_a_recorded_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    with pytest.raises(ClusterError, match="this machine has not joined a Ray cluster"):
        check_address("auto")


def test_auto_with_a_dead_recorded_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    port = _dead_port()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
    with pytest.raises(ClusterError, match=rf"127.0.0.1:{port} \(--address auto: .* head may be gone"):
        check_address("auto")


def test_token_mode_follows_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(runtime, "_reload_ray_config", lambda: None)  # this process's Ray config stays as it is
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(var, raising=False)
    assert not has_token() and not use_token_if_available()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a mode set by the user is kept
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("x" * 64)
    assert has_token() and not use_token_if_available()
    monkeypatch.delenv("RAY_AUTH_MODE")
    assert use_token_if_available()
    import os

    assert os.environ["RAY_AUTH_MODE"] == "token"
