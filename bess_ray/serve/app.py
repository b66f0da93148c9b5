"""The HTTP API on Ray Serve: the FastAPI ingress (routes, auth, audit, validation, scenarios, job
records, and the LPs of /v1/schedules, solved in a worker thread so that a solve never stalls the
event loop). Jobs (`jobs.py`) and the scenario cache (`cache.py`) are deployments of their own.

`build_app(args)` is the application builder named in deployments/serve.yaml; `bess-ray serve`
runs it locally (its arguments are in its docstring).
"""

import asyncio
import os
import tempfile
import time
import uuid
from enum import Enum
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from ray import serve
from ray.serve.handle import DeploymentHandle

from .. import __version__
from ..backtesting.config import BacktestConfig
from ..data.series import stored_scenarios
from ..errors import BessRayError, InfeasibleError
from ..optimization.warm import WarmSolver
from ..simulation.config import SimulationConfig
from ..store import open_store, store_url, use_store
from ..store.flow_runs import FlowRuns
from ..store.jobs import FINISHED, JobStore
from ..store.keys import KeyStore
from ..store.scenarios import NAME as SCENARIO_NAME
from ..store.scenarios import ScenarioExists, ScenarioStore
from ..sweeps.spec import SweepSpec
from .cache import ScenarioCache, series_from_entry
from .jobs import Jobs
from .auth import role as _role
from .contract import allowed_methods, document, errors
from .schedules import ScheduleAnswer, ScheduleRequest, answer_json, solve_schedule
from .flows import router as flows_router
from .sites import router as sites_router
from .whatif import router as whatif_router

api = FastAPI(title="bess-ray", version=__version__,
              description="Battery storage on real market data: schedules, backtests, simulations, sweeps "
                          "and price scenarios. Every endpoint that reads or writes data needs an API key "
                          "(`bess-ray keys create --role ROLE`) as a bearer token; /healthz and these docs "
                          "do not.")
FORMATS = {"text/csv": ".csv", "application/vnd.apache.parquet": ".parquet", "application/octet-stream": ".parquet"}
# the upload's body, read from the request stream (so FastAPI cannot infer it): a CSV or Parquet file
UPLOAD = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in FORMATS if kind != "text/csv"}}}}


def _error(status: int, detail, request: Request, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "request_id": request.state.request_id}, status_code=status,
                        headers=headers)


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError):
    # one entry per problem: the field path in the body and the reason
    detail = [{"path": ".".join(str(x) for x in e["loc"] if x != "body"), "reason": e["msg"].removeprefix("Value error, ")}
              for e in exc.errors()]
    return _error(422, detail, request)


@api.exception_handler(StarletteHTTPException)  # the routing's own (404, 405) as well as ours
async def _http(request: Request, exc: StarletteHTTPException):
    headers = exc.headers
    if exc.status_code == 405:  # Starlette names the methods of the one route it matched, not the path's
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return _error(exc.status_code, exc.detail, request, headers)


@api.exception_handler(BessRayError)
async def _bad_input(request: Request, exc: BessRayError):
    return _error(422, str(exc), request)


class _RequestIdMetricsAudit:
    """Pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a stream per request):
    the request id (X-Request-ID, the client's or Serve's) in the request's state, Prometheus counts
    and latency, and an audit entry for every write, allowed or not, written before the answer leaves."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = dict(scope["headers"]).get(b"x-request-id", b"").decode() or uuid.uuid4().hex
        scope.setdefault("state", {}).update(request_id=request_id, key=None)
        t0 = time.perf_counter()
        ingress = scope["app"].state.ingress  # the app Serve runs (a copy of `api`)

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                route = scope.get("route")
                ingress.requests.labels(scope["method"], route.path if route else "other", str(status)).inc()
                ingress.latency.labels(scope["method"]).observe(time.perf_counter() - t0)
                if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                    key = scope["state"]["key"] or {}
                    # in a thread: a commit may wait for the store's lock (the Jobs deployment writes to
                    # it too) or a PostgreSQL round trip, and the event loop must serve others meanwhile
                    await asyncio.to_thread(ingress.keys.audit, key.get("id"), key.get("role"), scope["method"],
                                            scope["path"], status, request_id)
            await send(message)  # Serve's proxy echoes the X-Request-ID it put on the request

        await self.app(scope, receive, send_with_id)


api.openapi = lambda: document(api)
api.add_middleware(_RequestIdMetricsAudit)
api.include_router(sites_router)  # before the job routes: /v1/sites is not a job kind
api.include_router(flows_router)
api.include_router(whatif_router)  # the analysts' page, /what-if


def _reason(e: Exception) -> str:
    """The message of an error about the input (a KeyError's str() would add quotes)."""
    return e.args[0] if isinstance(e, KeyError) and e.args else str(e)


class JobKind(str, Enum):
    backtests = "backtests"
    simulations = "simulations"
    sweeps = "sweeps"

    @property
    def singular(self) -> str:
        return self.value.removesuffix("s")


class _KindConvertor(Convertor):
    """`{kind:kind}` matches a job kind only, so that /v1/sites/x never reaches the job routes."""

    regex = "|".join(k.value for k in JobKind)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value) -> str:
        return str(value)


