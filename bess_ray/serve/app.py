"""The HTTP API on Ray Serve: a FastAPI ingress (auth, audit, validation, scenarios) and a solver
deployment that runs the LPs, so a long solve never stalls the event loop.

`build_app(args)` is the application builder named in deployments/serve.yaml; `bess-ray serve`
runs it locally. args: `home` (the embedded store: scenarios, API keys, audit log; default
BESS_RAY_HOME), `max_upload_mb` (default 50), `solver_replicas` (default 1; serve.yaml autoscales).
"""

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from ray import serve
from ray.serve.handle import DeploymentHandle

from .. import __version__
from ..errors import BessRayError, InfeasibleError
from ..store.keys import KeyStore, allows
from .schedules import ScheduleRequest, solve_schedule

api = FastAPI(title="bess-ray", version=__version__,
              description="Battery storage schedules on real market data. Every endpoint but /healthz "
                          "needs an API key (`bess-ray keys create --role ROLE`) as a bearer token.")
FORMATS = {"text/csv": ".csv", "application/vnd.apache.parquet": ".parquet", "application/octet-stream": ".parquet"}


def _error(status: int, detail, request: Request) -> JSONResponse:
    return JSONResponse({"detail": detail, "request_id": request.state.request_id}, status_code=status)


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError):
    # one entry per problem: the field path in the body and the reason
    detail = [{"path": ".".join(str(x) for x in e["loc"] if x != "body"), "reason": e["msg"].removeprefix("Value error, ")}
              for e in exc.errors()]
    return _error(422, detail, request)


@api.exception_handler(HTTPException)
async def _http(request: Request, exc: HTTPException):
    return _error(exc.status_code, exc.detail, request)


@api.middleware("http")
async def _request_id_and_audit(request: Request, call_next):
    request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    request.state.key = None
    t0 = time.perf_counter()
    response = await call_next(request)
    response.headers["x-request-id"] = request.state.request_id
    app = request.app.state.ingress
    app.requests.labels(request.method, request.scope.get("route").path if request.scope.get("route") else "other",
                        str(response.status_code)).inc()
    app.latency.labels(request.method).observe(time.perf_counter() - t0)
    if request.method not in ("GET", "HEAD", "OPTIONS"):  # every write, allowed or not, is audited
        key = request.state.key or {}
        # a SQLite commit: in a thread, so the event loop keeps serving other requests meanwhile
        await asyncio.to_thread(app.keys.audit, key.get("id"), key.get("role"), request.method, request.url.path,
                                response.status_code, request.state.request_id)
    return response


def _role(needed: str):
    """A dependency: the caller's key must be valid and hold at least `needed`."""

    async def check(request: Request, authorization: str | None = Header(None)) -> dict:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' "
                                     "(bess-ray keys create --role ROLE)")
        key = request.app.state.ingress.keys.verify(authorization.removeprefix("Bearer ").strip())
        if key is None:
            raise HTTPException(401, "unknown or revoked API key")
        request.state.key = key
        if not allows(key["role"], needed):
            raise HTTPException(403, f"role {key['role']} may not do this; it needs {needed} or higher")
        return key

    return check


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=4)
class Solver:
    """Runs the LPs: one HiGHS thread per replica, off the ingress's event loop."""

    def __init__(self, home: str | None = None) -> None:
        if home:
            os.environ["BESS_RAY_HOME"] = home  # this process reads stored scenarios from the API's store

    def schedule(self, body: dict) -> dict:
        try:
            return {"ok": solve_schedule(ScheduleRequest.model_validate(body))}
        except InfeasibleError as e:
            return {"status": 422, "detail": {"reason": str(e), "families": e.families}}
        except (BessRayError, KeyError, ValueError) as e:
            return {"status": 422, "detail": e.args[0] if isinstance(e, KeyError) and e.args else str(e)}


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64,
                  health_check_period_s=10, health_check_timeout_s=30)
