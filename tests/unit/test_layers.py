"""The package's layers as ARCHITECTURE.md draws them: no import cycle between bess_ray's
packages (counting imports inside functions), Ray only in cluster/ and serve/, nothing in the
planning core that reaches the service or the operating half, and a fast import."""
from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict

from tests.conftest import ROOT

PACKAGE = ROOT / "bess_ray"
# the planning core: plain Python, no Ray, no service, nothing of the operating half
CORE = {"config", "timegrid", "errors", "artifacts", "exact", "plugins", "sidecar", "data", "markets", "forecast", "optimization", "dispatch",
        "backtesting", "simulation", "sweeps", "analytics"}
SHELL = {"cluster", "serve", "cli", "control", "devices", "flows", "operate", "clock"}
OUTSIDE_CORE = {"ray", "fastapi", "starlette", "uvicorn", "pymodbus", "aiomqtt", "psycopg", "redis"}


def unit_of(module: str) -> str:
    """bess_ray.optimization.blocks -> optimization; bess_ray.config -> config."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> dict[str, set[str]]:
    """Every module's imports (at the top and inside functions), as absolute module names."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = module if rel.name == "__init__" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found[module].update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                found[module].add(target)
                found[module].update(f"{target}.{a.name}" for a in node.names)  # from . import x
    return found


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    known = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if not p.name.startswith("_")}
    for module, targets in imports().items():
        src = unit_of(module)
        for t in targets:
            if t.startswith("bess_ray.") and unit_of(t) in known and unit_of(t) != src:
                graph[src].add(unit_of(t))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_packages_not_even_inside_functions():
    graph = unit_graph()
    graph.pop("__init__", None)  # the package root wires the public API and the store's reader
    assert cycles(graph) == []


def _pure_operating_core(target: str) -> bool:
    """The control pipeline and the plant's physics: pure, so a backtest may deliver a plan through
    them (plan versus operable) without reaching a device, a loop or Ray."""
    parts = target.split(".")
    return (parts[1:2] == ["control"] and len(parts) > 2 and parts[2] in PIPELINE | {"settings"}
            or parts[1:4] == ["devices", "fieldsim", "plant"])


def test_the_planning_core_reaches_neither_the_shell_nor_ray():
    for module, targets in imports().items():
        if unit_of(module) not in CORE:
            continue
        for t in targets:
            if t.startswith("bess_ray."):
                assert unit_of(t) not in SHELL or _pure_operating_core(t), f"{module} imports {t}"
            else:
                assert t.split(".")[0] not in OUTSIDE_CORE, f"{module} imports {t}"


# the control pipeline proper: pure functions of (state, inputs, now); loop.py and replay.py are its shell
PIPELINE = {"measurements", "states", "reserves", "resolution", "limits", "schedules", "site_schedules", "pipeline"}
IO = {"asyncio", "socket", "time", "threading", "subprocess", "random", "pathlib", "json", "sqlite3"}


def test_the_control_pipeline_is_pure_and_reaches_no_device_and_no_ray():
    for module, targets in imports().items():
        parts = module.split(".")
        if unit_of(module) == "control":
            for t in targets:
                assert t.split(".")[0] not in OUTSIDE_CORE, f"{module} imports {t}"
                if t.startswith("bess_ray."):
                    assert unit_of(t) not in {"devices", "cluster", "serve", "flows", "operate"}, f"{module} imports {t}"
        if unit_of(module) == "control" and len(parts) > 2 and parts[2] in PIPELINE or parts[1:] == [
                "devices", "fieldsim", "plant"]:
            for t in targets:
                assert t.split(".")[0] not in IO, f"{module} imports {t}: the pipeline does no I/O and reads no clock"
        if unit_of(module) == "devices":
            assert not any(t.split(".")[0] == "ray" for t in targets), f"{module} imports ray"


def test_the_checker_sees_a_cycle_hidden_in_a_function():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_importing_the_package_and_its_planning_core_stays_fast():
    """Measured, not timed: the modules it loads. No Ray, no scipy, no numba, no plotting, no
    service client (each is imported where it is used)."""
    code = ("import sys, bess_ray, bess_ray.backtesting.run, bess_ray.analytics.kpis, bess_ray.sweeps.spec; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                check=True).stdout.split())
    assert not loaded & {"ray", "scipy", "numba", "matplotlib", "pyomo", "duckdb", "fastapi", *OUTSIDE_CORE}


def test_data_point_definitions_and_checks_are_pure():
    """store/points.py says what a value is and checks it; reaching a database is the backends' job."""
    for t in imports()["bess_ray.store.points"]:
        assert t.split(".")[0] not in (IO - {"json"}) | OUTSIDE_CORE | {"duckdb"}, f"store.points imports {t}"
