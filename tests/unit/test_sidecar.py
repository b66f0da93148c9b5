"""The sidecar process: calls in order, errors handed back, and no re-run of the caller's script."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from bess_ray.errors import DataError
from bess_ray.sidecar import Sidecar, SidecarError
from tests.conftest import CONFIGS, ROOT


def test_calls_run_there_in_order_and_errors_come_back():
    side = Sidecar()
    try:
        calls = [side.submit(math.factorial, n) for n in range(30)]
        bad = side.submit(math.sqrt, -1.0)
        data_error = side.submit(DataError, "kept")  # any picklable value comes back
        assert [c.result() for c in reversed(calls)] == [math.factorial(n) for n in reversed(range(30))]
        with pytest.raises(ValueError, match="math domain error"):
            bad.result()
        assert str(data_error.result()) == "kept"
    finally:
        side.close()


def test_a_dead_sidecar_is_an_error_not_a_hang():
    side = Sidecar()
    side._proc.kill()
    with pytest.raises(SidecarError, match="ended"):
        side.submit(math.factorial, 5).result()
    side.close()


def test_a_script_without_a_main_guard_can_run_a_backtest_with_its_report(tmp_path):
    """multiprocessing's spawn would import the script again in the child (running it twice, or
    failing to start); the sidecar never imports the caller's main."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import bess_ray, yaml\n"
        f"cfg = yaml.safe_load(open({str(CONFIGS / 'backtests' / 'de_lu_2023_da.yaml')!r}))\n"
        f"cfg.update(site={str(CONFIGS / 'sites' / 'de_lu_1mw_2mwh.yaml')!r}, "
        "window={'start': '2023-03-06', 'end': '2023-03-13'})\n"
        f"open({str(tmp_path / 'bt.yaml')!r}, 'w').write(yaml.safe_dump(cfg))\n"
        "print('RUN')\n"
        f"r = bess_ray.backtest({str(tmp_path / 'bt.yaml')!r}, {str(tmp_path / 'out')!r})\n"
        "print(round(r.revenue_eur, 2))\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("RUN") == 1
    assert sorted(x.name for x in (tmp_path / "out" / "plots").iterdir()) == [
        "cumulative_revenue.png", "monthly_revenue.png", "week_dispatch.png"]


def test_an_answer_that_cannot_be_pickled_is_an_error_and_the_process_goes_on():
    import importlib

    side = Sidecar("json")
    try:
        with pytest.raises(SidecarError, match="cannot be pickled"):
            side.submit(importlib.import_module, "json").result()
        assert side.submit(math.factorial, 4).result() == 24
    finally:
        side.close()
        side.close()  # twice is harmless
