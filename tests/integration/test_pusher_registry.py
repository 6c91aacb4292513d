"""The pusher's registry target and the registry as a baseline source, on real runs:
versions bound to the trainer's Model artifact, alias moves recorded, no duplicate version
under the cache or an uncached rerun, names refused when the pipeline is built, the ONNX
export shipped beside the push (or the reason it was not), and one run on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pcsv
import pytest

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import (
    evaluator,
    latest_blessed_model,
    onnx_exporter,
    pusher,
    trainer,
)
from conveyor.errors import PipelineValidationError
from conveyor.metadata import ExecutionState, connect
from conveyor.model import load_model
from conveyor.orchestrator import LocalOrchestrator, RunResult

DATA = Path(__file__).parents[1] / "data"
PENGUINS = str(DATA / "penguins.csv")
TITANIC = str(DATA / "titanic_survival.csv")
CACHED, COMPLETE = ExecutionState.CACHED, ExecutionState.COMPLETE
EVAL_CONFIG: dict[str, Any] = {
    "thresholds": [
        {"metric": "accuracy", "lower_bound": 0.8},
        {"metric": "accuracy", "change_absolute": -0.05},
    ]
}


@pipeline(name="penguins-registry")
def gate(
    input_pattern: str = PENGUINS,
    label: str = "species",
    preset: str = "sklearn:LogisticRegression",
    push_destination: str | None = None,
    eval_config: dict[str, Any] = EVAL_CONFIG,
):
    """Train, take the baseline from penguins@champion, evaluate, export, push and register."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples).outputs["statistics"]
    schema = schema_gen(statistics=stats).outputs["schema"]
    model = trainer(examples=examples, schema=schema, label=label, preset=preset).outputs["model"]
    baseline = latest_blessed_model(
        model=model, source="registry", registered_model="penguins", alias="champion"
    ).outputs["baseline"]
    evaluation = evaluator(
        examples=examples, model=model, baseline_model=baseline, eval_config=eval_config
    )
    export = onnx_exporter(model=model, examples=examples)
    pusher(
        model=model,
        model_blessing=evaluation.outputs["blessing"],
        push_destination=push_destination,
        registered_model="penguins",
        alias="champion",
        onnx_model=export.outputs["onnx_model"],
    )


def _orchestrator(home: Path, metadata_url: str, **options: Any) -> LocalOrchestrator:
    return LocalOrchestrator(
        metadata_url=metadata_url,
        artifact_root=str(home / "artifacts"),
        home=str(home),
        in_process=True,  # the pipeline lives in this test module
        **options,
    )


def _run(orch: LocalOrchestrator, **params: Any) -> RunResult:
    result = orch.run(gate.spec, params)
    errors = {t: r.error for t, r in result.tasks.items() if r.error}
    assert result.failed_tasks == [], errors
    return result


