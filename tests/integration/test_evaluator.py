"""The gate to production on the local orchestrator: baseline resolution, the Evaluator's
blessing (with its reasons) and the Pusher, over several runs of one Titanic pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import evaluator, latest_blessed_model, pusher, trainer
from conveyor.metadata import ArtifactState, ExecutionState
from conveyor.model import load_model
from conveyor.orchestrator import LocalOrchestrator, RunResult

TITANIC = os.path.join(os.path.dirname(__file__), "..", "data", "titanic_survival.csv")
CACHED, COMPLETE = ExecutionState.CACHED, ExecutionState.COMPLETE

EVAL_CONFIG: dict[str, Any] = {
    "slices": [
        {"feature_keys": ["sex"]},
        {"feature_keys": ["sex", "passengerClass"]},
        {"buckets": {"age": [18, 50]}},
    ],
    "thresholds": [
        {"metric": "roc_auc", "lower_bound": 0.7},
        {"metric": "roc_auc", "change_absolute": -0.01},
    ],
}
GOOD = {"preset": "sklearn:LogisticRegression"}
WORSE = {"preset": "sklearn:DummyClassifier"}  # predicts the majority class: ROC AUC 0.5
BETTER = {"preset": "lightgbm", "hyperparameters": {"n_estimators": 50}}


@pipeline(name="titanic-gate")
def titanic_gate(
    input_pattern: str,
    push_destination: str,
    preset: str = "sklearn:LogisticRegression",
    hyperparameters: dict[str, Any] | None = None,
    eval_config: dict[str, Any] | None = None,
    force_reason: str | None = None,
):
    """Train, resolve the baseline, evaluate against it, push if blessed."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    model = trainer(
        examples=examples,
        schema=schema,
        label="survived",
        preset=preset,
        hyperparameters=hyperparameters,
    ).outputs["model"]
    baseline = latest_blessed_model(model=model).outputs["baseline"]
    evaluation = evaluator(
        examples=examples,
        model=model,
        baseline_model=baseline,
        eval_config=eval_config,
        force_reason=force_reason,
    )
    pusher(
        model=model,
        model_blessing=evaluation.outputs["blessing"],
        push_destination=push_destination,
    )


def _path(ref: Any) -> str:
    return ref.uri.removeprefix("file://")


