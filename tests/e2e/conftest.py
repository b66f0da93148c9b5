"""A real Ray Serve instance of the API per test module, on a free port, with one key per role."""
import pytest

from bess_ray.net import free_port

from bess_ray.store.keys import ROLES, KeyStore


@pytest.fixture(scope="module")
def api(ray_session, tmp_path_factory, request):
    """A module may set API_ARGS to deploy the app with other arguments."""
    from ray import serve

    from bess_ray.serve.app import build_app

    home = tmp_path_factory.mktemp("api_home")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = {"home": str(home), "max_upload_mb": 1, "cache_mb": 0.5, **getattr(request.module, "API_ARGS", {})}
    serve.run(build_app(args), name="bess-ray", route_prefix="/")
    keys = KeyStore(home)
    tokens = {role: keys.create(role, f"test {role}")[0] for role in ROLES}
    yield {"url": f"http://127.0.0.1:{port}", "keys": keys, "tokens": tokens, "home": home}
    serve.shutdown()
