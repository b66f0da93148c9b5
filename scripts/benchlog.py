"""What a benchmark prints, also written to docs/benchmarks/NAME.txt with the machine and the
versions it ran on, for the performance page to include (`--write` on a bench script)."""
from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
PACKAGES = ("highspy", "numpy", "polars", "pydantic", "ray")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    versions = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    return (f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores ({cpu}), Python "
            f"{platform.python_version()}, {versions}")


@contextlib.contextmanager
def recorded(name: str):
    """Print as usual; with --write on the command line also keep the output in docs/benchmarks/."""
    buffer = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, text):
            sys.__stdout__.write(text)
            buffer.write(text)
            return len(text)

    with contextlib.redirect_stdout(Tee()):
        yield
    if "--write" in sys.argv:
        FOLDER.mkdir(exist_ok=True)
        (FOLDER / f"{name}.txt").write_text(f"# {machine()}\n{buffer.getvalue()}")
