"""Parallel mode of the multi-year simulation: one Ray task per year.

The inputs (prices of every year, generation, the site and config) go into the object store once;
each task runs `simulate.year.run_year` from the state of health projected for its year
(`simulate.inputs.projected_states`), with one CPU and one HiGHS thread.
"""
from __future__ import annotations

import ray

from ..simulation.inputs import Inputs, projected_states
from ..simulation.run import SimulationResult
from ..simulation.run import simulate as simulate_core
from ..simulation.year import YearResult, run_year
from .runtime import ensure_ray


# one CPU per task means one thread per task: polars would otherwise start a pool per worker
@ray.remote(num_cpus=1, max_retries=2, runtime_env={"env_vars": {"POLARS_MAX_THREADS": "1"}})
def _year_task(inputs: Inputs, i: int, state) -> YearResult:
    return run_year(inputs, i, state)


def run_parallel(inputs: Inputs, progress=None, address: str | None = None) -> list[YearResult]:
    started = ensure_ray(address)
    try:
        ref = ray.put(inputs)
        states = projected_states(inputs)
        pending = {_year_task.remote(ref, i, s): i for i, s in enumerate(states)}
        results: dict[int, YearResult] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for r in done:
                results[pending.pop(r)] = year = ray.get(r)
                if progress:
                    progress(year)
        return [results[i] for i in range(len(states))]
    finally:
        if started:
            ray.shutdown()


def simulate(config, out_dir=None, *, address: str | None = None, **options) -> SimulationResult:
    """`simulate.run.simulate` in parallel mode: the years as Ray tasks on a local Ray (started and
    stopped here unless one is running) or on the cluster at `address` (or RAY_ADDRESS)."""
    options["mode"] = "parallel"
    return simulate_core(config, out_dir, runner=lambda inputs, progress: run_parallel(inputs, progress, address),
                         **options)
