"""A package's public names, loaded from their modules on first use (PEP 562).

The packages named like the top-level jobs (`backtest`, `simulate`, `sweep`) import nothing when
they are imported, so `bess_ray` can bind them first and then bind its functions to the same names
for good (a later import of a submodule never rebinds a name that is already bound), and importing
`bess_ray` stays fast."""
from __future__ import annotations

import importlib


def exports(package: str, names: dict[str, str]):
    """`__getattr__` and `__dir__` for `package`: `names` maps each public name to its module."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name], package), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
