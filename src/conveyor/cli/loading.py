"""Find the pipeline a command names: ``file.py``, ``file.py:name``, ``module:name`` or IR JSON."""

from __future__ import annotations

import importlib
import os
import sys

from conveyor._internal.importing import import_file
from conveyor.dsl.pipeline import Pipeline
from conveyor.errors import DefinitionError
from conveyor.ir.serialize import loads
from conveyor.ir.spec import PipelineSpec

__all__ = ["load_pipeline"]


def load_pipeline(target: str) -> tuple[PipelineSpec, str]:
    """Return the pipeline's IR and the folder its code imports from.

    Raises:
        DefinitionError: the file, module or pipeline does not exist, or is ambiguous.
    """
    path, _, name = target.partition(":") if not os.path.exists(target) else (target, "", "")
    if path.endswith(".json"):
        if not os.path.isfile(path):
            raise DefinitionError(f"No such IR file {path!r}")
        with open(path, encoding="utf-8") as fh:
            return loads(fh.read()), os.path.dirname(os.path.abspath(path))
    if path.endswith(".py"):
        if not os.path.isfile(path):
            raise DefinitionError(f"No such pipeline file {path!r}")
        module = import_file(path)
        root = os.path.dirname(os.path.abspath(path))
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise DefinitionError(
                f"Cannot import {path!r} ({exc}). Give a file (pipeline.py), a module "
                "(pkg.pipelines:name) or a compiled IR (pipeline.json)"
            ) from exc
        root = os.getcwd()
    found = {obj.name: obj for obj in vars(module).values() if isinstance(obj, Pipeline)}
    attr_matches = {k: v for k, v in vars(module).items() if isinstance(v, Pipeline)}
    if name:
        chosen = attr_matches.get(name) or found.get(name)
        if chosen is None:
            raise DefinitionError(
                f"No pipeline {name!r} in {path!r}; it defines {sorted(attr_matches)!r}"
            )
        return chosen.spec, root
    if not found:
        raise DefinitionError(
            f"{path!r} defines no @pipeline. Decorate a function with @conveyor.pipeline"
        )
    if len(found) > 1:
        raise DefinitionError(
            f"{path!r} defines several pipelines {sorted(attr_matches)!r}; "
            f"pick one with {path}:NAME"
        )
    return next(iter(found.values())).spec, root
