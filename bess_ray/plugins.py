"""User code named in a config: `package.module:name` (importable) or `path/to/file.py:name`.

One loader for every place a config names Python (custom forecasters, site constraints). A file
is read relative to the config that names it and loaded once per version of the file; configs
sent over HTTP may not name code at all (`serve.refs`).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path


def absolute_ref(ref: str, base_dir: Path | None) -> str:
    """`ref` with a relative file made absolute against `base_dir`, so that it reads the same
    file wherever the config travels (a sweep's worker, a re-validated copy). ValueError when a
    relative file has no folder to be read from."""
    where, name = split_ref(ref)
    if not where.endswith(".py"):
        return ref
    path = Path(where).expanduser()
    if not path.is_absolute():
        if base_dir is None:
            raise ValueError(f"{ref!r}: a relative file is read only from a config file on disk; give an absolute "
                             "path or an importable module (package.module:name)")
        path = Path(base_dir) / path
    return f"{path.resolve()}:{name}"


def split_ref(ref: str) -> tuple[str, str]:
    where, sep, name = str(ref).rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ValueError(f"{ref!r}: give 'package.module:name' or 'file.py:name'")
    return where, name


def load_object(ref: str, base_dir: Path | None = None):
    """The object `ref` names. ValueError naming the reference and the reason."""
    where, name = split_ref(absolute_ref(ref, base_dir))
    try:
        if where.endswith(".py"):
            path = Path(where)
            module = _module_from_file(str(path), path.stat().st_mtime_ns)
        else:
            module = importlib.import_module(where)
        return getattr(module, name)
    except Exception as e:  # noqa: BLE001 - whatever the user's code raises, named with its reference
        raise ValueError(f"cannot load {ref}: {type(e).__name__}: {e}") from None


@lru_cache(maxsize=64)
def _module_from_file(path: str, mtime_ns: int):
    """A file's module, executed once per version; registered in sys.modules under a name of its
    own so that pickling what it defines (dataclasses, Ray) finds it again."""
    key = "bess_ray_user_" + hashlib.blake2b(f"{path}:{mtime_ns}".encode(), digest_size=6).hexdigest()
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


SITE_CONSTRAINT = "__bess_ray_site_constraint__"


def site_constraint(fn):
    """Mark `fn(rules, **params)` as a constraint a site file may name (see
    `bess_ray.optimization.rules.Rules`). Only marked functions are accepted: a reference that
    reaches some other callable by mistake is refused instead of being called with an LP."""
    if not callable(fn):
        raise TypeError("site_constraint decorates a function fn(rules, **params)")
    setattr(fn, SITE_CONSTRAINT, True)
    return fn
