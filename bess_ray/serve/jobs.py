"""Backtests, simulations and sweeps submitted over HTTP: the `Jobs` deployment and its Ray tasks.

`Jobs` (one replica, no CPU of its own) owns the job table (`store/jobs.py`). A backtest or a
simulation runs as one Ray task on one CPU (a parallel simulation's task takes none: its years are
tasks of their own) that streams its progress back as a Ray streaming generator and hands its files
back at the end, so a job may run on any node. A sweep runs `cluster.sweep.run_sweep` in a thread of
this replica: its cases are tasks, and each finished case is written into the job's folder.

`submit` waits up to `wait_s` seconds for the job: one that finished by then is answered at once,
a longer one with its id (HTTP 202). Configs are checked by `refs.check_refs` first.
"""
import asyncio
import itertools
import json
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray
import yaml
from ray import serve

from ..errors import BessRayError, ConfigError
from ..store import use_store
from ..store.jobs import FINISHED, JobStore
from ..store.scenarios import ScenarioStore
from .refs import check_refs

PROGRESS_EVERY_S = 0.5  # the job table is updated at most this often while a job runs


@ray.remote(num_returns="streaming", max_retries=0, runtime_env={"env_vars": {"POLARS_MAX_THREADS": "1"}})
def _run_task(kind: str, config: dict, base_dir: str):
    """Yields ("running",), then ("progress", done, total) events, then ("done", {path: bytes}) with
    the files the CLI would write, or ("failed", reason)."""
    yield ("running",)
    events: queue.Queue = queue.Queue()

    def work() -> None:  # in a thread, so that progress can be yielded while it runs
        try:
            with tempfile.TemporaryDirectory() as tmp:
                if kind == "backtest":
                    from ..backtesting.config import BacktestConfig
                    from ..backtesting.run import backtest

                    cfg = BacktestConfig.model_validate(config)
                    backtest(cfg, tmp, progress=lambda d: events.put(("progress", d + 1, cfg.window.days)),
                             base_dir=base_dir)
                else:
                    from ..cluster.simulate import simulate as simulate_parallel
                    from ..simulation.config import SimulationConfig
                    from ..simulation.run import simulate

                    cfg = SimulationConfig.model_validate(config)
                    years = itertools.count(1)
                    run = simulate_parallel if cfg.mode == "parallel" else simulate
                    run(cfg, tmp, progress=lambda _: events.put(("progress", next(years), cfg.years)),
                        base_dir=base_dir)
                events.put(("done", {p.relative_to(tmp).as_posix(): p.read_bytes()
                                     for p in sorted(Path(tmp).rglob("*")) if p.is_file()}))
        except BessRayError as e:
            events.put(("failed", str(e)))
        except Exception as e:  # noqa: BLE001 - reported as the job's error, with its type
            events.put(("failed", f"{type(e).__name__}: {e}"))

    threading.Thread(target=work, daemon=True).start()
    while True:
        event = events.get()
        yield event
        if event[0] != "progress":
            return


@dataclass
class _Running:
    """A job this replica is running: its asyncio task, its stop flag (set by a cancel), and the
    Ray task of a backtest or simulation."""

    task: asyncio.Task | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    generator: object = None


