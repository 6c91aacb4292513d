"""Which data chose a model: selection steps record it, the Evaluator finds it by lineage.

A step that picks among models by a score (a tuner's trials, early stopping, a loop's
stopping rule) calls :func:`record_data_use` with the examples and the split it scored on;
the record is the ``data_use`` property of its execution (a list of
``{"role", "examples_id", "examples_fingerprint", "split", "detail"}``).

:func:`uses_of_split` answers the Evaluator's question, "did anything that chose this model
see the split I am asked to judge it on?". It walks the model's upstream lineage (the tuner
behind the trainer's hyperparameters, the trainer itself, earlier iterations of a loop) and
adds the steps of this run that read the model or one of its ancestor models (a loop's
``score`` steps, whose decisions are not upstream of the model but chose it). A cached
execution answers with the record of the execution it reused. The examples match when the
recorded examples are the judged ones or derive from them (transformed examples derive from
the raw ones), by artifact id or content fingerprint.
"""

from __future__ import annotations

from typing import Any

from conveyor.execution.context import current_task
from conveyor.metadata.entities import ExecutionRecord
from conveyor.metadata.store import MetadataStore
from conveyor.types import Artifact

__all__ = ["DATA_USE", "ROLES", "record_data_use", "uses_of_split"]

DATA_USE = "data_use"
"""The execution property that holds the records."""

ROLES = ("tuning", "early_stopping", "stopping_rule")
"""Why a step scored models on data: it picked hyperparameters, stopped boosting, or
decided to stop a loop."""

_MODEL_TYPE = "conveyor.Model@"
_EXAMPLES_TYPE = "conveyor.Examples@"


def record_data_use(examples: Artifact, split: str, role: str, detail: str = "") -> bool:
    """Record on the running step that it chose among models by their score on ``split`` of
    ``examples``; False outside a pipeline run (nothing to record on).

    Raises:
        ValueError: an unknown ``role``.

    Example:
        >>> record_data_use(examples, "train", "tuning", "20% by row hash")  # doctest: +SKIP
        True
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {list(ROLES)}, got {role!r}")
    ctx = current_task()
    if ctx is None:
        return False
    entry = {
        "role": role,
        "examples_id": examples.id,
        "examples_fingerprint": examples.fingerprint,
        "split": split,
        "detail": detail,
    }
    before = ctx.metadata.get_execution(ctx.execution_id).properties.get(DATA_USE) or []
    if entry not in before:
        ctx.metadata.update_execution(ctx.execution_id, properties={DATA_USE: [*before, entry]})
    return True


def uses_of_split(model: Artifact, examples: Artifact, split: str) -> list[dict[str, Any]] | None:
    """The recorded data uses behind ``model`` that scored on ``split`` of ``examples`` (or of
    examples derived from them), each with the ``task`` and ``execution_id`` that recorded it;
    None outside a pipeline run or when the artifacts have no ids (nothing to walk).
    """
    ctx = current_task()
    if ctx is None or model.id is None:
        return None
    store = ctx.metadata
    uses: list[dict[str, Any]] = []
    origins: set[int] = set()
    for ex in sorted(_deciders(store, model.id, ctx.run_context_id), key=lambda e: e.id):
        origin = _origin(store, ex)
        if origin.id in origins:  # a cached copy of an execution already counted
            continue
        origins.add(origin.id)
        for use in origin.properties.get(DATA_USE) or []:
            if isinstance(use, dict):
                task = origin.properties.get("task", origin.name)
                uses.append({**use, "task": task, "execution_id": origin.id})
    same_split = [u for u in uses if u.get("split") == split]
    related: dict[int, bool] = {}
    out = []
    for use in same_split:
        source = use.get("examples_id")
        if source is None:
            continue
        if source not in related:
            related[source] = _derives_from(store, int(source), examples)
        if related[source]:
            out.append(use)
    return out


def _deciders(store: MetadataStore, model_id: int, run_context_id: int) -> list[ExecutionRecord]:
    """Executions upstream of the model, and this run's executions that read it or one of
    the models it came from."""
    graph = store.lineage(model_id, "upstream")
    found = {ex.id: ex for ex in graph.executions}
    models = {model_id} | {a.id for a in graph.artifacts if a.type_name.startswith(_MODEL_TYPE)}
    readers = {
        ev.execution_id
        for ev in store.get_events(artifact_ids=models)
        if ev.type.is_input and ev.execution_id not in found
    }
    if readers:
        for ex in store.list_executions(context_id=run_context_id):
            if ex.id in readers:
                found[ex.id] = ex
    return list(found.values())


def _origin(store: MetadataStore, ex: ExecutionRecord) -> ExecutionRecord:
    """The execution whose outputs a cached one reused (itself when it ran)."""
    origin = (ex.properties.get("cache") or {}).get("cached_from")
    if origin is None or DATA_USE in ex.properties:
        return ex
    return store.get_execution(int(origin))


def _derives_from(store: MetadataStore, source_id: int, examples: Artifact) -> bool:
    """Whether the examples ``source_id`` are ``examples`` or were made from them."""
    if source_id == examples.id:
        return True
    graph = store.lineage(source_id, "upstream")
    for art in graph.artifacts:
        if not art.type_name.startswith(_EXAMPLES_TYPE):
            continue
        if art.id == examples.id or (
            examples.fingerprint is not None and art.fingerprint == examples.fingerprint
        ):
            return True
    return False
