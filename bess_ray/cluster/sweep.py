"""`run_sweep`: the cases of a sweep spec as Ray tasks, on a local Ray or a cluster.

The driver expands and validates the spec and reads every price series once (bad input fails here,
before any task starts), puts the series in the object store as Arrow tables, and keeps at most
`max_in_flight` tasks running (`ray.wait`). Each task runs one case through the plain functions of
`backtesting/` or `simulation/` on one CPU with one HiGHS thread; the driver writes each finished case
atomically, so a killed sweep resumes where it stopped. A case that raises is re-run per the spec's
`retries.errors`, then recorded with its traceback; a task whose worker process or node dies is
re-run by Ray up to `retries.worker_failures` times.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray
from ray.exceptions import RayError

from ..data.series import memo
from ..errors import ConfigError
from ..sweeps.case import Outcome, first_backtest_day, from_arrow, load_shared, run_case, to_arrow
from ..sweeps.spec import Case, load_sweep
from ..sweeps.store import SweepStore
from .runtime import ensure_ray

_WORKER_SERIES: dict = {}  # per worker process: the shared series of the sweep it last served


@ray.remote(num_cpus=1, runtime_env={"env_vars": {"POLARS_MAX_THREADS": "1"}})
def _case_task(case: Case, base_dir: str, shared: list) -> Outcome:
    key = shared[0].hex()
    if key not in _WORKER_SERIES:  # once per worker and sweep, not once per case
        _WORKER_SERIES.clear()
        _WORKER_SERIES[key] = from_arrow(ray.get(shared[0]))
    with memo(_WORKER_SERIES[key]):
        return run_case(case, Path(base_dir))


@dataclass
class SweepReport:
    out: Path
    cases: int
    skipped: int                      # finished by an earlier run
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    prepare_seconds: float = 0.0     # spec, validation, reading the data
    run_seconds: float = 0.0         # first submission to last result written
    compute_seconds: float = 0.0      # the cases' own time, summed over tasks
    write_seconds: float = 0.0
    worker_peak_rss_mb: float = 0.0
    failures: list[str] = field(default_factory=list)
    stopped: bool = False

    def describe(self) -> str:
        rate = f" ({60.0 * self.done / self.seconds:.1f} cases/min)" if self.done else ""
        return (f"{self.done} case(s) run, {self.skipped} already done, {self.failed} failed, of {self.cases}; "
                f"{self.seconds:.1f} s{rate}")


def run_sweep(spec_path: str | Path, out: str | Path, *, address: str | None = None, max_in_flight: int | None = None,
              force: bool = False, num_cpus: int | None = None, progress: bool = True, on_progress=None,
              stop=None) -> SweepReport:
    """Run the cases of `spec_path` not yet finished in `out`; see the module docstring.

    on_progress(report) is called after each finished case; stop() returning True cancels the running
    cases and returns (the finished ones are saved: a rerun resumes)."""
    if max_in_flight is not None and max_in_flight < 1:
        raise ConfigError(f"--max-in-flight: must be at least 1, not {max_in_flight}")
    t0 = time.perf_counter()
    with memo() as series:
        sweep = load_sweep(spec_path, first_day=first_backtest_day)
        store = SweepStore(out)
        store.check(sweep, force)
        done = store.done_ids()
        todo = [c for c in sweep.cases if c.case_id not in done]
        load_shared(sweep, series, todo)
        started = ensure_ray(address, num_cpus) if todo else False  # a cluster that cannot be joined leaves no folder
        store.claim(sweep, force)
    report = SweepReport(Path(out), len(sweep.cases), len(sweep.cases) - len(todo),
                         prepare_seconds=time.perf_counter() - t0)
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = max_in_flight or 2 * cpus  # a queue per CPU, so a worker never waits for the driver
        t_run = time.perf_counter()
        shared = [ray.put(to_arrow(series))]
        task = _case_task.options(max_retries=sweep.spec.retries.worker_failures)
        bar = _Progress(len(sweep.cases), report.skipped, progress)
        queue = list(reversed(todo))
        attempts: dict[str, int] = {}
        running: dict = {}
        try:
            while queue or running:
                while queue and len(running) < limit:
                    case = queue.pop()
                    attempts[case.case_id] = attempts.get(case.case_id, 0) + 1
                    running[task.remote(case, str(sweep.base_dir), shared)] = case
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0 if stop else None)
                if stop and stop():
                    for ref in running:  # a KeyboardInterrupt in each task; its worker stays
                        ray.cancel(ref)
                    report.stopped = True
                    break
                if not ready:
                    continue
                case = running.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except RayError as e:  # the worker or node died more often than retries allow
                    outcome = Outcome(case.case_id, error=f"{type(e).__name__}: {e}".splitlines()[0], traceback=str(e))
                t_write = time.perf_counter()
                report.worker_peak_rss_mb = max(report.worker_peak_rss_mb, outcome.peak_rss_mb)
                if outcome.ok:
                    store.write_result(case.case_id, outcome.row, outcome.years)
                    report.done += 1
                    report.compute_seconds += outcome.seconds
                elif attempts[case.case_id] <= sweep.spec.retries.errors:
                    queue.append(case)
                else:
                    store.write_failure(case.case_id, case.params, outcome.error, outcome.traceback,
                                        attempts[case.case_id])
                    report.failed += 1
                    report.failures.append(f"{case.case_id} ({case.describe()}): {outcome.error}")
                report.write_seconds += time.perf_counter() - t_write
                bar.update(report.done, report.failed)
                if on_progress:
                    on_progress(report)
            report.run_seconds = time.perf_counter() - t_run
        except KeyboardInterrupt:  # the running tasks end with this driver (their owner); nothing to cancel
            bar.close()
            print(f"\ninterrupted: {report.done} case(s) of this run are saved in {out}; run the same command "
                  "again to finish the rest", file=sys.stderr)
            raise
        bar.close()
    finally:
        if started:
            ray.shutdown()
    report.seconds = time.perf_counter() - t0
    return report


class _Progress:
    """A tqdm progress bar with done / failed counts and ETA (silent when `enabled` is False)."""

    def __init__(self, total: int, already: int, enabled: bool) -> None:
        self.tqdm = None
        if enabled:
            from tqdm import tqdm

            self.tqdm = tqdm(total=total, initial=already, unit="case", file=sys.stderr, mininterval=0.5,
                             dynamic_ncols=True, desc="sweep")
            self.already = already
            self.shown = already

    def update(self, done: int, failed: int) -> None:
        if self.tqdm is not None:
            now = self.already + done + failed
            self.tqdm.set_postfix_str(f"done={self.already + done} failed={failed}", refresh=False)
            self.tqdm.update(now - self.shown)
            self.shown = now

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