@serve.deployment(ray_actor_options={"num_cpus": 0}, num_replicas=1, max_ongoing_requests=1000)
class Jobs:
    """Submits, follows and cancels jobs; their records and files live in the API's store."""

    def __init__(self, home: str | None = None, store: str | None = None) -> None:
        opened = use_store(home, store)
        self.store = JobStore(opened, runner=serve.get_replica_context().app_name)
        self.scenarios = ScenarioStore(opened)
        self.store.interrupted()
        self.running: dict[str, _Running] = {}

    def check_health(self) -> None:
        self.store.list(limit=1)

    async def submit(self, kind: str, config: dict, owner: str | None, request_id: str | None,
                     wait_s: float) -> dict:
        """Start a job; wait up to `wait_s` for it. {"job": record} or {"error": (status, detail)}."""
        try:
            check_refs(config, self.scenarios)
            total, unit, sweep_spec = await asyncio.to_thread(self._size, kind, config)
        except (BessRayError, ValueError) as e:
            return {"error": (422, str(e))}
        job = self.store.create(kind, config.get("name", ""), owner, request_id, total, unit)
        if sweep_spec is not None:
            (self.store.folder(job["id"]) / "spec.yaml").write_text(sweep_spec)
        run = self.running[job["id"]] = _Running()
        run.task = asyncio.ensure_future(self._run(job["id"], kind, config))
        try:
            await asyncio.wait_for(asyncio.shield(run.task), wait_s)
        except asyncio.TimeoutError:
            pass
        return {"job": self.store.get(job["id"])}

    def _size(self, kind: str, config: dict) -> tuple[int, str, str | None]:
        """The job's size in its progress unit; a sweep's spec is expanded here, so a bad one fails
        before a job exists."""
        if kind == "backtest":
            from ..backtesting.config import BacktestConfig

            cfg = BacktestConfig.model_validate(config)
            return cfg.window.days, "days", None
        if kind == "simulation":
            from ..simulation.config import SimulationConfig

            return SimulationConfig.model_validate(config).years, "years", None
        from ..sweeps.case import first_backtest_day
        from ..sweeps.spec import load_sweep

        text = yaml.safe_dump(config, sort_keys=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "spec.yaml"
            path.write_text(text)
            try:
                return len(load_sweep(path, first_day=first_backtest_day).cases), "cases", text
            except ConfigError as e:  # name the request's body, not a temporary file
                raise ConfigError(str(e).replace(f"{path}: ", "").replace(str(path), "the sweep")) from None

    async def _run(self, job_id: str, kind: str, config: dict) -> None:
        try:
            if kind == "sweep":
                await self._sweep(job_id)
            else:
                await self._task(job_id, kind, config)
        except Exception as e:  # noqa: BLE001 - a cancelled task surfaces as an error here
            if self.running[job_id].stop.is_set():
                self.store.update(job_id, status="cancelled")
            else:
                self.store.update(job_id, status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
        finally:
            self.running.pop(job_id, None)

    async def _task(self, job_id: str, kind: str, config: dict) -> None:
        parallel = kind == "simulation" and config.get("mode") == "parallel"
        folder = self.store.folder(job_id)
        generator = self.running[job_id].generator = \
            _run_task.options(num_cpus=0 if parallel else 1).remote(kind, config, str(folder))
        shown = 0.0
        async for ref in generator:
            event = await ref
            if event[0] == "running":
                self.store.update(job_id, status="running")
            elif event[0] == "progress":
                if time.monotonic() - shown >= PROGRESS_EVERY_S or event[1] == event[2]:
                    self.store.update(job_id, done=event[1], total=event[2])
                    shown = time.monotonic()
            elif event[0] == "done":
                for name, data in event[1].items():
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_bytes(data)
                summary = json.loads((folder / "summary.json").read_text())
                self.store.update(job_id, status="done", summary=summary)
            else:
                self.store.update(job_id, status="failed", error=event[1])

    async def _sweep(self, job_id: str) -> None:
        from ..cluster.sweep import run_sweep
        from ..sweeps.results import rank

        folder = self.store.folder(job_id)
        stop = self.running[job_id].stop
        self.store.update(job_id, status="running")
        shown = [0.0]

        def progress(report) -> None:
            if time.monotonic() - shown[0] >= PROGRESS_EVERY_S:
                self.store.update(job_id, done=report.skipped + report.done + report.failed)
                shown[0] = time.monotonic()

        report = await asyncio.to_thread(run_sweep, folder / "spec.yaml", folder / "results", progress=False,
                                         on_progress=progress, stop=stop.is_set)
        if report.stopped:
            self.store.update(job_id, status="cancelled", done=report.done + report.failed)
            return
        ranking = rank(folder / "results", top=20) if report.done + report.skipped else None
        summary = {"cases": report.cases, "done": report.done + report.skipped, "failed": report.failed,
                   "failures": report.failures[:50], "seconds": round(report.seconds, 3),
                   "ranking": json.loads(ranking.write_json()) if ranking is not None else []}
        self.store.update(job_id, status="done", done=report.cases, summary=summary)

    async def cancel(self, job_id: str) -> dict | None:
        """Cancel a queued or running job; the record afterwards (None if there is no such job)."""
        job = self.store.get(job_id)
        run = self.running.get(job_id)
        if job is None or job["status"] in FINISHED or run is None:
            return job
        run.stop.set()  # a sweep checks it between cases
        if run.generator is not None:
            ray.cancel(run.generator, force=True)  # a solve in C++ only stops with its process
        try:
            await asyncio.wait_for(asyncio.shield(run.task), 30)
        except asyncio.TimeoutError:
            pass
        return self.store.get(job_id)
