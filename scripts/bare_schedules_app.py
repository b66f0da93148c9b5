"""Reference for the schedules benchmark: a bare FastAPI app (no auth, no audit, no Ray) answering
POST /v1/schedules with the same `solve_schedule` and JSON encoding as bess-ray's API, one solve at
a time per worker process. scripts/bench_serve.py runs it with uvicorn's 2 workers beside `bess-ray serve`.

Usage: python -m uvicorn bare_schedules_app:app --app-dir scripts --workers 2 --port PORT
"""
import time

from fastapi import FastAPI
from fastapi.responses import Response

from bess_ray.optimization.warm import WarmSolver
from bess_ray.serve.schedules import ScheduleRequest, answer_json, solve_schedule

app = FastAPI()
warm = WarmSolver()


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@app.post("/v1/schedules")
async def schedules(body: ScheduleRequest) -> Response:
    t0 = time.perf_counter()
    answer = answer_json(solve_schedule(body, warm))  # on the event loop: one solve at a time per worker
    ms = (time.perf_counter() - t0) * 1e3
    return Response(answer, media_type="application/json",
                    headers={"server-timing": f"solve;dur={ms:.2f}, queue-and-solve;dur={ms:.2f}"})