def _show(home: Path, artifact_id: Any) -> str:
    """``conveyor show ID`` on the test's home, as a user would read it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(home), CONVEYOR_AGENT="off", COLUMNS="300")
    proc = subprocess.run(
        [sys.executable, "-m", "conveyor", "show", str(artifact_id)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def _pushed(result: RunResult) -> dict[str, Any]:
    return dict(result.outputs("pusher").artifacts["pushed_model"].properties)


def _model_id(result: RunResult) -> int:
    return int(result.outputs("trainer").artifacts["model"].id)


def test_pusher_registers_versions_moves_the_alias_and_reads_it_as_the_baseline(
    home: Path, metadata_url: str
) -> None:
    serving = home / "serving"
    orch = _orchestrator(home, metadata_url)
    try:
        first = _run(orch, push_destination=str(serving))
        again = _run(orch, push_destination=str(serving))  # cached: replays the record
        uncached = _run(
            _orchestrator(home, metadata_url, use_cache=False), push_destination=str(serving)
        )
        better = _run(orch, preset="lightgbm", push_destination=str(serving))
    finally:
        orch.metadata.close()
    store = connect(metadata_url)
    try:
        # first run: no champion yet, so no baseline; version 1 bound to the trainer's model
        assert (
            first.outputs("latest_blessed_model").artifacts["baseline"].properties["resolved"]
            is False
        )
        pushed = _pushed(first)
        assert pushed["pushed"] is True
        assert pushed["registered_version"] == 1 and pushed["registered_new"] is True
        assert pushed["registered_uri"] == "models:/penguins/1"
        assert pushed["alias_moved"] is True and pushed["alias_from_version"] is None
        v1 = store.get_model_version("penguins", 1)
        assert v1.artifact_id == _model_id(first) and v1.aliases == ()  # moved on to 2 below
        # the folder target still works beside the registry, and its marker names the version
        folder = pushed["pushed_destination"]
        assert os.path.isfile(os.path.join(folder, "conveyor_push.json"))
        assert load_model(folder).predict(pcsv.read_csv(PENGUINS).slice(0, 3)).shape == (3,)

        # a cached rerun replays the push record: no second version, no alias move
        assert again.tasks["pusher"].state == CACHED
        # an uncached rerun of the same content reuses version 1 instead of adding one
        assert uncached.tasks["pusher"].state == COMPLETE
        reused = _pushed(uncached)
        assert reused["registered_version"] == 1 and reused["registered_new"] is False
        assert reused["alias_moved"] is False

        # a new model: the baseline is the champion, version 2 is added and takes the alias
        base = better.outputs("latest_blessed_model").artifacts["baseline"].properties
        assert base["resolved"] is True and base["resolved_via"] == "models:/penguins@champion"
        assert base["baseline_artifact_id"] == v1.artifact_id
        moved = _pushed(better)
        assert moved["registered_version"] == 2 and moved["alias_from_version"] == 1
        assert [v.version for v in store.list_model_versions("penguins")] == [1, 2]
        history = store.alias_history("penguins", "champion")
        assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 2)]
        assert history[1].actor == f"pusher, run {better.run_id}" and not history[1].forced
        assert history[1].reason == "blessed (BLESSED)"
        # the version's lineage is the run's: its artifact is this run's trainer output
        assert store.resolve_model("penguins@champion").artifact_id == _model_id(better)
    finally:
        store.close()


def test_pusher_ships_the_onnx_export_beside_the_version_and_tags_it(
    home: Path, metadata_url: str
) -> None:
    import onnxruntime

    serving = home / "serving"
    orch = _orchestrator(home, metadata_url)
    try:
        result = _run(orch, preset="lightgbm", push_destination=str(serving))
    finally:
        orch.metadata.close()
    export = result.outputs("onnx_exporter").artifacts["onnx_model"].properties
    assert export["converted"] is True and export["parity_passed"] is True
    assert export["parity_label_agreement"] == 1.0 and export["parity_max_abs_diff"] < 1e-4
    pushed = _pushed(result)
    assert pushed["onnx_pushed"] is True
    onnx_file = pushed["onnx_destination"]
    assert onnx_file == str(serving / f"{pushed['pushed_version']}.onnx")
    # a runtime without Conveyor answers like the pushed model on raw rows
    rows = pcsv.read_csv(PENGUINS).slice(0, 40)
    model = load_model(pushed["pushed_destination"])
    from conveyor.model.onnx_export import onnx_inputs

    session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    prediction, proba = session.run(None, onnx_inputs(model, rows))
    assert list(prediction) == list(model.predict(rows))
    assert np.abs(proba - model.predict_proba(rows)).max() < 1e-4
    shown = _show(home, result.outputs("onnx_exporter").artifacts["onnx_model"].id)
    assert "converted by onnxmltools, parity passed" in shown and "label agreement 1.0000" in shown
    pushed_id = result.outputs("pusher").artifacts["pushed_model"].id
    assert f"ONNX: {onnx_file}" in _show(home, pushed_id)
    store = connect(metadata_url)
    try:
        tags = store.get_model_version("penguins", 1).tags
        assert tags["onnx_uri"] == result.outputs("onnx_exporter").artifacts["onnx_model"].uri
        assert tags["parity_passed"] is True
    finally:
        store.close()


def test_a_push_to_an_fsspec_url_uploads_the_onnx_export_beside_the_version(
    home: Path, metadata_url: str
) -> None:
    import fsspec

    orch = _orchestrator(home, metadata_url)
    try:
        result = _run(orch, push_destination="memory://cv-push/penguins")
    finally:
        orch.metadata.close()
    pushed = _pushed(result)
    version = pushed["pushed_version"]
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"/cv-push/penguins/{version}/conveyor_push.json")
    assert pushed["onnx_destination"] == f"{pushed['pushed_destination']}.onnx"
    with fs.open(f"/cv-push/penguins/{version}.onnx", "rb") as fh:
        uploaded = fh.read()
    onnx_model = result.outputs("onnx_exporter").artifacts["onnx_model"]
    with open(os.path.join(onnx_model.uri.removeprefix("file://"), "model.onnx"), "rb") as fh:
        assert uploaded == fh.read()
    fs.rm("/cv-push", recursive=True)


def test_a_model_that_cannot_be_exported_is_still_pushed_and_says_why(
    home: Path, metadata_url: str
) -> None:
    orch = _orchestrator(home, metadata_url)
    lower = {"thresholds": [{"metric": "accuracy", "lower_bound": 0.7}]}
    try:  # titanic's free-text 'name' is hash-encoded: no ONNX operator for it
        result = _run(orch, input_pattern=TITANIC, label="survived", eval_config=lower)
    finally:
        orch.metadata.close()
    export = result.outputs("onnx_exporter").artifacts["onnx_model"]
    assert export.properties["converted"] is False
    assert "['name'] are hash-encoded" in export.properties["reason"]
    assert result.outputs("onnx_exporter").parameters["Output"] is False
    assert not os.path.exists(os.path.join(export.uri.removeprefix("file://"), "model.onnx"))
    pushed = _pushed(result)
    assert pushed["pushed"] is True and pushed["registered_version"] == 1
    assert pushed["onnx_pushed"] is False and "hash-encoded" in pushed["onnx_reason"]
    # conveyor show reads a push into the registry alone, and the export's refusal
    shown = _show(home, result.outputs("pusher").artifacts["pushed_model"].id)
    assert "pushed registered as models:/penguins/1" in shown
    assert "penguins@champion: - -> 1" in shown
    assert "ONNX not pushed: " in shown and "['name'] are hash-encoded" in shown
    assert "not converted" in _show(home, export.id)


def test_an_unblessed_model_is_neither_registered_nor_given_the_alias(
    home: Path, metadata_url: str
) -> None:
    orch = _orchestrator(home, metadata_url)
    try:  # titanic's accuracy (~0.76) misses the 0.8 bound
        result = _run(orch, input_pattern=TITANIC, label="survived")
    finally:
        orch.metadata.close()
    pushed = _pushed(result)
    assert pushed["pushed"] is False and "not blessed" in pushed["reason"]
    assert "registered_version" not in pushed
    store = connect(metadata_url)
    try:
        assert store.list_models() == []
    finally:
        store.close()


@pytest.mark.integration
@pytest.mark.postgres
def test_pusher_registers_into_a_postgresql_registry(home: Path, pg_url: str) -> None:
    orch = _orchestrator(home, pg_url)
    try:
        result = _run(orch)
    finally:
        orch.metadata.close()
    store = connect(pg_url)
    try:
        version = store.resolve_model("models:/penguins@champion")
        assert version.version == 1 and version.artifact_id == _model_id(result)
        assert store.is_blessed(version.artifact_id)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"registered_model": "census/v2"}, "may not contain '@' or '/'"),
        ({"registered_model": "census", "alias": "2"}, "may not be a number"),
        ({"registered_model": " census"}, "without edge spaces"),
        ({"alias": "champion", "push_destination": "x"}, "alias='champion' needs registered_model"),
        ({}, "the pusher needs a target"),
    ],
)
def test_pusher_names_are_refused_when_the_pipeline_is_built(
    kwargs: dict[str, Any], message: str
) -> None:
    @pipeline(name="bad-push")
    def bad() -> None:
        examples = example_gen(input_pattern=PENGUINS).outputs["examples"]
        schema = schema_gen(
            statistics=statistics_gen(examples=examples).outputs["statistics"]
        ).outputs["schema"]
        model = trainer(examples=examples, schema=schema, label="species").outputs["model"]
        ev = evaluator(examples=examples, model=model)
        pusher(model=model, model_blessing=ev.outputs["blessing"], **kwargs)

    with pytest.raises(PipelineValidationError, match=message) as info:
        _ = bad.spec
    assert "Task 'pusher' (pusher)" in str(info.value)
    assert info.value.source_file == __file__


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "registry"}, "pass registered_model="),
        ({"source": "registry", "registered_model": "a@b"}, "may not contain '@' or '/'"),
        ({"registered_model": "census"}, "only with source='registry'"),
        ({"source": "alias"}, "source must be one of"),
    ],
)
def test_baseline_registry_parameters_are_refused_when_the_pipeline_is_built(
    kwargs: dict[str, Any], message: str
) -> None:
    @pipeline(name="bad-baseline")
    def bad() -> None:
        examples = example_gen(input_pattern=PENGUINS).outputs["examples"]
        schema = schema_gen(
            statistics=statistics_gen(examples=examples).outputs["statistics"]
        ).outputs["schema"]
        model = trainer(examples=examples, schema=schema, label="species").outputs["model"]
        latest_blessed_model(model=model, **kwargs)

    with pytest.raises(PipelineValidationError, match=message):
        _ = bad.spec
