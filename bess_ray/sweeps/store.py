"""A sweep's output folder: one Parquet file per finished case, written atomically, so a killed
sweep resumes where it stopped and no case is lost or doubled.

Layout of `DIR` (stable; new files may be added, none renamed):

    sweep.json                  the spec's name, kind, digest (its set of case ids) and case count
    spec.yaml                   the spec as given
    cases.parquet               every case: case_id, its labels and its resolved config (JSON)
    results/{case_id}.parquet   one row per finished case: case_id, parameters, KPIs
    years/{case_id}.parquet     one row per case and year: revenue by stream (and SoH for simulations)
    failed/{case_id}.json       a case that raised: error, traceback, attempts (removed once it succeeds)

A case is finished when its results file exists; it is renamed into place only after its years
file, so a finished case always has both.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa

from .. import artifacts
from ..errors import ConfigError
from ..timegrid import utc_iso
from .spec import Sweep


class SweepStore:
    def __init__(self, out: str | Path) -> None:
        self.root = Path(out)
        self.results = self.root / "results"
        self.years = self.root / "years"
        self.failed = self.root / "failed"

    # -------------------------------------------------------------------------------- ownership
    def check(self, sweep: Sweep, force: bool = False) -> None:
        """Refuse a folder written by a different spec (another set of cases) or by something else,
        unless `force`."""
        if force:
            return
        meta_path = self.root / "sweep.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("digest") != sweep.digest:
                raise ConfigError(
                    f"{self.root}: holds the results of another sweep ({meta.get('name')!r}, "
                    f"{meta.get('cases')} cases, a different set of cases than {sweep.path}); "
                    "choose another --out, or pass --force to reuse it (results of cases not in this "
                    "spec are removed)")
        elif self.root.exists() and any(self.root.iterdir()):
            raise ConfigError(f"{self.root}: exists and is not a sweep's output folder; choose another --out "
                              "or pass --force")

    def claim(self, sweep: Sweep, force: bool = False) -> None:
        """Make the folder this sweep's (see `check`); with `force`, results of cases that are not in
        this spec are removed, those that are stay finished."""
        self.check(sweep, force)
        keep = {c.case_id for c in sweep.cases}
        for folder, suffix in ((self.results, ".parquet"), (self.years, ".parquet"), (self.failed, ".json")):
            for f in folder.glob(f"*{suffix}"):
                if f.name.removesuffix(suffix) not in keep:
                    f.unlink()
        for d in (self.results, self.years, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sweep.path, self.root / "spec.yaml")
        artifacts.write(self.root / "cases.parquet", pa.Table.from_pylist([
            {"case_id": c.case_id, **{k: (str(v) if v is not None else None) for k, v in c.params.items()},
             "config_json": json.dumps(c.config, sort_keys=True)} for c in sweep.cases]))
        artifacts.write(self.root / "sweep.json", {
            "schema": "bess-ray/sweep/1", "name": sweep.spec.name, "kind": sweep.kind, "digest": sweep.digest,
            "cases": len(sweep.cases), "spec": str(sweep.path), "claimed_utc": utc_iso()})

    # -------------------------------------------------------------------------------- cases
    def done_ids(self) -> set[str]:
        return {f.name.removesuffix(".parquet") for f in self.results.glob("*.parquet")}

    def write_result(self, case_id: str, row: dict, years: pa.Table) -> None:
        artifacts.write(self.years / f"{case_id}.parquet", years)
        artifacts.write(self.results / f"{case_id}.parquet", pa.Table.from_pylist([row]))
        (self.failed / f"{case_id}.json").unlink(missing_ok=True)

    def write_failure(self, case_id: str, params: dict, error: str, trace: str | None, attempts: int) -> None:
        artifacts.write(self.failed / f"{case_id}.json", {
            "case_id": case_id, "params": params, "error": error, "traceback": trace, "attempts": attempts,
            "failed_utc": utc_iso()})

    def failures(self) -> list[dict]:
        return [json.loads(f.read_text()) for f in sorted(self.failed.glob("*.json"))]
