"""The ModelCard generator on the local orchestrator: a penguins model, its evaluation, its card."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import evaluator, trainer
from conveyor.components.model.model_card import model_card_generator
from conveyor.model.card_html import model_card_view
from conveyor.orchestrator import LocalOrchestrator, RunResult
from conveyor.testing import check_component

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "data", "penguins.csv")


def _path(uri: str) -> str:
    return uri.removeprefix("file://")


@pipeline(name="penguin-card")
def penguin_card(input_pattern: str):
    """Ingest, train, evaluate (the Evaluator), document."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    model = trainer(examples=examples, schema=schema, label="species").outputs["model"]
    ev = evaluator(
        examples=examples,
        model=model,
        eval_config={
            "slices": [{"feature_keys": ["sex"]}],
            "thresholds": [{"metric": "accuracy", "lower_bound": 0.9}],
            "min_slice_size": 10,
            "bootstrap_resamples": 50,
        },
    )
    model_card_generator(
        model=model,
        evaluation=ev.outputs["evaluation"],
        blessing=ev.outputs["blessing"],
        examples=examples,
        name="Penguin species",
        intended_use="Teaching: classify penguins from their measurements.",
        owners=[{"name": "Field team", "contact": "field@example.org"}],
        limitations=["Three islands of the Palmer Archipelago only."],
        ethical_considerations=[{"name": "None known", "mitigation_strategy": "n/a"}],
        sensitive_features=["sex", "island"],
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    home = tmp_path_factory.mktemp("card-home")
    orchestrator = LocalOrchestrator(
        metadata_url=f"sqlite:///{home}/metadata.db",
        artifact_root=str(home / "artifacts"),
        home=str(home),
        workers=2,
    )
    try:
        return orchestrator.run(penguin_card.spec, {"input_pattern": PENGUINS}), home
    finally:
        orchestrator.metadata.close()


def test_card_is_written_from_the_run_metadata(run):
    result, _ = run
    assert result.failed_tasks == []
    ref = result.outputs("model_card_generator").artifacts["card"]
    model_ref = result.outputs("trainer").artifacts["model"]
    folder = _path(ref.uri)
    with open(os.path.join(folder, "model_card.json"), encoding="utf-8") as fh:
        card = json.load(fh)
    details = card["model_details"]
    assert details["name"] == "Penguin species"
    assert details["version"]["name"] == f"model #{model_ref.id}"
    assert details["owners"] == [{"name": "Field team", "contact": "field@example.org"}]
    assert {"reference": f"conveyor lineage {model_ref.id}"} in details["references"]
    assert card["model_parameters"]["model_architecture"].startswith("sklearn")
    assert "bill_length_mm" in card["model_parameters"]["input_format"]
    ext = card["conveyor"]
    assert ext["run"]["run_id"] == result.run_id and ext["run"]["pipeline"] == "penguin-card"
    assert ext["model"]["fingerprint"] == model_ref.fingerprint
    assert ext["blessing"]["blessed"] is True
    assert ext["confusion_matrix"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    overall = [
        m
        for m in card["quantitative_analysis"]["performance_metrics"]
        if m["slice"] == "overall" and m["type"] == "accuracy"
    ]
    assert float(overall[0]["value"]) >= 0.9 and overall[0]["threshold"] == ">= 0.9"
    interval = overall[0]["confidence_interval"]  # the Evaluator's bootstrap
    assert float(interval["lower_bound"]) <= float(overall[0]["value"])
    assert float(interval["upper_bound"]) >= float(overall[0]["value"])
    assert ext["fairness"]["largest"]["feature"] == "sex"
    assert ref.properties["name"] == "Penguin species" and ref.properties["blessed"] is True
    assert ref.properties["model_artifact_id"] == model_ref.id


def test_card_counts_match_the_examples(run):
    result, _ = run
    ref = result.outputs("model_card_generator").artifacts["card"]
    examples = _path(result.outputs("example_gen").artifacts["examples"].uri)
    with open(os.path.join(_path(ref.uri), "model_card.json"), encoding="utf-8") as fh:
        card = json.load(fh)
    data = {d["name"]: d for d in card["model_parameters"]["data"]}
    assert list(data) == ["train", "eval"]
    for split, dataset in data.items():
        rows = pq.read_table(os.path.join(examples, split)).to_pylist()
        assert dataset["rows"] == len(rows)
        assert dataset["sensitive"] == {"sensitive_data": ["sex", "island"]}
        for feature in ("sex", "island"):
            expected: dict[str, dict[str, int]] = {}
            for row in rows:
                value = "null" if row[feature] is None else row[feature]
                per = expected.setdefault(value, {})
                per[row["species"]] = per.get(row["species"], 0) + 1
            assert dataset["class_distribution"][feature] == expected
        assert [g["name"] for g in dataset["graphics"]["collection"]] == [
            f"Label by sex ({split})",
            f"Label by island ({split})",
        ]


def test_card_page_is_self_contained_and_is_the_artifact_view(run):
    result, _ = run
    ref = result.outputs("model_card_generator").artifacts["card"]
    page = model_card_view("conveyor.ModelCard", ref.uri)
    assert page is not None
    assert "Penguin species" in page and "Blessed" in page and "sex=female" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert page.count("<svg") >= 6  # accuracy, confusion matrix, 2 features x 2 splits


def test_model_card_generator_passes_the_component_checks(run, tmp_path):
    result, _ = run
    model_dir = _path(result.outputs("trainer").artifacts["model"].uri)
    evaluation_dir = tmp_path / "evaluation"
    shutil.copytree(_path(result.outputs("evaluator").artifacts["evaluation"].uri),
                    evaluation_dir)  # fmt: skip
    checked = check_component(
        model_card_generator,
        parameters={"name": "Checked"},
        inputs={"model": model_dir, "evaluation": str(evaluation_dir)},
        workdir=str(tmp_path / "work"),
    )
    card_dir = _path(checked.outputs.artifacts["card"].uri)
    assert os.path.isfile(os.path.join(card_dir, "model_card.html"))
    with open(os.path.join(card_dir, "model_card.json"), encoding="utf-8") as fh:
        card = json.load(fh)
    assert card["model_details"]["name"] == "Checked"
    assert card["model_parameters"]["data"] == []  # no examples given


def test_card_refuses_the_evaluation_of_another_model(run, tmp_path):
    result, _ = run
    model_dir = _path(result.outputs("trainer").artifacts["model"].uri)
    evaluation_dir = tmp_path / "evaluation"
    evaluation_dir.mkdir()
    source = _path(result.outputs("evaluator").artifacts["evaluation"].uri)
    with open(os.path.join(source, "evaluation.json"), encoding="utf-8") as fh:
        doc = json.load(fh)
    doc["model"]["fingerprint"] = "sha256:another-model"
    (evaluation_dir / "evaluation.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(AssertionError, match="Connect the same model to the Evaluator"):
        check_component(
            model_card_generator,
            inputs={"model": model_dir, "evaluation": str(evaluation_dir)},
        )