def _json(ref: Any, name: str) -> dict[str, Any]:
    with open(os.path.join(_path(ref), name), encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _states(result: RunResult) -> dict[str, ExecutionState]:
    return {task: r.state for task, r in result.tasks.items()}


def _errors(result: RunResult) -> dict[str, str | None]:
    return {task: r.error for task, r in result.tasks.items() if r.error}


def _versions(destination: Path) -> list[str]:
    return sorted(p.name for p in destination.iterdir()) if destination.exists() else []


class History:
    """The runs of one pipeline on one store, in order, with the push folder after each."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.serving = home / "serving"
        self.orchestrator = LocalOrchestrator(
            metadata_url=f"sqlite:///{home}/metadata.db",
            artifact_root=str(home / "artifacts"),
            home=str(home),
            in_process=True,  # the pipeline lives in this test module
        )
        self.runs: dict[str, RunResult] = {}
        self.pushed: dict[str, list[str]] = {}

    def run(self, name: str, **params: Any) -> RunResult:
        params = {
            "input_pattern": TITANIC,
            "push_destination": str(self.serving),
            "eval_config": EVAL_CONFIG,
            **params,
        }
        result = self.orchestrator.run(titanic_gate.spec, params)
        assert result.failed_tasks == [], _errors(result)
        self.runs[name] = result
        self.pushed[name] = _versions(self.serving)
        return result


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    h = History(tmp_path_factory.mktemp("gate-home"))
    try:
        h.run("good", **GOOD)  # first run: no baseline yet
        h.run("good_again", **GOOD)  # nothing changed
        h.run("worse", **WORSE)
        h.run("better", **BETTER)
        h.run("better_again", **BETTER)  # nothing changed, with history to choose from
        yield h
    finally:
        h.orchestrator.metadata.close()


def _model(result: RunResult) -> Any:
    return result.outputs("trainer").artifacts["model"]


def _blessing(result: RunResult) -> Any:
    return result.outputs("evaluator").artifacts["blessing"]


def _evaluation(result: RunResult) -> dict[str, Any]:
    return _json(result.outputs("evaluator").artifacts["evaluation"], "evaluation.json")


def test_first_run_is_blessed_on_value_thresholds_and_pushed(history):
    result = history.runs["good"]
    model = _model(result)
    assert result.outputs("latest_blessed_model").artifacts["baseline"].properties == {
        "resolved": False,
        "source": "pushed_or_blessed",
    }
    assert result.outputs("evaluator").parameters["Output"] is True
    blessing = _blessing(result)
    assert blessing.properties["blessed"] is True
    assert blessing.properties["reason"] == "FIRST_RUN_VALUE_THRESHOLDS_ONLY"
    assert blessing.properties["model_fingerprint"] == model.fingerprint
    assert blessing.properties["baseline_fingerprint"] is None
    document = _json(blessing, "blessing.json")
    assert document["reason"] == "FIRST_RUN_VALUE_THRESHOLDS_ONLY" and document["failures"] == []
    assert document["baseline"] is None and document["has_baseline"] is False
    assert {"slice": "overall", "metric": "roc_auc", "reason": "no_baseline"} in document["skipped"]
    assert os.path.exists(os.path.join(_path(blessing), "BLESSED"))
    evaluation = _evaluation(result)
    # the evaluator scores the served model on the raw eval rows: the trainer's eval score
    assert evaluation["slices"]["overall"]["metrics"]["roc_auc"] == pytest.approx(
        result.outputs("trainer").parameters["Output"], abs=1e-9
    )
    pushed = result.outputs("pusher").artifacts["pushed_model"]
    assert pushed.properties["pushed"] is True and result.outputs("pusher").parameters["Output"]
    (version,) = history.pushed["good"]
    assert pushed.properties["pushed_destination"] == str(history.serving / version)
    marker = json.loads((history.serving / version / "conveyor_push.json").read_text())
    assert marker["model_fingerprint"] == model.fingerprint


def test_rerun_without_changes_is_cached_and_never_its_own_baseline(history):
    first, again = history.runs["good"], history.runs["good_again"]
    states = _states(again)
    assert states["trainer"] == CACHED and states["evaluator"] == CACHED
    assert states["pusher"] == CACHED
    assert states["latest_blessed_model"] == COMPLETE  # never cached: it reads history
    # the candidate is the only blessed (and pushed) model, but it is not its own baseline
    assert _model(again).fingerprint == _model(first).fingerprint
    baseline = again.outputs("latest_blessed_model").artifacts["baseline"]
    assert baseline.properties["resolved"] is False
    assert again.outputs("latest_blessed_model").parameters["Output"] is False
    assert _blessing(again).id == _blessing(first).id  # reused, not decided again
    assert history.pushed["good_again"] == history.pushed["good"]  # nothing pushed again


def test_a_worse_model_is_refused_with_its_reasons_and_not_pushed(history, tmp_path):
    good, worse = history.runs["good"], history.runs["worse"]
    good_model, worse_model = _model(good), _model(worse)
    assert worse_model.fingerprint != good_model.fingerprint
    assert worse.outputs("evaluator").parameters["Output"] is False

    blessing = _blessing(worse)
    document = _json(blessing, "blessing.json")
    assert document["blessed"] is False and document["reason"] == "NOT_BLESSED_THRESHOLDS"
    assert document["baseline"]["fingerprint"] == good_model.fingerprint
    assert document["model"]["fingerprint"] == worse_model.fingerprint
    good_auc = _evaluation(good)["slices"]["overall"]["metrics"]["roc_auc"]
    failures = {f["kind"]: f for f in document["failures"]}
    assert set(failures) == {"value", "change"}
    for failure in failures.values():
        assert (failure["slice"], failure["metric"]) == ("overall", "roc_auc")
        assert failure["value"] == pytest.approx(0.5)  # a constant score
    assert failures["value"]["threshold"]["lower_bound"] == 0.7
    assert "required >= 0.7" in failures["value"]["message"]
    assert failures["change"]["baseline"] == pytest.approx(good_auc)
    assert failures["change"]["threshold"]["change_absolute"] == -0.01
    assert os.path.exists(os.path.join(_path(blessing), "NOT_BLESSED"))
    assert not os.path.exists(os.path.join(_path(blessing), "BLESSED"))

    # the same in the metadata store
    record = history.orchestrator.metadata.get_artifact(blessing.id)
    props = record.properties
    assert props["blessed"] is False and props["reason"] == "NOT_BLESSED_THRESHOLDS"
    assert props["failures"] == 2 and props["forced"] is False
    assert props["model_fingerprint"] == worse_model.fingerprint
    assert props["baseline_fingerprint"] == good_model.fingerprint
    evaluation = _evaluation(worse)
    assert evaluation["blessing"]["failures"] == document["failures"]
    assert evaluation["baseline"]["fingerprint"] == good_model.fingerprint
    change = evaluation["changes"]["overall"]["roc_auc"]["value"]
    assert change == pytest.approx(0.5 - good_auc)
    eval_record = history.orchestrator.metadata.get_artifact(
        worse.outputs("evaluator").artifacts["evaluation"].id
    )
    assert eval_record.properties["blessed"] is False
    assert eval_record.properties["roc_auc"] == pytest.approx(0.5)

    # the pusher records why it did not push, and the serving folder is untouched
    assert worse.outputs("pusher").parameters["Output"] is False
    pushed = worse.outputs("pusher").artifacts["pushed_model"]
    assert pushed.properties["pushed"] is False
    assert "NOT_BLESSED_THRESHOLDS" in pushed.properties["reason"]
    assert _json(pushed, "push.json")["pushed"] is False
    assert history.pushed["worse"] == history.pushed["good"]


def test_a_better_model_is_blessed_against_the_last_pushed_one(history):
    good, better = history.runs["good"], history.runs["better"]
    good_model, better_model = _model(good), _model(better)
    base_task = better.outputs("latest_blessed_model")
    assert base_task.parameters["Output"] is True
    baseline = base_task.artifacts["baseline"]
    # the refused model of the run before is skipped: the baseline is run 1's model
    assert baseline.properties["resolved_via"] == "pushed"
    assert baseline.properties["baseline_artifact_id"] == good_model.id
    assert baseline.fingerprint == good_model.fingerprint

    blessing = _blessing(better)
    document = _json(blessing, "blessing.json")
    assert document["blessed"] is True and document["reason"] == "BLESSED"
    assert document["failures"] == [] and document["has_baseline"] is True
    assert document["baseline"]["fingerprint"] == good_model.fingerprint
    # the decision names the original model, not the resolver's copy of it
    assert document["baseline"]["artifact_id"] == good_model.id
    assert document["baseline"]["copy_uri"] == baseline.uri
    assert blessing.properties["baseline_fingerprint"] == good_model.fingerprint

    evaluation = _evaluation(better)
    ours = evaluation["slices"]["overall"]["metrics"]["roc_auc"]
    theirs = evaluation["baseline"]["slices"]["overall"]["metrics"]["roc_auc"]
    assert theirs == pytest.approx(_evaluation(good)["slices"]["overall"]["metrics"]["roc_auc"])
    assert ours - theirs >= -0.01
    assert evaluation["changes"]["overall"]["roc_auc"]["value"] == pytest.approx(ours - theirs)

    new = sorted(set(history.pushed["better"]) - set(history.pushed["worse"]))
    assert len(new) == 1
    marker = json.loads((history.serving / new[0] / "conveyor_push.json").read_text())
    assert marker["model_fingerprint"] == better_model.fingerprint


def test_rerun_with_history_is_cached_and_keeps_the_earlier_baseline(history):
    good, better, again = (history.runs[k] for k in ("good", "better", "better_again"))
    states = _states(again)
    assert states["evaluator"] == CACHED and states["pusher"] == CACHED
    # the candidate is now the latest pushed model; the resolver skips it for run 1's
    baseline = again.outputs("latest_blessed_model").artifacts["baseline"]
    assert baseline.properties["baseline_artifact_id"] == _model(good).id
    assert baseline.fingerprint != _model(better).fingerprint
    assert _blessing(again).id == _blessing(better).id
    assert history.pushed["better_again"] == history.pushed["better"]


def test_slices_in_the_evaluation_match_pandas_on_the_eval_split(history):
    result = history.runs["good"]
    examples = _path(result.outputs("example_gen").artifacts["examples"])
    frame = pd.read_parquet(os.path.join(examples, "eval"))
    table = pq.read_table(os.path.join(examples, "eval"))
    model = load_model(_path(_model(result)))
    assert model.classes == ["no", "yes"]
    proba = np.asarray(model.predict_proba(table))
    frame = frame.assign(
        y=(frame["survived"] == "yes").astype(int),
        pred=proba.argmax(axis=1),
        score=proba[:, 1],
    )
    frame["correct"] = (frame.y == frame.pred).astype(float)
    slices = _evaluation(result)["slices"]
    assert slices["overall"]["count"] == len(frame) > 200

    by_sex = frame.groupby("sex")
    assert sorted(k for k in slices if k.startswith("sex=") and "&" not in k) == sorted(
        f"sex={v}" for v in by_sex.groups
    )
    for sex, rows in by_sex:
        entry = slices[f"sex={sex}"]
        assert entry["count"] == len(rows)
        assert entry["features"] == {"sex": sex}
        assert entry["too_small"] is (len(rows) < 30)
        metrics = entry["metrics"]
        assert metrics["accuracy"] == pytest.approx(rows.correct.mean(), abs=1e-12)
        positives = rows[rows.y == 1]
        assert metrics["recall"] == pytest.approx((positives.pred == 1).mean(), abs=1e-12)
        assert metrics["roc_auc"] == pytest.approx(roc_auc_score(rows.y, rows.score), abs=1e-12)
        assert metrics["confusion_matrix"] == [
            [int(((rows.y == t) & (rows.pred == p)).sum()) for p in (0, 1)] for t in (0, 1)
        ]

    crosses = frame.groupby(["sex", "passengerClass"]).size()
    for (sex, pclass), count in crosses.items():
        entry = slices[f"sex={sex}&passengerClass={pclass}"]
        assert entry["count"] == count and entry["too_small"] is (count < 30)
    assert sum(1 for k in slices if "&passengerClass=" in k) == len(crosses)

    age = pd.cut(
        frame["age"],
        bins=[-np.inf, 18, 50, np.inf],
        right=False,
        labels=["(-inf,18)", "[18,50)", "[50,inf)"],
    )
    age_counts = age.value_counts().to_dict()
    age_counts["null"] = int(frame["age"].isna().sum())
    assert age_counts["null"] > 0
    assert {k[len("age=") :]: v["count"] for k, v in slices.items() if k.startswith("age=")} == {
        k: v for k, v in age_counts.items() if v
    }

    # the fairness view compares the sexes on the binary defaults
    fairness = _evaluation(result)["fairness"]
    recall = {sex: float((rows[rows.y == 1].pred == 1).mean()) for sex, rows in by_sex}
    assert fairness["features"]["sex"]["recall"]["values"] == pytest.approx(recall)


def test_a_forced_blessing_is_recorded_with_the_failures(run_pipeline, home):
    serving = home / "serving"
    reason = "launch demo; approved by the model owner"
    params = {"input_pattern": TITANIC, "push_destination": str(serving), **WORSE}
    result = run_pipeline(
        titanic_gate,
        {**params, "eval_config": EVAL_CONFIG, "force_reason": reason},
        in_process=True,
    )
    assert result.failed_tasks == [], _errors(result)
    blessing = _blessing(result)
    document = _json(blessing, "blessing.json")
    assert document["blessed"] is True and document["reason"] == "FORCED"
    assert document["forced"] is True and document["force_reason"] == reason
    ((failure),) = document["failures"]  # checked anyway: ROC AUC 0.5 < 0.7
    assert (failure["slice"], failure["metric"], failure["kind"]) == ("overall", "roc_auc", "value")
    assert blessing.properties["forced"] is True and blessing.properties["failures"] == 1
    assert blessing.properties["reason"] == "FORCED"
    assert result.outputs("pusher").artifacts["pushed_model"].properties["pushed"] is True
    assert len(_versions(serving)) == 1


@pytest.mark.parametrize(
    ("eval_config", "message"),
    [
        (
            {**EVAL_CONFIG, "threshold": [{"metric": "roc_auc", "lower_bound": 0.7}]},
            "Unknown eval config fields: ['threshold']",
        ),
        (
            {"thresholds": [{"metric": "roc_auc", "lower_bnd": 0.7}]},
            "Unknown threshold fields: ['lower_bnd']",
        ),
    ],
)
def test_an_invalid_eval_config_fails_the_evaluator_only(
    run_pipeline, store, home, eval_config, message
):
    serving = home / "serving"
    params = {
        "input_pattern": TITANIC,
        "push_destination": str(serving),
        "eval_config": eval_config,
    }
    result = run_pipeline(titanic_gate, params, in_process=True)
    assert result.failed_tasks == ["evaluator"]
    error = result.tasks["evaluator"].error or ""
    assert "evaluator eval_config is invalid" in error and message in error
    assert result.tasks["pusher"].state == ExecutionState.CANCELED
    assert not serving.exists()
    # the steps before it keep their outputs
    for task in ("example_gen", "statistics_gen", "schema_gen", "trainer"):
        assert result.tasks[task].state == COMPLETE
    model = _model(result)
    assert store.get_artifact(model.id).state == ArtifactState.LIVE
    assert os.path.isdir(_path(model)) and load_model(_path(model)).classes == ["no", "yes"]
    examples = result.outputs("example_gen").artifacts["examples"]
    assert store.get_artifact(examples.id).state == ArtifactState.LIVE
    assert os.path.isdir(os.path.join(_path(examples), "eval"))


def test_significance_thresholds_use_the_paired_bootstrap(run_pipeline, home):
    superiority = {"metric": "roc_auc", "change_absolute": 0.0, "significance": 0.05}
    non_inferiority = {"metric": "roc_auc", "change_absolute": -0.05, "significance": 0.05}
    config = {**EVAL_CONFIG, "thresholds": [superiority, non_inferiority]}
    params = {"input_pattern": TITANIC, "push_destination": str(home / "serving")}
    first = run_pipeline(titanic_gate, {**params, **GOOD, "eval_config": config}, in_process=True)
    second = run_pipeline(
        titanic_gate, {**params, **BETTER, "eval_config": config}, in_process=True
    )
    assert first.failed_tasks == second.failed_tasks == [], _errors(second)

    evaluation = _evaluation(second)
    assert evaluation["bootstrap"] == {"resamples": 200, "confidence": 0.95, "seed": 0}
    assert evaluation["config"]["bootstrap_resamples"] == 200  # switched on by significance
    for name in ("overall", "sex=female", "sex=male"):
        low, high = evaluation["slices"][name]["intervals"]["roc_auc"]
        assert low <= evaluation["slices"][name]["metrics"]["roc_auc"] <= high
    change = evaluation["changes"]["overall"]["roc_auc"]
    # a gain of about 0.01 on a few hundred eval rows is not significant
    assert 0 < change["value"] < 0.05 and change["interval"][0] < 0 < change["interval"][1]

    document = _json(_blessing(second), "blessing.json")
    assert document["reason"] == "NOT_BLESSED_THRESHOLDS"
    assert document["baseline"]["fingerprint"] == _model(first).fingerprint
    (failure,) = document["failures"]  # the non-inferiority bound holds
    assert failure["kind"] == "significance" and failure["threshold"]["change_absolute"] == 0.0
    bound = failure["confidence_bound"]
    # the one-sided 95% bound lies inside the two-sided 95% interval, below the estimate
    assert change["interval"][0] <= bound < 0 < change["value"]
    assert bound > non_inferiority["change_absolute"]
    assert second.outputs("pusher").artifacts["pushed_model"].properties["pushed"] is False
