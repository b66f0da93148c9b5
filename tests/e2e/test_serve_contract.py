"""The OpenAPI document tells the truth: the schemathesis CLI, run as a user would run it against the
API (every check: no 5xx, status codes and bodies as documented, schema-valid input accepted and
invalid input refused, Allow on 405, auth enforced, the stateful links), passes. `schemathesis.toml`
at the repository root names the rules JSON Schema cannot express (unknown references, a window's
end after its start, a file body that does not parse), which answer 422."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _st() -> str:
    beside = Path(sys.executable).parent / "st"  # the schemathesis CLI of this environment
    return str(beside) if beside.exists() else shutil.which("st")


def test_the_schemathesis_cli_passes_with_every_check(api):
    # an admin key reaches every handler; jobs answer 202 at once instead of waiting for their run
    cmd = [_st(), "run", f"{api['url']}/openapi.json", "--checks", "all", "--max-examples", "20", "--seed", "1",
           "--no-color", "-H", f"Authorization: Bearer {api['tokens']['admin']}", "-H", "Prefer: respond-async"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    tail = run.stdout[-6000:]
    assert run.returncode == 0, tail
    tested = re.search(r"Tested: (\d+)", tail)
    assert tested and int(tested.group(1)) >= 30, tail  # every operation was reached


def test_the_document_declares_the_error_body_and_the_key(api):
    import json
    import urllib.request

    doc = json.load(urllib.request.urlopen(f"{api['url']}/openapi.json"))
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    upload = doc["paths"]["/v1/scenarios"]["post"]
    assert {"409", "413", "415", "401", "403", "422"} <= set(upload["responses"])
    assert {"text/csv", "application/vnd.apache.parquet"} <= set(upload["requestBody"]["content"])
    schedules = doc["paths"]["/v1/schedules"]["post"]
    assert "503" in schedules["responses"] and "security" in schedules
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_a_wrong_method_names_every_method_of_the_path(api):
    from tests.api_client import call

    status, body = call(api, "OPTIONS", "/v1/cache/x", role="admin")
    assert status == 405 and body["request_id"]
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{api['url']}/v1/cache/x", method="PUT",
                                 headers={"Authorization": f"Bearer {api['tokens']['admin']}"})
    try:
        urllib.request.urlopen(req)
    except urllib.error.HTTPError as e:
        assert e.code == 405 and set(e.headers["Allow"].split(", ")) == {"DELETE", "POST"}
    else:
        raise AssertionError("PUT /v1/cache/x was accepted")
    # /v1/sites/x is no job kind: DELETE is a wrong method there, not a bad job kind
    assert call(api, "DELETE", "/v1/sites/x", role="admin")[0] == 405


def test_a_schedule_request_with_a_null_price_source_is_refused(api):
    from tests.api_client import call

    window = {"day_ahead": "sample:DE_LU_2023", "start": "2023-06-01T00:00:00Z", "end": "2023-06-02T00:00:00Z"}
    status, body = call(api, "POST", "/v1/schedules", {"site": {}, "scenario": window, "prices": None}, role="analyst")
    assert status == 422 and any(d["path"] == "prices" and "leave the field out" in d["reason"] for d in body["detail"])


def test_an_upload_name_is_a_name_not_a_path(api):
    from tests.api_client import call

    for name in ("..%2F..%2Fescape", "nul%00byte", ".hidden"):
        status, body = call(api, "POST", f"/v1/scenarios?name={name}&product=da", raw=b"timestamp,da\n",
                            content_type="text/csv", role="analyst")
        assert status == 422 and body["detail"][0]["path"] == "query.name", (name, body)
    status, body = call(api, "POST", "/v1/scenarios?name=fine&product=da", raw=b"\xff\xfe",
                        content_type="application/vnd.apache.parquet", role="analyst")
    assert status == 422 and body["detail"].startswith("the upload: ") and "/tmp" not in body["detail"], body
