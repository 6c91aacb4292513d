"""``conveyor.run`` and ``conveyor.sweep``: run a pipeline from Python (a script or a
notebook) with the settings, once or once per combination of parameter values; and
``conveyor.load_model``, which also resolves ``models:/`` references through the settings'
metadata store."""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.config import Settings
from conveyor.dsl.pipeline import Pipeline
from conveyor.errors import DefinitionError, SweepError
from conveyor.execution.params import resolve_parameters
from conveyor.ir.spec import PipelineSpec
from conveyor.orchestrator import LocalOrchestrator, RunReporter, RunResult

if TYPE_CHECKING:
    from conveyor.data.model import DataSchema
    from conveyor.model.saved import LoadedModel

__all__ = [
    "MAX_COMBINATIONS",
    "Sweep",
    "SweepPoint",
    "default_experiment",
    "load_model",
    "local_orchestrator",
    "plan_sweep",
    "resolve_model_uri",
    "run",
    "run_sweep",
    "sweep",
]

MAX_COMBINATIONS = 256
"""The most runs one sweep may start: each holds its run loop and metadata in this process."""


def local_orchestrator(
    settings: Settings,
    *,
    workers: int | None = None,
    in_process: bool = False,
    use_cache: bool = True,
    reporter: RunReporter | None = None,
    search_root: str | None = None,
) -> LocalOrchestrator:
    """A local orchestrator on the stores and home the settings name."""
    return LocalOrchestrator(
        metadata_url=settings.metadata_url,
        artifact_root=settings.artifact_root,
        home=settings.home,
        workers=workers or settings.workers,
        in_process=in_process,
        use_cache=use_cache,
        reporter=reporter,
        search_root=search_root,
    )


def run(
    pipeline: Pipeline | PipelineSpec,
    parameters: Mapping[str, Any] | None = None,
    *,
    in_process: bool = True,
    use_cache: bool = True,
    workers: int | None = None,
    experiment: str | None = None,
    run_id: str | None = None,
    reporter: RunReporter | None = None,
    settings: Settings | None = None,
) -> RunResult:
    """Run a pipeline on this machine and return its result.

    Steps run in this process by default (``in_process=True``), which suits notebooks and
    debuggers: breakpoints in components work. Pass ``in_process=False`` to use worker
    processes as ``conveyor run`` does. Metadata, artifacts and logs go where the settings
    say (``CONVEYOR_HOME``, default ``./.conveyor``), so ``conveyor runs list`` shows the run.

    Example:
        >>> import conveyor
        >>> result = conveyor.run(my_pipeline, {"C": 0.5})  # doctest: +SKIP
        >>> result.outputs("train").parameters["Output"]  # doctest: +SKIP
        0.97
    """
    settings = settings or Settings.load()
    spec = pipeline.spec if isinstance(pipeline, Pipeline) else pipeline
    with local_orchestrator(
        settings, workers=workers, in_process=in_process, use_cache=use_cache, reporter=reporter
    ) as orch:
        return orch.run(
            spec,
            parameters,
            run_id=run_id,
            experiment=experiment,
            properties={"launcher": "python"},
        )


# --- sweeps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepPoint:
    """One combination of a sweep: one run."""

    index: int
    overrides: Mapping[str, Any]
    """The parameters handed to the run: the fixed values and this combination's."""
    values: Mapping[str, Any]
    """The swept parameters' values, resolved to their declared types (``1`` -> ``1.0``)."""
    label: str
    """The combination as written, e.g. ``C=0.1 depth=3``."""


@dataclass(frozen=True)
class Sweep:
    """A planned sweep: its experiment, the swept parameters and every combination, in order."""

    experiment: str
    names: tuple[str, ...]
    points: tuple[SweepPoint, ...]

    def properties(self, point: SweepPoint) -> dict[str, Any]:
        """What a run of the sweep records as its ``sweep`` property."""
        return {
            "experiment": self.experiment,
            "index": point.index,
            "of": len(self.points),
            "values": dict(point.values),
        }


