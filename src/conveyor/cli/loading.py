"""Find the pipeline a command names: ``file.py``, ``file.py:name``, ``module:name`` or IR JSON."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from types import ModuleType

from conveyor._internal.importing import import_file
from conveyor.dsl.pipeline import Pipeline
from conveyor.errors import DefinitionError
from conveyor.execution.runs import code_root_for
from conveyor.ir.serialize import load_file
from conveyor.ir.spec import PipelineSpec
from conveyor.ir.validate import validate

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
        spec = load_file(path)
        validate(spec)
        return spec, code_root_for(spec, path)
    if path.endswith(".py"):
        if not os.path.isfile(path):
            raise DefinitionError(f"No such pipeline file {path!r}")
        module = _import_user_file(path)
        root = os.path.dirname(os.path.abspath(path))
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(path)
        except DefinitionError:
            raise
        except Exception as exc:
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
        return _build(chosen), root
    if not found:
        raise DefinitionError(
            f"{path!r} defines no @pipeline. Decorate a function with @conveyor.pipeline"
        )
    if len(found) > 1:
        raise DefinitionError(
            f"{path!r} defines several pipelines {sorted(attr_matches)!r}; "
            f"pick one with {path}:NAME"
        )
    return _build(next(iter(found.values()))), root


def _import_user_file(path: str) -> ModuleType:
    try:
        return import_file(path)
    except DefinitionError:
        raise
    except Exception as exc:
        raise DefinitionError(
            f"Importing {path!r} failed: {type(exc).__name__}: {exc}{_where(exc)}"
        ) from exc


def _build(p: Pipeline) -> PipelineSpec:
    try:
        return p.spec
    except DefinitionError:
        raise
    except Exception as exc:
        raise DefinitionError(
            f"Building pipeline {p.name!r} failed: {type(exc).__name__}: {exc}{_where(exc)}. "
            "Pipeline parameters and task outputs have no value while the pipeline is built: "
            "pass them to components instead of computing with them"
        ) from exc


def _where(exc: BaseException) -> str:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "/conveyor/" not in f.filename.replace("\\", "/")
    ]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
