"""Under overload the schedules API sheds load: beyond its solver queue a request answers 503 with
Retry-After at once, in the API's error format, and never another 5xx; the API then recovers."""
from concurrent.futures import ThreadPoolExecutor

from tests.api_client import call
from tests.e2e.test_serve_api import SITE, schedule_body

API_ARGS = {"queue_limit": 2, "replicas": 1}  # one solving, one waiting: the rest is shed


# two weeks at 15 minutes with FCR: each solve takes long enough (tens of ms) that most of 48
# requests sent at once find both places taken
TIMES = [f"2023-06-{d:02d}T{h:02d}:{m:02d}:00Z" for d in range(1, 15) for h in range(24) for m in (0, 15, 30, 45)]
HEAVY = {"site": SITE, "products": "da_plus_fcr", "prices": {
    "timestamps": TIMES, "day_ahead_eur_mwh": [40.0 + (i * 7919 % 97) for i in range(len(TIMES))],
    "capacity_eur_mw_h": {"fcr": [8.0 + (i // 16) % 5 for i in range(len(TIMES))]}}}


def test_requests_beyond_the_queue_bound_get_503_with_retry_after_and_the_rest_answer(api):
    def one(_):
        return call(api, "POST", "/v1/schedules", HEAVY, role="analyst", answer_headers=True)

    with ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(one, range(48)))
    statuses = sorted(s for s, _, _ in answers)
    shed = [(body, headers) for s, body, headers in answers if s == 503]
    assert set(statuses) <= {200, 503}, statuses
    assert len(shed) >= 24 and statuses.count(200) >= 2, statuses
    body, headers = shed[0]
    assert headers["Retry-After"] == "1" and "overloaded" in body["detail"] and body["request_id"]
    status, answer = call(api, "POST", "/v1/schedules", schedule_body(), role="analyst")
    assert status == 200 and answer["status"] == "optimal"
    assert any(e["status"] == 503 and e["target"] == "/v1/schedules" for e in api["keys"].audit_log(500)), \
        "a shed write is audited too"
