"""The model card: Model Card Toolkit fields from an evaluation, data and text; its HTML page."""

from __future__ import annotations

import base64
import copy
import json
import math
import re
from collections import Counter
from typing import Any

import pyarrow as pa
import pytest

from conveyor.model.card import (
    ModelCardText,
    build_model_card,
    class_distribution,
    default_sensitive_features,
)
from conveyor.model.card_html import model_card_view, render_model_card_html


def _slice(count: int, auc: float, recall: float, features: dict[str, str], **extra: Any) -> dict:
    return {
        "count": count,
        "metrics": {
            "accuracy": 0.85,
            "roc_auc": auc,
            "recall": recall,
            "calibration": math.inf,
            "log_loss": None,
            "confusion_matrix": [[2800, 200], [400, 600]],
        },
        "too_small": False,
        "features": features,
        **extra,
    }


EVALUATION: dict[str, Any] = {
    "format_version": 1,
    "task": "classification",
    "label": "income_gt_50k",
    "classes": [0, 1],
    "split": "eval",
    "config": {
        "metrics": [],
        "slices": [{"feature_keys": ["sex"], "buckets": {}}],
        "thresholds": [
            {
                "metric": "roc_auc",
                "lower_bound": 0.7,
                "direction": "higher_is_better",
                "slices": ["overall"],
            }
        ],
        "min_slice_size": 30,
        "first_run_policy": "value_thresholds",
        "no_thresholds_policy": "bless",
    },
    "model": {
        "uri": "file:///store/model",
        "fingerprint": "sha256:0123456789abcdef0123",
        "artifact_id": 12,
        "framework": "lightgbm",
    },
    "baseline": None,
    "bootstrap": {"resamples": 200, "confidence": 0.95, "seed": 0},
    "slices": {
        "overall": _slice(
            4000, 0.81, 0.5, {}, intervals={"accuracy": [0.84, 0.86], "roc_auc": [0.80, 0.82]}
        ),
        "sex=Female": _slice(1300, 0.78, 0.4, {"sex": "Female"}, intervals={"roc_auc": [0.7, 0.8]}),
        "sex=Male": _slice(2680, 0.82, 0.55, {"sex": "Male"}),
        "sex=null": {"count": 20, "metrics": {}, "too_small": True, "features": {"sex": "null"}},
    },
    "changes": {},
    "fairness": {
        "metrics": ["recall"],
        "features": {
            "sex": {
                "recall": {
                    "values": {"Female": 0.4, "Male": 0.55},
                    "gap": 0.15,
                    "ratio": 0.727,
                    "max_slice": "sex=Male",
                    "min_slice": "sex=Female",
                }
            }
        },
        "largest": {
            "feature": "sex",
            "metric": "recall",
            "gap": 0.15,
            "max_slice": "sex=Male",
            "min_slice": "sex=Female",
        },
    },
    "blessing": {
        "blessed": True,
        "reason": "FIRST_RUN_VALUE_THRESHOLDS_ONLY",
        "failures": [],
        "skipped": [],
        "forced": False,
        "force_reason": None,
        "has_baseline": False,
    },
}

TRAIN = pa.table(
    {
        "sex": ["Female", "Male", "Male", None, "Female", "Male", "Female", "Male"],
        "age": [25.0, 40.0, float("nan"), 61.0, 33.0, 18.0, 52.0, None],
        "income_gt_50k": [0, 1, 1, 0, 1, 0, 0, 1],
    }
)
EVAL = pa.table(
    {"sex": ["Male", "Female", "Male"], "age": [30.0, 45.0, 70.0], "income_gt_50k": [1, 0, 0]}
)