register_url_convertor("kind", _KindConvertor())


def _wait(prefer: str | None, default: float) -> float:
    """Seconds to wait for a job before answering 202 (RFC 7240: `respond-async`, `wait=N`)."""
    prefs = [p.strip().lower() for p in (prefer or "").split(",")]
    if "respond-async" in prefs:
        return 0.0
    for p in prefs:
        if p.startswith("wait="):
            try:
                return min(max(float(p[5:]), 0.0), 300.0)
            except ValueError:
                pass
    return default


def _links(job: dict) -> dict:
    base = f"/v1/{job['kind']}s/{job['id']}"
    return {"self": base, "result": f"{base}/result", "files": f"{base}/files"}


def _view(job: dict, result: bool = False) -> dict:
    """A job as the API shows it."""
    view = {k: job[k] for k in ("id", "kind", "name", "status", "created_utc", "started_utc", "finished_utc",
                                "error")}
    view["progress"] = {"done": job["done"], "total": job["total"], "unit": job["unit"],
                        "fraction": round(job["done"] / job["total"], 4) if job["total"] else 0.0}
    view["links"] = _links(job)
    if result and job.get("summary") is not None:
        view["result"] = job["summary"]
    return view


# Requests for schedules wait at most this many deep per replica for its solver; beyond it the API
# sheds them with 503 + Retry-After instead of letting every answer grow late without bound.
QUEUE_LIMIT = 32
RETRY_AFTER_S = 1  # a queue at its bound drains in well under a second (a solve takes milliseconds)
REPLICA_ENV = {"env_vars": {"POLARS_MAX_THREADS": "1"}}


# A replica takes every request (a full one idles behind Serve's back-off) and sheds load at its own
# solver queue, where the cost is. No CPU reserved: it solves, but the jobs' tasks must find CPUs too.
# No per-request access log: the audit log has every write, the Prometheus metrics every request.
@serve.deployment(ray_actor_options={"num_cpus": 0, "runtime_env": REPLICA_ENV}, max_ongoing_requests=512,
                  max_queued_requests=64, health_check_period_s=10, health_check_timeout_s=30,
                  logging_config={"enable_access_log": False})