def default_experiment(pipeline: str, now: float | None = None) -> str:
    """The experiment of a sweep without one: ``<pipeline>-sweep-<UTC time>``.

    Example:
        >>> default_experiment("demo", now=0)
        'demo-sweep-19700101-000000'
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{pipeline}-sweep-{stamp}"


def _unknown_parameter(spec: PipelineSpec, name: str) -> SweepError:
    known = sorted(spec.parameters)
    same_case = [k for k in known if k.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known) if known else "none"
    return SweepError(
        f"{name!r} is not a parameter of pipeline {spec.name!r}.{hint} Its parameters: {listed}"
    )


def plan_sweep(
    spec: PipelineSpec,
    grid: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    labels: Mapping[str, Sequence[str]] | None = None,
    now: float | None = None,
) -> Sweep:
    """Expand ``grid`` (parameter -> values) into the cartesian product, the first parameter
    varying slowest, and check every combination against the pipeline's parameter types
    before any run starts. ``labels`` gives each value's text as the user wrote it (default:
    its JSON).

    Raises:
        SweepError: a name is no parameter of the pipeline, a parameter is both swept and
            fixed, a parameter has no values or the same value twice, or there are more than
            :data:`MAX_COMBINATIONS` combinations.
        DefinitionError: a value does not fit its parameter's type, naming the combination.
    """
    fixed = dict(fixed or {})
    axes = [(name, list(values)) for name, values in grid.items()]
    texts = {
        name: list((labels or {}).get(name) or [json.dumps(v) for v in values])
        for name, values in axes
    }
    for name, values in axes:
        if name not in spec.parameters:
            raise _unknown_parameter(spec, name)
        if name in fixed:
            raise SweepError(
                f"{name!r} is both swept and fixed. Drop one: a fixed value is every run's, "
                "a swept one makes one run per value"
            )
        if not values:
            raise SweepError(f"{name!r} has no values to sweep; give at least one")
    count = math.prod(len(values) for _, values in axes)
    if count > MAX_COMBINATIONS:
        sizes = ", ".join(f"{name}: {len(values)} values" for name, values in axes)
        raise SweepError(
            f"the sweep makes {count} combinations ({sizes}); one sweep runs at most "
            f"{MAX_COMBINATIONS}. Sweep fewer values, or split it into several sweeps with "
            "the same experiment"
        )
    points: list[SweepPoint] = []
    typed: list[dict[str, int]] = [{} for _ in axes]  # per axis: resolved value -> its position
    for index, positions in enumerate(itertools.product(*(range(len(v)) for _, v in axes))):
        swept = {name: values[j] for (name, values), j in zip(axes, positions, strict=True)}
        label = " ".join(
            f"{name}={texts[name][j]}" for (name, _), j in zip(axes, positions, strict=True)
        )
        overrides = {**fixed, **swept}
        try:
            resolved = resolve_parameters(spec, overrides)
        except DefinitionError as exc:
            raise DefinitionError(f"Sweep run [{label}]: {exc}") from None
        for seen, (name, _), j in zip(typed, axes, positions, strict=True):
            # compared as typed JSON: 1 and 1.0 are one number, True and 1 are not
            first = seen.setdefault(json.dumps(resolved[name], sort_keys=True), j)
            if first != j:
                raise SweepError(
                    f"{name!r} lists the same value twice ({texts[name][first]!r} and "
                    f"{texts[name][j]!r}). Each value makes a run: list it once"
                )
        chosen = {name: resolved[name] for name in swept}
        points.append(SweepPoint(index, overrides, chosen, label))
    names = tuple(name for name, _ in axes)
    return Sweep(experiment or default_experiment(spec.name, now), names, tuple(points))


def run_sweep(
    orch: LocalOrchestrator,
    spec: PipelineSpec,
    planned: Sweep,
    *,
    properties: Mapping[str, Any] | None = None,
    reporters: Sequence[RunReporter] | None = None,
) -> list[RunResult]:
    """Run every combination of ``planned`` at once on the orchestrator's worker pool, under
    its experiment; each run records its ``sweep`` property."""
    return orch.run_many(
        spec,
        [p.overrides for p in planned.points],
        experiment=planned.experiment,
        properties=properties,
        run_properties=[{"sweep": planned.properties(p)} for p in planned.points],
        reporters=reporters,
    )


def sweep(
    pipeline: Pipeline | PipelineSpec,
    grid: Mapping[str, Sequence[Any]],
    parameters: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    in_process: bool = False,
    use_cache: bool = True,
    workers: int | None = None,
    reporter: RunReporter | None = None,
    settings: Settings | None = None,
) -> list[RunResult]:
    """Run a pipeline once per combination of ``grid``'s values, all at once, under one
    experiment; steps the runs share (same code, parameters and inputs) are computed once.

    Steps run in worker processes by default, so the runs go on side by side. Compare them
    afterwards with ``conveyor runs compare --experiment NAME`` (the experiment is
    ``result[0]`` 's; without ``experiment=`` it is ``<pipeline>-sweep-<UTC time>``).

    Example:
        >>> import conveyor
        >>> grid = {"C": [0.1, 1, 10], "depth": [3, 5]}
        >>> results = conveyor.sweep(train_pipeline, grid)  # doctest: +SKIP
        >>> [r.state for r in results]  # doctest: +SKIP
        ['COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE']
    """
    settings = settings or Settings.load()
    spec = pipeline.spec if isinstance(pipeline, Pipeline) else pipeline
    planned = plan_sweep(spec, grid, parameters, experiment=experiment)
    with local_orchestrator(
        settings, workers=workers, in_process=in_process, use_cache=use_cache, reporter=reporter
    ) as orch:
        return run_sweep(orch, spec, planned, properties={"launcher": "python"})


def resolve_model_uri(uri: str, *, settings: Settings | None = None) -> str:
    """The files of the model version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``
    URI names, looked up in the settings' metadata store; any other URI comes back unchanged.

    Raises:
        ConfigError: a ``models:/`` URI of neither form.
        NotFoundError: no such model, alias or version (the message names which).
        ArtifactNotFoundError: the version's artifact files are gone.

    Example:
        >>> resolve_model_uri("models:/census@champion")  # doctest: +SKIP
        '/home/me/.conveyor/artifacts/census/trainer/model/...'
    """
    from conveyor.metadata.registry import MODELS_SCHEME, ModelRegistry

    if not uri.startswith(MODELS_SCHEME):
        return uri
    from conveyor.errors import ArtifactNotFoundError, StoreError
    from conveyor.metadata import connect

    settings = settings or Settings.load()
    store = connect(settings.metadata_url)
    try:
        if not isinstance(store, ModelRegistry):
            raise StoreError(
                f"The metadata store {settings.metadata_url!r} has no model registry; "
                "models:/ URIs need the built-in SQLite or PostgreSQL store."
            )
        version = store.resolve_model(uri)
    finally:
        store.close()
    path = version.uri[len("file://") :] if version.uri.startswith("file://") else version.uri
    if "://" not in path and not os.path.exists(path):
        raise ArtifactNotFoundError(
            f"{uri} is version {version.version} of {version.model_name!r}, artifact "
            f"{version.artifact_id} at {version.uri!r}, whose files are gone. Point the alias "
            "at another version (`conveyor models alias`) or restore the files."
        )
    return version.uri


def load_model(
    uri: Any, *, schema: DataSchema | None = None, settings: Settings | None = None
) -> LoadedModel:
    """Load a model saved by the Trainer: a folder, a ``Model`` artifact, or a registered
    version, ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (see ``docs/registry.md``).

    Args:
        uri: the model folder, a ``Model`` artifact, or a ``models:/`` URI.
        schema: when given, the model is refused unless its signature matches it.
        settings: where the registry is (default: ``Settings.load()``), for ``models:/``.

    Raises:
        ArtifactError: not a Conveyor model, an unreadable file, or a signature mismatch.
        NotFoundError: a ``models:/`` URI names no registered model, alias or version.

    Example:
        >>> import conveyor
        >>> model = conveyor.load_model("models:/census@champion")  # doctest: +SKIP
        >>> model.predict({"age": [39], ...})  # doctest: +SKIP
    """
    from conveyor.model.saved import load_model as load_saved

    if isinstance(uri, str):
        uri = resolve_model_uri(uri, settings=settings)
    return load_saved(uri, schema=schema)
