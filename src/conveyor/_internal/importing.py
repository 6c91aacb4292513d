"""Import user code: a pipeline file by path, a function by module and qualified name; where
a function is defined."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import types
from typing import Any

__all__ = ["definition_site", "import_file", "import_object"]


def definition_site(func: Any) -> tuple[str | None, int | None]:
    """The file and first line (its first decorator's) of a function's definition, as
    ``inspect.getsourcelines`` tells them, or ``(None, None)`` when its source is unknown.

    Without tokenizing the function's block (which ``getsourcelines`` does to return it):
    every component and pipeline decorated in a pipeline file asks, cached runs too.
    """
    try:
        return inspect.getsourcefile(func), inspect.findsource(func)[1] + 1
    except (OSError, TypeError):
        return None, None


def import_file(path: str) -> types.ModuleType:
    """Import a Python file as a top-level module named after it, with its folder on sys.path.

    The module gets its plain name (``demo.py`` -> ``demo``), so worker processes, other
    runners and the cache see the same module name the IR records.
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    folder = os.path.dirname(path)
    name = os.path.splitext(os.path.basename(path))[0]
    if folder not in sys.path:
        sys.path.insert(0, folder)
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_object(
    module: str, qualname: str, source_file: str | None = None, search_root: str | None = None
) -> Any:
    """Import ``module`` (or the file ``source_file`` under ``search_root``); get ``qualname``."""
    if search_root and search_root not in sys.path:
        sys.path.insert(0, search_root)
    mod = sys.modules.get(module)
    if mod is None or (module == "__main__" and not _has(mod, qualname)):
        if module == "__main__" and source_file:
            path = os.path.join(search_root or os.getcwd(), source_file)
            mod = import_file(path)
        else:
            mod = importlib.import_module(module)
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _has(mod: types.ModuleType, qualname: str) -> bool:
    obj: Any = mod
    for part in qualname.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True
