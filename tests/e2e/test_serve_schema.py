"""Schemathesis against the API's own OpenAPI document, over HTTP to a real Serve instance: no input
the schema admits, nor any it does not (schemathesis also sends those), may produce a 5xx."""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_url(api["url"] + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case, api):
    # an admin key reaches every handler; jobs answer 202 at once instead of waiting for a run
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {api['tokens']['admin']}",
                    "Prefer": "respond-async"}
    response = case.call(timeout=120)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:800]}"
