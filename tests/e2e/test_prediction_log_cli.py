"""``conveyor data stats --from-predictions`` and ``conveyor data validate --serving LOGDIR``:
skew of logged traffic against training statistics, with --json and clear usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from conveyor.cli.data import data
from conveyor.cli.data_validate import validate_command
from conveyor.data.model import DataSchema, FeatureComparator, FeatureSchema, FeatureType
from conveyor.data.schema import save_schema
from conveyor.data.stats import compute_statistics
from conveyor.serve.predlog import PredictionLog

RNG = np.random.default_rng(3)


def _traffic(n: int, *, shift: int = 0) -> tuple[list[int], list[str]]:
    ages = (RNG.normal(40, 10, n).round() + shift).astype(int).tolist()
    jobs = RNG.choice(["clerk", "nurse", "pilot"], n, p=[0.5, 0.3, 0.2]).tolist()
    if shift:
        jobs = ["pilot" if i % 2 else j for i, j in enumerate(jobs)]
    return ages, jobs


def _log(root: Path, ages: list[int], jobs: list[str]) -> str:
    log = PredictionLog(str(root), input_types={"age": "INT", "job": "STRING"})
    for start in range(0, len(ages), 50):
        log.record(model="toy", version="1", role="primary",
                   columns={"age": ages[start:start + 50], "job": jobs[start:start + 50]},
                   outputs={"predictions": [0] * len(ages[start:start + 50])})  # fmt: skip
    log.close()
    return str(root)


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Training statistics (age, job and the label) and a schema with skew thresholds."""
    folder = tmp_path_factory.mktemp("training")
    ages, jobs = _traffic(3000)
    table = pa.table({"age": ages, "job": jobs, "label": [a > 40 for a in ages]})
    stats = folder / "statistics.json"
    stats.write_text(json.dumps(compute_statistics(table, split="train").to_dict()))
    schema = DataSchema([
        FeatureSchema("age", FeatureType.INT,
                      skew_comparator=FeatureComparator(jensen_shannon_divergence=0.1)),
        FeatureSchema("job", FeatureType.STRING, values=["clerk", "nurse", "pilot"],
                      skew_comparator=FeatureComparator(infinity_norm=0.1)),
        FeatureSchema("label", FeatureType.BOOL, not_in_environments=["SERVING"]),
    ])  # fmt: skip
    save_schema(schema, folder / "schema.yaml")
    return str(stats), str(folder / "schema.yaml")


def test_stats_from_predictions_as_json(tmp_path: Path) -> None:
    logs = _log(tmp_path, *_traffic(120))
    result = CliRunner().invoke(data, ["stats", "--from-predictions", logs, "--json"])
    assert result.exit_code == 0, result.output
    [serving] = json.loads(result.output)["datasets"]
    assert serving["name"] == "serving" and serving["num_rows"] == 120
    assert {f["name"]: f["type"] for f in serving["features"]} == {"age": "INT", "job": "STRING"}


def test_validate_finds_skew_in_shifted_traffic_and_none_in_normal_traffic(
    training: tuple[str, str], tmp_path: Path
) -> None:
    stats, schema = training
    runner = CliRunner()
    normal = _log(tmp_path / "normal", *_traffic(600))
    clean = runner.invoke(validate_command, [stats, "--schema", schema, "--serving", normal,
                                             "--json"])  # fmt: skip
    assert clean.exit_code == 0, clean.output
    measured = {d["path"]: d["skew_measurements"][0]["value"]
                for d in json.loads(clean.output)["drift_skew_info"]}  # fmt: skip
    assert set(measured) == {"age", "job"} and max(measured.values()) < 0.1

    shifted = _log(tmp_path / "shifted", *_traffic(600, shift=20))
    found = runner.invoke(validate_command, [stats, "--schema", schema, "--serving", shifted,
                                             "--json"])  # fmt: skip
    assert found.exit_code == 1, found.output
    anomalies = json.loads(found.output)["anomaly_info"]
    assert {k: [r["type"] for r in v["reasons"]] for k, v in anomalies.items()} == {
        "age": ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"],
        "job": ["COMPARATOR_L_INFTY_HIGH"],
    }


def test_a_schema_without_skew_thresholds_is_warned_about(
    training: tuple[str, str], tmp_path: Path
) -> None:
    stats, _ = training
    bare = tmp_path / "bare.yaml"
    save_schema(DataSchema([FeatureSchema("age", FeatureType.INT)]), bare)
    logs = _log(tmp_path / "logs", *_traffic(100, shift=30))
    result = CliRunner().invoke(validate_command, [stats, "--schema", str(bare), "--serving",
                                                   logs])  # fmt: skip
    assert "the schema sets no skew_comparator, so --serving checks no skew" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats"], "Give SOURCE files or --from-predictions DIR"),
        (["stats", "a.csv", "--from-predictions", "logs"], "(one of the two)"),
        (["stats", "--from-predictions", "LOGS", "--since", "yesterday"],
         "Cannot read the time 'yesterday'"),
        (["stats", "--from-predictions", "LOGS", "--since", "2h", "--until", "3h"],
         "The time window is empty"),
        (["stats", "--from-predictions", "LOGS", "--since", "2099-01-01"],
         "No logged prediction under"),
        (["stats", "--from-predictions", "LOGS", "--slice", "job"], "--slice and --weight"),
        (["stats", "--from-predictions", "nowhere"], "No prediction log folder at 'nowhere'"),
    ],
)  # fmt: skip
def test_usage_errors_say_what_to_do(tmp_path: Path, args: list[str], message: str) -> None:
    logs = _log(tmp_path, *_traffic(10))
    result = CliRunner().invoke(data, [logs if a == "LOGS" else a for a in args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_stats_of_the_logged_answers(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path))
    probabilities = [{"no": 0.9, "yes": 0.1}, {"no": 0.3, "yes": 0.7}]
    outputs = {"predictions": ["no", "yes"], "probabilities": probabilities}
    log.record(model="toy", version="1", role="primary", columns={"age": [30, 40]}, outputs=outputs)
    log.close()
    result = CliRunner().invoke(
        data, ["stats", "--from-predictions", str(tmp_path), "--outputs", "--json"]
    )
    assert result.exit_code == 0, result.output
    [answers] = json.loads(result.output)["datasets"]
    features = {f["name"]: f for f in answers["features"]}
    assert sorted(features) == ["predictions", "probabilities[no]", "probabilities[yes]"]
    assert features["probabilities[yes]"]["numeric"]["mean"] == pytest.approx(0.4)
    refused = CliRunner().invoke(data, ["stats", "x.csv", "--outputs"])
    assert refused.exit_code == 2 and "--outputs applies to --from-predictions" in refused.output