def _card(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("data", {"train": TRAIN, "eval": EVAL})
    kwargs.setdefault("run", {"run_id": "r-7", "pipeline": "census", "execution_id": 3})
    return build_model_card(copy.deepcopy(kwargs.pop("evaluation", EVALUATION)), **kwargs)


def _metric(card: dict[str, Any], slice_name: str, metric: str) -> dict[str, Any]:
    found = [
        m
        for m in card["quantitative_analysis"]["performance_metrics"]
        if m["slice"] == slice_name and m["type"] == metric
    ]
    assert len(found) == 1, (slice_name, metric, found)
    return found[0]


def test_build_model_card_fills_the_model_card_toolkit_sections():
    text = ModelCardText(
        name="Income classifier",
        version="1.2",
        owners=[{"name": "Risk team", "contact": "risk@example.com"}],
        references=["https://example.com/paper"],
        intended_use="Pre-screening loan applications.",
        limitations=["Census data from 1994."],
        ethical_considerations=[{"name": "Sex bias", "mitigation_strategy": "Gate the gap."}],
        licenses=["Apache-2.0"],
    )
    card = _card(text=text, date="2024-05-01")
    details = card["model_details"]
    assert details["name"] == "Income classifier"
    assert details["version"] == {"name": "1.2", "date": "2024-05-01"}
    assert details["owners"] == [{"name": "Risk team", "contact": "risk@example.com"}]
    assert details["licenses"] == [{"identifier": "Apache-2.0"}]
    assert details["path"] == "file:///store/model"
    refs = [r["reference"] for r in details["references"]]
    assert refs == ["https://example.com/paper", "conveyor runs show r-7", "conveyor lineage 12"]
    assert set(details) >= {"overview", "citations"}
    params = card["model_parameters"]
    assert params["model_architecture"].startswith("lightgbm")
    assert [d["name"] for d in params["data"]] == ["train", "eval"]
    assert [d["rows"] for d in params["data"]] == [8, 3]
    assert params["data"][0]["sensitive"] == {"sensitive_data": ["sex"]}
    considerations = card["considerations"]
    assert considerations["use_cases"] == [{"description": "Pre-screening loan applications."}]
    assert considerations["limitations"] == [{"description": "Census data from 1994."}]
    assert considerations["ethical_considerations"] == [
        {"name": "Sex bias", "mitigation_strategy": "Gate the gap."}
    ]
    ext = card["conveyor"]
    assert ext["run"] == {"run_id": "r-7", "pipeline": "census", "execution_id": 3}
    assert ext["blessing"]["blessed"] is True
    assert ext["blessing"]["reason"] == "FIRST_RUN_VALUE_THRESHOLDS_ONLY"
    assert ext["fairness"]["largest"]["gap"] == 0.15
    assert ext["lineage"] == ["conveyor runs show r-7", "conveyor lineage 12"]
    assert ext["confusion_matrix"] == {"labels": ["0", "1"], "matrix": [[2800, 200], [400, 600]]}
    assert any("sex=null" in note for note in ext["notes"])  # too small to judge


def test_defaults_name_the_model_after_the_pipeline_and_version_after_the_artifact():
    card = _card()
    assert card["model_details"]["name"] == "census"
    assert card["model_details"]["version"]["name"] == "model #12"
    assert (
        "lightgbm classification model predicting 'income_gt_50k'"
        in (card["model_details"]["overview"])
    )


def test_class_distribution_counts_equal_a_direct_count():
    card = _card()
    for dataset, table in zip(card["model_parameters"]["data"], (TRAIN, EVAL), strict=True):
        rows = table.to_pylist()
        expected: dict[str, Counter[str]] = {}
        for row in rows:
            sex = "null" if row["sex"] is None else row["sex"]
            expected.setdefault(sex, Counter())[str(row["income_gt_50k"])] += 1
        assert dataset["class_distribution"]["sex"] == {k: dict(v) for k, v in expected.items()}
        assert sum(sum(v.values()) for v in dataset["class_distribution"]["sex"].values()) == len(
            rows
        )


def test_class_distribution_buckets_numbers_like_the_evaluation_and_counts_nan_as_null():
    counts = class_distribution(TRAIN, "age", "income_gt_50k", buckets=[30.0, 50.0])
    assert counts == {
        "(-inf,30)": {"0": 2},
        "[30,50)": {"1": 2},
        "[50,inf)": {"0": 2},
        "null": {"1": 2},
    }
    assert class_distribution(TRAIN, "age", None)["null"] == {"rows": 2}


def test_class_distribution_groups_rare_values_beyond_the_limit():
    table = pa.table({"zip": [f"z{i % 30}" for i in range(300)] + ["z0"] * 5, "y": [1] * 305})
    counts = class_distribution(table, "zip", "y", max_values=5)
    assert len(counts) == 5 and counts["z0"] == {"1": 15}
    assert sum(c["1"] for c in counts.values()) == 305


def test_confidence_intervals_and_thresholds_are_mapped_to_performance_metrics():
    card = _card()
    auc = _metric(card, "overall", "roc_auc")
    assert auc == {
        "type": "roc_auc",
        "value": "0.81",
        "slice": "overall",
        "confidence_interval": {"lower_bound": "0.8", "upper_bound": "0.82"},
        "threshold": ">= 0.7",
    }
    assert _metric(card, "sex=Female", "roc_auc")["confidence_interval"] == {
        "lower_bound": "0.7",
        "upper_bound": "0.8",
    }
    assert "confidence_interval" not in _metric(card, "sex=Male", "roc_auc")
    assert "threshold" not in _metric(card, "sex=Male", "roc_auc")  # threshold on overall only
    assert _metric(card, "overall", "calibration")["value"] == "inf"
    types = {m["type"] for m in card["quantitative_analysis"]["performance_metrics"]}
    assert "log_loss" not in types and "confusion_matrix" not in types


def test_card_is_strict_json_even_with_infinite_values():
    evaluation = copy.deepcopy(EVALUATION)
    evaluation["fairness"]["features"]["sex"]["recall"]["ratio"] = math.inf
    card = _card(evaluation=evaluation)
    text = json.dumps(card, allow_nan=False)
    assert json.loads(text) == card
    assert card["conveyor"]["fairness"]["features"]["sex"]["recall"]["ratio"] == "inf"


def test_regression_card_has_no_confusion_matrix_and_counts_rows_per_value():
    evaluation = {
        "task": "regression",
        "label": "price",
        "config": {"slices": [{"feature_keys": ["city"]}]},
        "slices": {
            "overall": {"count": 4, "metrics": {"mae": 1.5, "rmse": 2.0, "r2": -0.2, "mape": None}},
            "city=A": {"count": 3, "metrics": {"mae": 1.0, "rmse": 1.2}, "too_small": True},
        },
        "fairness": None,
        "blessing": {"blessed": False, "reason": "NOT_BLESSED_THRESHOLDS", "failures": [
            {"slice": "overall", "metric": "rmse", "message": "rmse 2.0 > 1.5"}]},
    }  # fmt: skip
    table = pa.table({"city": ["A", "A", "A", "B"], "price": [1.0, 2.0, 3.0, 4.0]})
    card = build_model_card(evaluation, data={"eval": table})
    assert card["conveyor"]["confusion_matrix"] is None
    assert card["conveyor"]["headline_metrics"] == ["rmse", "mae", "r2"]
    assert card["model_parameters"]["data"][0]["class_distribution"] == {
        "city": {"A": {"rows": 3}, "B": {"rows": 1}}
    }
    assert "A number" in card["model_parameters"]["output_format"]
    names = [g["name"] for g in card["quantitative_analysis"]["graphics"]["collection"]]
    assert names == ["rmse by slice", "mae by slice", "r2 by slice"]
    page = render_model_card_html(card)
    assert "Not blessed" in page and "rmse 2.0 &gt; 1.5" in page


def test_user_text_and_slice_names_are_escaped_in_the_html():
    evil = "<script>alert(1)</script>"
    evaluation = copy.deepcopy(EVALUATION)
    evaluation["slices"][f"sex={evil}"] = _slice(40, 0.5, 0.1, {"sex": evil})
    text = ModelCardText(
        name=f"Model {evil}",
        intended_use=f"Use {evil}",
        owners=[{"name": evil, "contact": '"><img src=x onerror=alert(1)>'}],
        references=["javascript:alert(1)"],
        limitations=[evil],
        ethical_considerations=[{"name": evil, "mitigation_strategy": evil}],
    )
    data = {"train": pa.table({"sex": [evil, "Male"], "income_gt_50k": [1, 0]})}
    page = render_model_card_html(_card(text=text, data=data))
    assert "<script" not in page.lower()
    assert "<img" not in page and "href=" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for graphic in _card(text=text, data=data)["quantitative_analysis"]["graphics"]["collection"]:
        assert "<script" not in base64.b64decode(graphic["image"]).decode()


def test_html_is_self_contained_with_titled_svg_charts():
    card = _card(text=ModelCardText(references=["https://example.com/paper"]))
    page = render_model_card_html(card)
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<script|<link""", page, re.IGNORECASE)
    svgs = re.findall(r"<svg\b[^>]*>", page)
    # 3 headline metrics (roc_auc, recall, accuracy), the confusion matrix, 2 label charts
    assert len(svgs) == 6
    assert all('aria-label="' in s for s in svgs)
    assert (
        page.count("<svg") == page.count("</svg>") == len(re.findall(r"<svg\b[^>]*><title>", page))
    )
    assert "Blessed" in page and "Largest fairness gap" in page and "sex=Female" in page


def test_graphics_are_base64_svg_named_by_what_they_show():
    card = _card()
    train_graphics = card["model_parameters"]["data"][0]["graphics"]["collection"]
    assert [g["name"] for g in train_graphics] == ["Label by sex (train)"]
    svg = base64.b64decode(train_graphics[0]["image"]).decode()
    assert svg.startswith("<svg") and "<title>Label by sex (train)</title>" in svg
    names = [g["name"] for g in card["quantitative_analysis"]["graphics"]["collection"]]
    assert names == ["roc_auc by slice", "recall by slice", "accuracy by slice", "Confusion matrix"]


def test_blessing_document_overrides_the_evaluation_decision():
    blessing = {"blessed": True, "reason": "FORCED", "forced": True, "force_reason": "hotfix"}
    card = _card(blessing=blessing)
    decision = card["conveyor"]["blessing"]
    assert decision["reason"] == "FORCED" and decision["forced"] is True
    assert "hotfix" in decision["explanation"]
    no_decision = copy.deepcopy(EVALUATION)
    del no_decision["blessing"]
    decision = _card(evaluation=no_decision)["conveyor"]["blessing"]
    assert decision["blessed"] is None and "No decision" in decision["explanation"]
    assert "No decision" in render_model_card_html(_card(evaluation=no_decision))


def test_infra_blessing_is_summarised():
    card = _card(infra_blessing={"blessed": False, "reason": "LOAD_FAILED", "load_seconds": 1.5})
    assert card["conveyor"]["infra_blessing"]["reason"] == "LOAD_FAILED"
    page = render_model_card_html(card)
    assert "Infra validation" in page and "LOAD_FAILED" in page and "failed" in page


def test_named_sensitive_feature_missing_from_a_split_fails_with_the_columns():
    with pytest.raises(ValueError, match=r"'race' is not in split 'train'.*sensitive_features"):
        _card(sensitive_features=["race"])


def test_default_sensitive_features_come_from_fairness_then_slices():
    assert default_sensitive_features(EVALUATION) == ["sex"]
    evaluation = {"config": {"slices": [{"feature_keys": ["a"], "buckets": {"age": [30]}}]}}
    assert default_sensitive_features(evaluation) == ["a", "age"]
    card = _card(data={"train": pa.table({"income_gt_50k": [1, 0]})}, evaluation={
        **EVALUATION, "fairness": None})  # fmt: skip
    assert card["model_parameters"]["data"][0]["sensitive"] == {"sensitive_data": []}
    assert "Not in this split: sex" in card["model_parameters"]["data"][0]["description"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"owners": [{"contact": "x@y"}]}, r"owners\[0\] needs a 'name'"),
        ({"owners": [{"name": "a", "email": "x"}]}, r"owners\[0\] must have only keys"),
        ({"ethical_considerations": [{"mitigation_strategy": "m"}]}, "needs a 'name'"),
        ({"limitations": "one long text"}, "takes a list of texts"),
    ],
)
def test_model_card_text_rejects_malformed_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelCardText(**kwargs)


def test_model_card_view_returns_the_page_of_a_model_card_only(tmp_path):
    (tmp_path / "model_card.html").write_text("<p>card</p>", encoding="utf-8")
    assert model_card_view("conveyor.ModelCard", f"file://{tmp_path}") == "<p>card</p>"
    assert model_card_view("conveyor.ModelCard", str(tmp_path / "missing")) is None
    assert model_card_view("conveyor.Model", str(tmp_path)) is None


def test_a_seen_split_warning_is_a_limitation_of_the_card():
    evaluation = copy.deepcopy(EVALUATION)
    message = "The 'eval' split this model is judged on also chose it (tuning in step 'tuner')"
    evaluation["blessing"]["warnings"] = [{"kind": "seen_split", "message": message}]
    card = _card(evaluation=evaluation)
    assert card["conveyor"]["notes"][0] == message
    assert message.replace("'", "&#39;") in render_model_card_html(card)
    refused = _card(blessing={"blessed": False, "reason": "NOT_BLESSED_SEEN_SPLIT"})
    assert "also chose it" in refused["conveyor"]["blessing"]["explanation"]