@serve.ingress(api)
class Ingress:
    """The API. Schedules are solved here, one at a time per replica in a worker thread (HiGHS
    releases the GIL, the event loop goes on serving), with HiGHS kept warm between requests: a
    second deployment would cost a Ray call per request, more than the solve itself. Replicas scale
    the solving (HAProxy, or Serve's proxy, spreads the requests)."""

    def __init__(self, jobs: DeploymentHandle, cache: DeploymentHandle,
                 home: str | None = None, max_upload_mb: float = 50.0, wait_s: float = 10.0,
                 store: str | None = None, flows: str | None = None, queue_limit: int = QUEUE_LIMIT) -> None:
        self.queue_limit = queue_limit
        self.waiting = 0  # schedule requests in this replica, solving or queued for the solver
        self.solving = asyncio.Lock()
        self.warm = WarmSolver()  # consecutive requests of one site and window length reuse its model
        self.jobs = jobs
        self.cache = cache
        opened = use_store(home, store)
        self.keys = KeyStore(opened)
        self.scenarios = ScenarioStore(opened)
        self.job_store = JobStore(opened)
        self.flow_runs = FlowRuns(opened)
        self.flows_file = flows
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self.wait_s = wait_s
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

    @api.post("/v1/schedules", response_model=ScheduleAnswer, responses=errors(503))
    async def schedules(self, body: ScheduleRequest, key: dict = Depends(_role("analyst"))) -> Response:
        """Optimise a site now: the schedule per interval and asset, and the money by product."""
        if self.waiting >= self.queue_limit:
            raise HTTPException(503, f"overloaded: {self.waiting} schedule requests are waiting for this replica's "
                                     f"solver; retry after {RETRY_AFTER_S} s", headers={"Retry-After": str(RETRY_AFTER_S)})
        self.waiting += 1
        t0 = time.perf_counter()
        try:
            names = body.stored_scenarios()
            cached = await self.cache.lookup.remote(names) if names else {}
            async with self.solving:
                answer = await asyncio.to_thread(self._solve, body, cached)
        finally:
            self.waiting -= 1
        if "ok" not in answer:
            raise HTTPException(answer["status"], answer["detail"])
        # where the time went, for clients and benchmarks (W3C Server-Timing, milliseconds)
        timing = f"solve;dur={answer['seconds'] * 1e3:.2f}, queue-and-solve;dur={(time.perf_counter() - t0) * 1e3:.2f}"
        return Response(answer["ok"], media_type="application/json", headers={"server-timing": timing})

    def _solve(self, req: ScheduleRequest, cached: dict) -> dict:
        """{"ok": the answer as JSON bytes, "seconds": ...} or {"status": 4xx, "detail": why}."""
        try:
            with stored_scenarios(lambda n: series_from_entry(n, cached[n]) if n in cached else None):
                t0 = time.perf_counter()
                return {"ok": answer_json(solve_schedule(req, self.warm)), "seconds": time.perf_counter() - t0}
        except InfeasibleError as e:
            return {"status": 422, "detail": {"reason": str(e), "families": e.families}}
        except (BessRayError, KeyError, ValueError) as e:
            return {"status": 422, "detail": _reason(e)}

    # ------------------------------------------------------------------------------ scenarios
    @api.post("/v1/scenarios", status_code=201, responses=errors(409, 413, 415), openapi_extra=UPLOAD)
    async def upload_scenario(self, request: Request,
                              name: str = Query(pattern=SCENARIO_NAME.pattern,
                                                description="letters, digits, '_', '.', '-'; at most 100"),
                              product: str | None = None, zone: str | None = None,
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
            path = Path(tmp) / f"upload{FORMATS[kind]}"  # never a name of the client's: no path of theirs
            path.write_bytes(bytes(body))
            try:
                series = await asyncio.to_thread(read_series, path, product=product, zone=zone, tz=tz, unit=unit,
                                                 fill=fill)
                meta = self.scenarios.add(name, series, zone=zone, description=description, replace=replace)
            except (BessRayError, KeyError, ValueError) as e:
                raise HTTPException(409 if isinstance(e, ScenarioExists) else 422,
                                    _reason(e).replace(str(path), "the upload")) from None
        if replace and await self.cache.unload.remote(name):  # never serve the old version from memory
            await self.cache.load.remote(name)
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
        await self.cache.unload.remote(name)
        return {"deleted": name}

    # ------------------------------------------------------------------------------ scenario cache
    @api.get("/v1/cache")
    async def cache_stats(self, key: dict = Depends(_role("viewer"))) -> dict:
        """What the scenario cache holds, its memory use against its limit, hits, misses, evictions."""
        return await self.cache.stats.remote()

    @api.post("/v1/cache/{name}", responses=errors(413))
    async def cache_load(self, name: str, key: dict = Depends(_role("analyst"))) -> dict:
        """Hold a stored scenario in memory for schedules (least recently used ones make room)."""
        answer = await self.cache.load.remote(name)
        if "error" in answer:
            raise HTTPException(*answer["error"])
        return answer

    @api.delete("/v1/cache/{name}")
    async def cache_unload(self, name: str, key: dict = Depends(_role("analyst"))) -> dict:
        if not await self.cache.unload.remote(name):
            raise HTTPException(404, f"scenario {name!r} is not in the cache")
        return {"unloaded": name}

    # ------------------------------------------------------------------------------ jobs
    @api.post("/v1/backtests", responses={202: {"description": "still running: follow the job at its Location"}})
    async def submit_backtest(self, body: BacktestConfig, request: Request, response: Response,
                              prefer: str | None = Header(None), key: dict = Depends(_role("analyst"))) -> dict:
        """A walk-forward backtest (the backtest YAML's schema, the site inline). Answered at once if it
        finishes within the wait (default 10 s, `Prefer: wait=N`, or `Prefer: respond-async` for none),
        otherwise 202 with the job; `GET /v1/backtests/{id}` follows it."""
        return await self._submit("backtest", body.model_dump(mode="json"), request, response, prefer, key)

    @api.post("/v1/simulations", responses={202: {"description": "still running: follow the job at its Location"}})
    async def submit_simulation(self, body: SimulationConfig, request: Request, response: Response,
                                prefer: str | None = Header(None), key: dict = Depends(_role("analyst"))) -> dict:
        """A multi-year simulation (the simulation YAML's schema); answered as for backtests."""
        return await self._submit("simulation", body.model_dump(mode="json"), request, response, prefer, key)

    @api.post("/v1/sweeps", responses={202: {"description": "still running: follow the job at its Location"}})
    async def submit_sweep(self, body: SweepSpec, request: Request, response: Response,
                           prefer: str | None = Header(None), key: dict = Depends(_role("analyst"))) -> dict:
        """A portfolio sweep (the sweep spec's schema with `base` inline); answered as for backtests.
        The result ranks the cases; every case's files are under the job's files."""
        return await self._submit("sweep", body.model_dump(mode="json", exclude_unset=True), request, response,
                                  prefer, key)

    async def _submit(self, kind: str, config: dict, request: Request, response: Response, prefer: str | None,
                      key: dict) -> dict:
        answer = await self.jobs.submit.remote(kind, config, key["id"], request.state.request_id,
                                               _wait(prefer, self.wait_s))
        if "error" in answer:
            raise HTTPException(*answer["error"])
        job = answer["job"]
        if job["status"] == "failed":
            raise HTTPException(422, {"reason": job["error"], "job": job["id"]})
        if job["status"] not in FINISHED:
            response.status_code = 202
            response.headers["Location"] = _links(job)["self"]
        return _view(job, result=True)

    # one path per kind, beside its POST: a template /v1/{kind} would hide that POST from the document
    @api.get("/v1/backtests", operation_id="list_backtests", summary="List backtests")
    @api.get("/v1/simulations", operation_id="list_simulations", summary="List simulations")
    @api.get("/v1/sweeps", operation_id="list_sweeps", summary="List sweeps")
    async def list_jobs(self, request: Request, limit: int = Query(100, ge=1, le=1000),
                        key: dict = Depends(_role("viewer"))) -> list[dict]:
        """The newest jobs of this kind first."""
        kind = JobKind(request.url.path.rstrip("/").rsplit("/", 1)[1])
        return [_view(j) for j in self.job_store.list(kind.singular, limit)]

    @api.get("/v1/{kind:kind}/{job_id}")
    async def show_job(self, kind: JobKind, job_id: str, key: dict = Depends(_role("viewer"))) -> dict:
        """Status and progress; the result once done."""
        return _view(self._job(kind, job_id), result=True)

    @api.get("/v1/{kind:kind}/{job_id}/result", responses=errors(409))
    async def job_result(self, kind: JobKind, job_id: str, key: dict = Depends(_role("viewer"))) -> dict:
        """The summary: KPIs and money (backtest, simulation) or the ranking of the cases (sweep)."""
        job = self._job(kind, job_id)
        if job["status"] != "done":
            raise HTTPException(409, f"job {job_id} is {job['status']}" + (f": {job['error']}" if job["error"] else
                                f" ({job['done']} of {job['total']} {job['unit']})"))
        return job["summary"]

    @api.get("/v1/{kind:kind}/{job_id}/files")
    async def job_files(self, kind: JobKind, job_id: str, key: dict = Depends(_role("viewer"))) -> list[dict]:
        """The files the job wrote (as the CLI writes them), with their sizes."""
        folder = self.job_store.folder(self._job(kind, job_id)["id"])
        return [{"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size}
                for p in sorted(folder.rglob("*")) if p.is_file()]

    @api.get("/v1/{kind:kind}/{job_id}/files/{path:path}")
    async def job_file(self, kind: JobKind, job_id: str, path: str, key: dict = Depends(_role("viewer"))):
        folder = self.job_store.folder(self._job(kind, job_id)["id"]).resolve()
        target = (folder / path).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            raise HTTPException(404, f"job {job_id} has no file {path!r}")
        return FileResponse(target)

    @api.delete("/v1/{kind:kind}/{job_id}", responses=errors(409))
    async def cancel_job(self, kind: JobKind, job_id: str, key: dict = Depends(_role("analyst"))) -> dict:
        """Cancel a queued or running job (a sweep keeps the cases it finished)."""
        job = self._job(kind, job_id)
        if job["status"] in FINISHED:
            raise HTTPException(409, f"job {job_id} is already {job['status']}")
        return _view(await self.jobs.cancel.remote(job_id))

    def _job(self, kind: "JobKind", job_id: str) -> dict:
        job = self.job_store.get(job_id, kind.singular)
        if job is None:
            raise HTTPException(404, f"unknown {kind.singular} job {job_id!r}")
        return job


def build_app(args: dict | None = None):
    """The application builder of deployments/serve.yaml and `bess-ray serve`.

    args: `store` (the store's URL, default BESS_RAY_STORE, else the embedded SQLite store under
    `home`; a PostgreSQL URL lets several replicas and nodes share keys, jobs, audit and scenarios),
    `home` (BESS_RAY_HOME: the embedded store and the jobs' files), `max_upload_mb` (50),
    `cache_mb` (the scenario cache's memory limit, 512), `wait_s` (how long a job request waits
    before answering 202, 10), `replicas` (API replicas, each solving one schedule at a time, 1;
    serve.yaml autoscales), `queue_limit` (schedule requests that may wait per replica, 32; more
    answer 503 + Retry-After), `flows` (a flows file: runs can be triggered over HTTP)."""
    args = args or {}
    home = args.get("home") or os.environ.get("BESS_RAY_HOME")
    store = args.get("store") or os.environ.get("BESS_RAY_STORE")
    url = store or store_url(home)
    open_store(url)  # a wrong URL fails the deploy here, naming it, before any replica starts
    _one_store_for_every_node(url)
    cache = ScenarioCache.bind(home, float(args.get("cache_mb", 512)), store)
    queue_limit = int(args.get("queue_limit", QUEUE_LIMIT))
    if queue_limit < 1:
        raise ValueError(f"queue_limit: {queue_limit} must be at least 1")
    ingress = Ingress.options(**({"num_replicas": int(args["replicas"])} if "replicas" in args else {}))
    return ingress.bind(Jobs.bind(home, store), cache, home, float(args.get("max_upload_mb", 50)),
                        float(args.get("wait_s", 10)), store,
                        _flows_file(args.get("flows") or os.environ.get("BESS_RAY_FLOWS")), queue_limit)


def _one_store_for_every_node(url: str) -> None:
    """Refuse one node's SQLite file on a cluster of several: replicas on the other nodes would
    each keep their own keys, jobs and audit."""
    import ray

    if not url.startswith("sqlite") or not ray.is_initialized():
        return
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    if nodes > 1:
        raise ValueError(f"store: the embedded SQLite store is one node's file, but this Ray cluster has {nodes} "
                         "nodes: give `store:` in serve.yaml, or BESS_RAY_STORE on every node "
                         "(deployments/cluster.env), a PostgreSQL URL (docs/cluster.md)")


def _flows_file(path: str | None) -> str | None:
    """The flows file, checked now (a bad one fails the deploy, naming the field), as an absolute path."""
    if not path:
        return None
    from ..flows.spec import load_flows

    load_flows(path)
    return str(Path(path).resolve())
