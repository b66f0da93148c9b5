"""Repositories. The embedded default is SQLite plus files under BESS_RAY_HOME (~/.bess_ray)."""
import os
from pathlib import Path


def home() -> Path:
    """Root folder of the embedded store: $BESS_RAY_HOME, else ~/.bess_ray."""
    return Path(os.environ.get("BESS_RAY_HOME", Path.home() / ".bess_ray"))