@serve.ingress(api)
class Ingress:
    def __init__(self, solver: DeploymentHandle, home: str | None = None, max_upload_mb: float = 50.0) -> None:
        from ..store.scenarios import ScenarioStore

        self.solver = solver
        self.home = Path(home) if home else None
        self.keys = KeyStore(self.home)
        self.scenarios = ScenarioStore(self.home)
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self.registry = CollectorRegistry()
        self.requests = Counter("bess_ray_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("bess_ray_http_seconds", "HTTP request latency", ["method"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.3, 1, 3, 10, 30))
        api.state.ingress = self

    def check_health(self) -> None:
        """Serve's health check: the store must answer."""
        self.keys.list()

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "version": __version__}

    @api.get("/metrics", response_class=PlainTextResponse)
    async def metrics(self, key: dict = Depends(_role("viewer"))) -> PlainTextResponse:
        return PlainTextResponse(generate_latest(self.registry).decode(), media_type="text/plain; version=0.0.4")

    @api.post("/v1/schedules")
    async def schedules(self, body: ScheduleRequest, key: dict = Depends(_role("analyst"))) -> dict:
        """Optimise a site now: the schedule per interval and asset, and the money by product."""
        answer = await self.solver.schedule.remote(body.model_dump(mode="json"))
        if "ok" not in answer:
            raise HTTPException(answer["status"], answer["detail"])
        return answer["ok"]

    # ------------------------------------------------------------------------------ scenarios
    @api.post("/v1/scenarios", status_code=201)
    async def upload_scenario(self, request: Request, name: str, product: str | None = None, zone: str | None = None,
                              tz: str | None = None, unit: str | None = None, fill: str | None = None,
                              description: str = "", replace: bool = False,
                              key: dict = Depends(_role("analyst"))) -> dict:
        """Upload a CSV (text/csv) or Parquet (application/vnd.apache.parquet) series as the request body;
        it is checked (gaps, duplicates, NaN, DST, units) and stored whole or not at all."""
        from ..data.series import read_series

        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in FORMATS:
            raise HTTPException(415, f"content-type {kind or '(none)'}: send text/csv or application/vnd.apache.parquet")
        declared = int(request.headers.get("content-length") or 0)
        if declared > self.max_upload:
            raise HTTPException(413, f"upload of {declared:,} bytes is over the limit of {self.max_upload:,}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_upload:
                raise HTTPException(413, f"upload is over the limit of {self.max_upload:,} bytes")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}{FORMATS[kind]}"
            path.write_bytes(bytes(body))
            try:
                series = await asyncio.to_thread(read_series, path, product=product, zone=zone, tz=tz, unit=unit,
                                                 fill=fill)
                meta = self.scenarios.add(name, series, zone=zone, description=description, replace=replace)
            except (BessRayError, KeyError, ValueError) as e:
                status = 409 if "exists" in str(e) else 422
                raise HTTPException(status, e.args[0] if isinstance(e, KeyError) and e.args else str(e)) from None
        return {**meta, "report": str(series.report)}

    @api.get("/v1/scenarios")
    async def list_scenarios(self, key: dict = Depends(_role("viewer"))) -> list[dict]:
        return self.scenarios.list()

    @api.get("/v1/scenarios/{name}")
    async def show_scenario(self, name: str, key: dict = Depends(_role("viewer"))) -> dict:
        meta = self.scenarios.get(name)
        if meta is None:
            raise HTTPException(404, f"unknown scenario {name!r}")
        return meta

    @api.delete("/v1/scenarios/{name}")
    async def delete_scenario(self, name: str, key: dict = Depends(_role("analyst"))) -> dict:
        if not self.scenarios.delete(name):
            raise HTTPException(404, f"unknown scenario {name!r}")
        return {"deleted": name}


def build_app(args: dict | None = None):
    """The application builder of deployments/serve.yaml and `bess-ray serve`."""
    args = args or {}
    home = args.get("home") or os.environ.get("BESS_RAY_HOME")
    solver = (Solver.options(num_replicas=int(args["solver_replicas"])) if "solver_replicas" in args else Solver).bind(home)
    return Ingress.bind(solver, home, float(args.get("max_upload_mb", 50)))
