"""``conveyor.run``: run a pipeline from Python (a script or a notebook) with the settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor.config import Settings
from conveyor.dsl.pipeline import Pipeline
from conveyor.ir.spec import PipelineSpec
from conveyor.orchestrator import LocalOrchestrator, RunReporter, RunResult

__all__ = ["local_orchestrator", "run"]


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
