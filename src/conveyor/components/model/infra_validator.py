"""InfraValidator: does the model load and answer in a fresh process, as serving will run it?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.components.model.transform import read_split
from conveyor.dsl import Input, Output, component
from conveyor.types import Examples, InfraBlessing, Model, ModelBlessing

if TYPE_CHECKING:
    import pyarrow as pa

    from conveyor.model.infra import InfraResult

__all__ = ["infra_validator", "request_rows"]

MIRRORED = ("blessed", "reason", "load_seconds", "latency_ms_p50", "latency_ms_p99", "peak_rss_mb")
"""Fields of the result copied into ``blessing.metadata``."""


def request_rows(table: pa.Table, manifest: dict[str, Any], count: int) -> pa.Table:
    """At most ``count`` rows of ``table``, evenly spaced, with only what a client sends.

    The columns are the model signature's inputs present in ``table`` (so the probe finds
    out if the model needs anything else); without a readable signature, every column but
    the label.
    """
    import numpy as np
    import pyarrow as pa

    inputs = [i.get("name") for i in manifest.get("signature", {}).get("inputs", [])]
    columns = [c for c in table.column_names if c in inputs]
    if not columns:
        columns = [c for c in table.column_names if c != manifest.get("label")]
    table = table.select(columns)
    if table.num_rows <= count:
        return table
    index = np.linspace(0, table.num_rows - 1, num=count).round().astype(np.int64)
    return table.take(pa.array(index))


def _blessing_verdict(model_blessing: ModelBlessing) -> tuple[bool, str]:
    """Whether the upstream blessing blesses the model, and its reason (metadata, else file)."""
    if "blessed" in model_blessing.metadata:
        return model_blessing.blessed, str(model_blessing.metadata.get("reason", ""))
    try:
        data = model_blessing.read()
    except (OSError, ValueError):
        return False, "no readable blessing document"
    return bool(data.get("blessed")), str(data.get("reason", ""))


@component
def infra_validator(
    model: Input[Model],
    examples: Input[Examples],
    blessing: Output[InfraBlessing],
    split: str = "eval",
    num_requests: int = 100,
    batch_size: int = 1,
    max_latency_ms_p99: float | None = None,
    max_memory_mb: float | None = None,
    max_load_seconds: float | None = None,
    timeout_seconds: float = 300.0,
    model_blessing: Input[ModelBlessing] | None = None,
    pythonpath: list[str] | None = None,
) -> bool:
    """Load ``model`` in a fresh process as serving will, send it requests, bless it or not.

    The probe is a new Python process (this interpreter, a clean environment, an empty
    working directory) that imports only what a model server imports and loads the model,
    then answers 5 warmup and ``num_requests`` timed requests of ``batch_size`` rows each
    (1 row: online serving). The rows are taken evenly from ``split`` of ``examples``, with
    only the model signature's input columns (no label). The model is blessed when it loads,
    answers every request with one valid prediction per row (finite numbers for a
    regressor; known labels and probabilities in [0, 1] summing to 1 for a classifier), and
    keeps the bounds given: ``max_load_seconds`` (cold start: process, imports and load),
    ``max_latency_ms_p99`` and ``max_memory_mb`` (peak resident memory). The probe is
    killed after ``timeout_seconds``. ``pythonpath`` lists folders the probe may import the
    model's own code from (a custom estimator, a ``preprocessing_fn``).

    A model that is not blessed does not fail the step: the decision is recorded.
    ``blessing`` holds the full result (``infra_validation.json``: reason code, message,
    figures, versions, a sample of predictions) and its metadata mirrors ``blessed``,
    ``reason``, ``load_seconds``, ``latency_ms_p50``, ``latency_ms_p99`` and ``peak_rss_mb``.
    Reasons: ``BLESSED``, ``LOAD_FAILED``, ``PREDICT_FAILED``, ``BAD_PREDICTIONS``,
    ``LOAD_TIME_EXCEEDED``, ``LATENCY_EXCEEDED``, ``MEMORY_EXCEEDED``, ``TIMEOUT``,
    ``CRASHED``, and ``MODEL_NOT_BLESSED`` when ``model_blessing`` (an Evaluator's) did not
    bless the model: it is then not probed at all. Returns whether the model is blessed.

    Raises:
        ArtifactError: ``examples`` has no split ``split``.
        ValueError: the split is empty, or a count or bound is not positive.

    Example:
        >>> infra = infra_validator(model=trainer_task.outputs["model"],
        ...                         examples=gen.outputs["examples"],
        ...                         model_blessing=evaluator_task.outputs["blessing"],
        ...                         max_latency_ms_p99=20.0, max_memory_mb=1024)  # doctest: +SKIP
        >>> result = conveyor.run(my_pipeline)  # doctest: +SKIP
        >>> result.outputs("infra_validator").parameters["Output"]  # doctest: +SKIP
        True
    """
    from conveyor.model.infra import InfraCheck, InfraResult, validate_model
    from conveyor.model.saved import manifest_json

    check = InfraCheck(
        num_requests=num_requests,
        batch_size=batch_size,
        max_latency_ms_p99=max_latency_ms_p99,
        max_memory_mb=max_memory_mb,
        max_load_seconds=max_load_seconds,
        timeout_seconds=timeout_seconds,
        pythonpath=tuple(pythonpath or ()),
    )
    if model_blessing is not None:
        blessed, why = _blessing_verdict(model_blessing)
        if not blessed:
            result = InfraResult(
                blessed=False,
                reason="MODEL_NOT_BLESSED",
                message=(
                    "The model was not infra-validated: the model blessing given did not "
                    f"bless it ({why or 'no reason recorded'}). Infra validation runs only "
                    "on models that pass evaluation"
                ),
                failures=["MODEL_NOT_BLESSED"],
                check=check.to_dict(),
            )
            return _record(blessing, result, model)
    rows = request_rows(
        read_split(examples, split), manifest_json(model.path), num_requests * batch_size
    )
    if rows.num_rows == 0:
        raise ValueError(
            f"Split {split!r} of the examples at {examples.uri or examples.path!r} has no rows "
            "to send as requests; infra-validate on a split with data (split=...)"
        )
    return _record(blessing, validate_model(model.path, rows, check), model)


def _record(blessing: InfraBlessing, result: InfraResult, model: Model) -> bool:
    document = result.to_dict()
    blessing.write(document)
    blessing.metadata.update({key: document[key] for key in MIRRORED})
    # which model was validated: the pusher refuses an infra blessing of another model
    blessing.metadata.update(model_fingerprint=model.fingerprint, model_artifact_id=model.id)
    return result.blessed
