"""Files a run writes: each one whole or not at all.

`write(path, data)` writes to a temporary file beside `path` and renames it into place, so a
reader (the sweep's resume, a dashboard, a downstream system) never sees half a file and a killed
run leaves no torn one. The data picks the format: a polars frame by the path's suffix (.parquet,
.csv), an Arrow table as Parquet, a dict or list as JSON, text as text.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa


def write(path: str | Path, data, *, indent: int | None = 2) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, pl.DataFrame):
            data.write_csv(tmp) if path.suffix == ".csv" else data.write_parquet(tmp)
        elif isinstance(data, pa.Table):
            import pyarrow.parquet as pq  # here: 0.1 s of every start for the sweep store's tables

            pq.write_table(data, tmp)
        elif isinstance(data, (dict, list)):
            tmp.write_text(json.dumps(data, indent=indent, default=_plain) + "\n")
        else:
            tmp.write_text(str(data))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _plain(x):
    """JSON for what json does not know: numpy scalars as numbers, anything else (dates) as text."""
    return x.item() if isinstance(x, np.generic) else str(x)
