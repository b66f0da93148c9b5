"""The send flow: hand a site's flow outputs for a delivery day (schedules, bids, plans) to an
external system over HTTP: one JSON POST per run, with an `Idempotency-Key` header that is the same
for the same payload (a retried or repeated run never counts twice at a receiver that honours it),
retried with back-off on connection errors, timeouts, 429 and 5xx; any other 4xx fails at once."""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request

from pydantic import Field

from .. import __version__
from .context import FlowContext
from .registry import FlowError, Params, flow


class SendParams(Params):
    url: str = Field(pattern=r"^https?://", description="the receiving endpoint")
    flows: list[str] | None = Field(None, description="whose outputs to send (default: every flow's of the day)")
    timeout_s: float = Field(10.0, gt=0, le=120)
    attempts: int = Field(4, ge=1, le=10, description="tries within one run (the orchestrator may retry the run)")
    backoff_s: float = Field(0.5, ge=0, le=60, description="the first wait; doubled after each failed try")
    token_env: str | None = Field(None, description="an environment variable holding a bearer token")


def payload_of(ctx: FlowContext, p: SendParams) -> dict:
    chosen = {k: v for k, v in sorted(ctx.earlier.items()) if k != ctx.flow and (p.flows is None or k in p.flows)}
    missing = sorted(set(p.flows or []) - set(chosen))
    if missing:
        raise FlowError(f"nothing to send from {', '.join(missing)}: no succeeded run for {ctx.delivery}")
    if not chosen:
        raise FlowError(f"nothing to send for {ctx.delivery}: no flow has succeeded for site {ctx.site.id}")
    return {"schema": "bess-ray/send/1", "site": ctx.site.id, "delivery": str(ctx.delivery), "outputs": chosen}


def idempotency_key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


@flow("send", "v1", SendParams)
def send_v1(ctx: FlowContext, p: SendParams) -> dict:
    """POST the day's outputs to an external endpoint with an idempotency key and retries."""
    import os

    body = json.dumps(payload_of(ctx, p), sort_keys=True, separators=(",", ":")).encode()
    key = idempotency_key(body)
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": f"bess-ray/{__version__}"}
    if p.token_env:
        token = os.environ.get(p.token_env)
        if not token:
            raise FlowError(f"token_env: {p.token_env} is not set")
        headers["Authorization"] = f"Bearer {token}"
    wait, tries = p.backoff_s, []
    for attempt in range(1, p.attempts + 1):
        try:
            req = urllib.request.Request(p.url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=p.timeout_s) as r:
                return {"delivery": str(ctx.delivery), "url": p.url, "status": r.status, "idempotency_key": key,
                        "tries": attempt, "bytes": len(body), "sent": sorted(json.loads(body)["outputs"]),
                        "response": r.read(2000).decode(errors="replace")}
        except urllib.error.HTTPError as e:
            tries.append(f"HTTP {e.code}")
            if e.code < 500 and e.code != 429:
                raise FlowError(f"{p.url} refused the payload: HTTP {e.code} "
                                f"{e.read(500).decode(errors='replace')}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            tries.append(f"{type(e).__name__}: {getattr(e, 'reason', e)}")
        if attempt < p.attempts:
            time.sleep(wait)
            wait *= 2
    raise FlowError(f"{p.url} did not take the payload after {p.attempts} tries ({'; '.join(tries)})")
