"""The whole Conveyor exception tree; every error a user can meet is one of these.

::

    ConveyorError
    ├── DefinitionError            bad component or pipeline (carries source_file, lineno)
    │   ├── PipelineValidationError  wiring errors found when a pipeline is built or an IR is loaded
    │   ├── InvalidNameError       (also a ValueError) a name that cannot be part of a path or URI
    │   └── SweepError             a sweep that cannot run (unknown parameter, too many runs)
    ├── CompilationError           an IR cannot be written or read (version, schema)
    ├── ConfigError                bad settings (env, conveyor.toml)
    ├── MissingExtraError          an optional backend is missing (pip install 'conveyor-ml[x]')
    ├── ArtifactError              artifact bytes cannot be staged, read, written or verified
    │   └── ArtifactNotFoundError
    ├── InputError                 (also a TypeError) rows of a kind a model cannot predict on
    ├── UnblessedModelError        an alias move to a model no evaluation blessed, not forced
    ├── DeploymentError            a model server that cannot be started, stopped or written out
    ├── ActionError                a run action that cannot be done as asked (carries ``fix``)
    │   └── ActionConflict         the run's state forbids it (deleting a RUNNING run)
    ├── StoreError                 the metadata store failed (database, migration)
    │   ├── NotFoundError          (also a LookupError) no such artifact / execution / context / run
    │   └── AlreadyExistsError
    └── ExecutionError             a task could not run to completion
        ├── ComponentError         the user's code raised; ``__cause__`` is the user's exception
        ├── TaskTimeoutError       the user's code ran past the component's timeout
        └── OptionError            a task option bound at run time got a value it cannot use

    RunInterrupted (BaseException)  Ctrl-C / SIGTERM while a run is in flight

Messages say what went wrong, where, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ActionConflict",
    "ActionError",
    "AlreadyExistsError",
    "ArtifactError",
    "ArtifactNotFoundError",
    "CompilationError",
    "ComponentError",
    "ConfigError",
    "ConveyorError",
    "DefinitionError",
    "DeploymentError",
    "ExecutionError",
    "InputError",
    "InvalidNameError",
    "MissingExtraError",
    "NotFoundError",
    "OptionError",
    "PipelineValidationError",
    "RunInterrupted",
    "StoreError",
    "SweepError",
    "TaskTimeoutError",
    "UnblessedModelError",
]


class ConveyorError(Exception):
    """Base of every error Conveyor raises on purpose."""


class DefinitionError(ConveyorError):
    """A component or pipeline definition is wrong.

    Attributes:
        source_file: the user's file where the problem is, when known.
        lineno: the line in that file, when known.
    """

    def __init__(self, message: str, *, source_file: str | None = None, lineno: int | None = None):
        self.source_file = source_file
        self.lineno = lineno
        if source_file is not None:
            where = f"{source_file}:{lineno}" if lineno is not None else source_file
            message = f"{message}\n  at {where}"
        super().__init__(message)


class PipelineValidationError(DefinitionError):
    """A pipeline's wiring is wrong: type mismatch, missing input, cycle, unknown parameter."""


class InvalidNameError(DefinitionError, ValueError):
    """A pipeline, component, task, output or run name breaks the name rule
    (:data:`conveyor._internal.names.NAME_RULE`): it would become a path outside its folder,
    or one too long for the file system."""


class SweepError(DefinitionError):
    """A sweep cannot run: an unknown or duplicated parameter, a repeated value, too many
    combinations."""


class CompilationError(ConveyorError):
    """An IR document cannot be written or read."""


class ConfigError(ConveyorError):
    """A setting is invalid."""


class MissingExtraError(ConveyorError):
    """An optional dependency is missing.

    Example:
        >>> raise MissingExtraError("postgres", "psycopg")  # doctest: +SKIP
    """

    def __init__(self, extra: str, module: str):
        self.extra = extra
        self.module = module
        super().__init__(
            f"This feature needs the optional package {module!r}. "
            f"Install it with: pip install 'conveyor-ml[{extra}]' (or: pip install {module})"
        )


class ArtifactError(ConveyorError):
    """Artifact bytes cannot be staged, read, written or verified."""


class ArtifactNotFoundError(ArtifactError):
    """An artifact's bytes are not where its metadata says they are."""


class InputError(ConveyorError, TypeError):
    """Data handed to a loaded model is of a kind it cannot take (what it takes is named)."""


class UnblessedModelError(ConveyorError):
    """An alias move (``promote``) to a model version no evaluation blessed; pass
    ``force=True`` with a reason (recorded in the alias history) to move it anyway."""


class DeploymentError(ConveyorError):
    """A deployment cannot be made: a server that does not start or get ready (its log's
    tail says why), one already running under that name, or a build context that cannot
    be written."""


class ActionError(ConveyorError):
    """A run action (archive, delete, retry, clone, terminate...) that cannot be done as asked:
    a bad value (the UI's API answers 400).

    Args:
        message: what is wrong.
        fix: how to get what was wanted.
    """

    status = 400

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message}. {fix}")
        self.message = message
        self.fix = fix


class ActionConflict(ActionError):
    """A run action the run's current state forbids, such as deleting a RUNNING run (409)."""

    status = 409


class StoreError(ConveyorError):
    """The metadata store failed."""


class NotFoundError(StoreError, LookupError):
    """No such artifact, execution, context or run."""


class AlreadyExistsError(StoreError):
    """An entity with the same identity already exists."""


class ExecutionError(ConveyorError):
    """A task could not run to completion.

    Attributes:
        task: the task name in the pipeline.
        run_id: the run, when known.
    """

    def __init__(self, message: str, *, task: str | None = None, run_id: str | None = None):
        self.task = task
        self.run_id = run_id
        super().__init__(message)


class ComponentError(ExecutionError):
    """The user's component code raised; the user's exception is ``__cause__``."""


class TaskTimeoutError(ExecutionError):
    """The user's code ran past the component's ``timeout``."""


class OptionError(ExecutionError):
    """A task option bound to a run-time value (``TaskSpec.dynamic``) got a value it cannot
    use: the wrong type, out of range, or an unknown option. The task fails; the run goes on."""


class RunInterrupted(BaseException):
    """The run was interrupted (Ctrl-C or SIGTERM); in-flight steps are cancelled."""
