"""The steps of examples/iterative, called as plain functions on the example's data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import conveyor
from conveyor._internal.importing import import_file
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import transform
from conveyor.types import Examples, ExampleStatistics, Markdown, Metrics, Model, Schema
from conveyor.types.model import TransformGraph

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iterative"
ROUNDS = 5


@pytest.fixture(scope="module")
def steps() -> ModuleType:
    """The example's ``boosting`` module, imported as ``conveyor run`` imports it."""
    return import_file(str(EXAMPLE / "boosting.py"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The example's data through ExampleGen, StatisticsGen, SchemaGen and Transform."""
    root = tmp_path_factory.mktemp("iterative")
    examples = Examples(name="examples", uri=str(root / "ex"), path=str(root / "ex"))
    example_gen.python_func(
        input_pattern=str(EXAMPLE / "data" / "german_credit.csv"), examples=examples
    )
    stats = ExampleStatistics(path=str(root / "stats"))
    os.makedirs(stats.path)
    statistics_gen.python_func(examples=examples, statistics=stats)
    schema = Schema(path=str(root / "schema"))
    os.makedirs(schema.path)
    schema_gen.python_func(statistics=stats, schema=schema, split="train")
    graph = TransformGraph(path=str(root / "graph"))
    transformed = Examples(path=str(root / "transformed"))
    transform.python_func(
        examples=examples,
        schema=schema,
        transform_graph=graph,
        transformed_examples=transformed,
        label="credit",
    )
    return {"raw": examples, "examples": transformed, "schema": schema, "graph": graph}


def _boost(steps: ModuleType, data: dict[str, Any], path: Path, **options: Any) -> Model:
    model = Model(name="model", uri=str(path), path=str(path))
    steps.boost.python_func(
        examples=data["examples"],
        schema=data["schema"],
        transform_graph=data["graph"],
        model=model,
        label="credit",
        rounds=ROUNDS,
        **options,
    )
    return model


def _trees(model: Model) -> list[str]:
    import xgboost as xgb

    return list(xgb.Booster(model_file=os.path.join(model.path, "model.json")).get_dump())


def test_boost_starts_cold_without_init_model(
    steps: ModuleType, data: dict[str, Any], tmp_path: Path
) -> None:
    model = _boost(steps, data, tmp_path / "m0")

    assert model.metadata["total_rounds"] == ROUNDS
    assert model.metadata["warm_start_from"] is None
    assert len(_trees(model)) == ROUNDS
    loaded = conveyor.load_model(model.path)  # a servable Conveyor model, transform bundled
    assert loaded.manifest.framework == "xgboost" and loaded.classes == [1, 2]


def test_boost_continues_the_init_model_when_warm_started(
    steps: ModuleType, data: dict[str, Any], tmp_path: Path
) -> None:
    first = _boost(steps, data, tmp_path / "m0")
    second = _boost(steps, data, tmp_path / "m1", init_model=first)

    assert second.metadata["total_rounds"] == 2 * ROUNDS
    assert second.metadata["rounds_added"] == ROUNDS
    assert second.metadata["warm_start_from"] == first.uri
    # the first trees are the previous model's, unchanged: rounds were added, not retrained
    assert _trees(second)[:ROUNDS] == _trees(first)


def test_boost_is_deterministic_for_a_seed(
    steps: ModuleType, data: dict[str, Any], tmp_path: Path
) -> None:
    a = _boost(steps, data, tmp_path / "a", seed=3)
    b = _boost(steps, data, tmp_path / "b", seed=3)
    c = _boost(steps, data, tmp_path / "c", seed=4)

    assert _trees(a) == _trees(b) != _trees(c)


def test_boost_refuses_an_init_model_of_other_features(
    steps: ModuleType, data: dict[str, Any], tmp_path: Path
) -> None:
    first = _boost(steps, data, tmp_path / "m0")
    manifest_file = Path(first.path) / "conveyor_model.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["features"] = manifest["features"][1:]
    manifest_file.write_text(json.dumps(manifest))

    with pytest.raises(ValueError, match="same transform_graph"):
        _boost(steps, data, tmp_path / "m1", init_model=first)


def test_boost_refuses_zero_rounds(steps: ModuleType, data: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        steps.boost.python_func(
            examples=data["examples"],
            schema=data["schema"],
            transform_graph=data["graph"],
            model=Model(path=str(tmp_path / "m")),
            label="credit",
            rounds=0,
        )


def test_score_measures_the_eval_auc_on_raw_examples(
    steps: ModuleType, data: dict[str, Any], tmp_path: Path
) -> None:
    few = _boost(steps, data, tmp_path / "m0")
    more = _boost(steps, data, tmp_path / "m1", init_model=few)

    first = steps.score.python_func(model=few, examples=data["raw"]).auc
    second = steps.score.python_func(model=more, examples=data["raw"]).auc

    assert 0.6 < first < second < 1.0


@pytest.mark.parametrize(
    ("auc", "best", "expected"),
    [
        (0.81, 0.79, (True, 0.81, "target_reached")),
        (0.752, 0.75, (True, 0.752, "no_improvement")),
        (0.74, 0.75, (True, 0.75, "no_improvement")),
        (0.76, 0.75, (False, 0.76, "improving")),
        (0.70, 0.0, (False, 0.70, "improving")),
    ],
)
def test_check_decides_from_target_and_min_delta(
    steps: ModuleType, auc: float, best: float, expected: tuple[bool, float, str]
) -> None:
    decision = steps.check.python_func(auc=auc, best_so_far=best, target=0.8, min_delta=0.005)

    assert tuple(decision) == pytest.approx(expected)


def test_check_spec_has_the_loop_outputs(steps: ModuleType) -> None:
    assert sorted(steps.check.spec.output_parameters) == ["best", "done", "reason"]
    assert sorted(steps.score.spec.output_parameters) == ["auc"]
    assert steps.boost.spec.input_artifacts["init_model"].optional


def _summarize(
    steps: ModuleType, tmp_path: Path, aucs: list[float], reasons: list[str]
) -> tuple[Any, Markdown, Metrics]:
    model = Model(uri="file:///m", path=str(tmp_path), metadata={"total_rounds": 10 * len(aucs)})
    report = Markdown(path=str(tmp_path / "report.md"))
    metrics = Metrics(path=str(tmp_path / "metrics.json"))
    result = steps.summarize.python_func(
        model=model, aucs=aucs, reasons=reasons, report=report, metrics=metrics
    )
    return result, report, metrics


def test_summarize_writes_the_auc_curve(steps: ModuleType, tmp_path: Path) -> None:
    aucs = [0.73, 0.75, 0.749]
    result, report, metrics = _summarize(
        steps, tmp_path, aucs, ["improving", "improving", "no_improvement"]
    )

    assert tuple(result) == ("no_improvement", 3, 0.749)
    text = report.read_text()
    assert "| 2 | 30 | 0.7490 | -0.0010 | no_improvement |" in text
    assert "Best: iteration 1 (ROC AUC 0.7500)" in text
    assert metrics.metadata == {
        "iterations": 3.0,
        "total_rounds": 30.0,
        "first_auc": 0.73,
        "final_auc": 0.749,
        "best_auc": 0.75,
    }


def test_summarize_names_the_bound_when_the_loop_ran_out(steps: ModuleType, tmp_path: Path) -> None:
    result, report, _ = _summarize(steps, tmp_path, [0.7, 0.72], ["improving", "improving"])

    assert result.stop_reason == "max_iterations"
    assert report.metadata["stop_reason"] == "max_iterations"


def test_summarize_refuses_lists_of_different_lengths(steps: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one AUC and one reason per iteration"):
        _summarize(steps, tmp_path, [0.7, 0.72], ["improving"])
