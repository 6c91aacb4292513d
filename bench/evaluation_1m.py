"""Evaluation of 1M rows x 10 slices with bootstrap (200 resamples): the evaluator's library path.

A LightGBM model is trained on 100k rows of the census-like data, then the evaluator's work is
timed on 1M eval rows: predict (the bundled transform + model), point metrics overall and on
10 slices (``race`` x ``sex``), 200 Poisson-bootstrap resamples of every metric of every slice,
fairness gaps and the blessing decision. Target: under 30 s (issue 5).

    python bench/evaluation_1m.py [--rows 1000000] [--resamples 200] [--baseline]

``--baseline`` also scores a second model on the same resamples (paired differences), as an
evaluation against a production model does. Prints one JSON line prefixed with RESULT.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pv

from conveyor.data.schema import infer_schema
from conveyor.data.stats import compute_statistics
from conveyor.model.blessing import decide_blessing
from conveyor.model.bootstrap import Predictions, bootstrap_metrics
from conveyor.model.evaluation import OVERALL, EvalConfig, evaluate_slices
from conveyor.model.fairness import default_fairness_metrics, fairness_report
from conveyor.model.presets import create_estimator
from conveyor.model.saved import load_model, save_model
from conveyor.model.slicing import slice_groups
from conveyor.model.transform import fit_transform

HERE = Path(__file__).resolve().parent
LABEL = "income_gt_50k"


def _data(rows: int, seed: int, folder: str) -> str:
    out = os.path.join(folder, f"census_{rows}_{seed}.csv")
    if not os.path.exists(out):
        subprocess.run(
            [
                sys.executable,
                str(HERE / "make_tabular.py"),
                "--rows",
                str(rows),
                "--seed",
                str(seed),
                "--out",
                out,
            ],
            check=True,
            capture_output=True,
        )
    return out


def _train(table, folder: str, preset: str, params: dict) -> str:
    schema = infer_schema(compute_statistics(table, split="train"))
    fitted = fit_transform(table, schema, LABEL)
    y = np.asarray(table.column(LABEL).to_numpy(), dtype=np.int64)
    estimator, _ = create_estimator(preset, "classification", params)
    estimator.fit(fitted.matrix(table), y)
    path = os.path.join(folder, preset.replace(":", "_"))
    save_model(path, estimator, fitted, task="classification", label=LABEL, classes=[0, 1])
    return path


def _predict(model_path: str, table) -> Predictions:
    proba = load_model(model_path).predict_proba(table)
    return Predictions(np.argmax(proba, axis=1), proba)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "conveyor-bench"))
    args = parser.parse_args(argv)
    os.makedirs(args.data_dir, exist_ok=True)

    train = pv.read_csv(_data(100_000, 7, args.data_dir))
    eval_table = pv.read_csv(_data(args.rows, 0, args.data_dir))
    with tempfile.TemporaryDirectory() as folder:
        model_path = _train(train, folder, "lightgbm", {"n_estimators": 100})
        base_path = (
            _train(train, folder, "sklearn:LogisticRegression", {"max_iter": 200})
            if args.baseline
            else None
        )
        config = EvalConfig.from_dict(
            {
                "slices": [{"feature_keys": ["race", "sex"]}],
                "thresholds": [
                    {"metric": "roc_auc", "lower_bound": 0.75, "slices": ["overall", "race=*"]},
                    {"metric": "roc_auc", "change_absolute": -0.01},
                ],
                "bootstrap_resamples": args.resamples,
            }
        )
        t0 = time.perf_counter()
        truth = np.asarray(eval_table.column(LABEL).to_numpy(), dtype=np.int64)
        preds = _predict(model_path, eval_table)
        base_preds = None if base_path is None else _predict(base_path, eval_table)
        t_predict = time.perf_counter() - t0
        groups = slice_groups(eval_table, config.slices, len(truth))

        def points(p: Predictions) -> dict:
            return evaluate_slices(
                eval_table,
                truth,
                p.pred,
                p.proba,
                config,
                task="classification",
                classes=[0, 1],
                groups=groups,
            )

        slices = points(preds)
        base_slices = None if base_preds is None else points(base_preds)
        t_points = time.perf_counter() - t0 - t_predict
        rows = {OVERALL: np.arange(len(truth)), **{g.name: g.rows for g in groups}}
        boot = bootstrap_metrics(
            "classification",
            truth,
            preds,
            rows,
            baseline=base_preds,
            num_classes=2,
            resamples=config.bootstrap_resamples,
            confidence=config.confidence_level,
        )
        t_boot = time.perf_counter() - t0 - t_predict - t_points
        fairness = fairness_report(slices, default_fairness_metrics("classification", 2))
        blessing = decide_blessing(slices, base_slices, config, differences=boot.differences)
        total = time.perf_counter() - t0
    slice_count = len(slices) - 1
    result = {
        "rows": args.rows,
        "slices": slice_count,
        "resamples": args.resamples,
        "baseline": args.baseline,
        "seconds": round(total, 2),
        "predict_s": round(t_predict, 2),
        "point_metrics_s": round(t_points, 2),
        "bootstrap_s": round(t_boot, 2),
        "roc_auc": slices[OVERALL]["metrics"]["roc_auc"],
        "roc_auc_interval": boot.intervals()[OVERALL]["roc_auc"],
        "largest_gap": fairness["largest"] if fairness else None,
        "blessing": blessing.reason,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load": os.getloadavg()[0],
    }
    print(
        f"evaluation of {args.rows:,} rows x {slice_count} slices, {args.resamples} resamples"
        f"{' + paired baseline' if args.baseline else ''}: {total:.1f} s (predict "
        f"{t_predict:.1f} s, point metrics {t_points:.1f} s, bootstrap {t_boot:.1f} s); "
        f"target < 30 s: {'met' if total < 30 else 'MISSED'}"
    )
    print("RESULT " + json.dumps(result))
    return 0 if total < 30 else 1


if __name__ == "__main__":
    sys.exit(main())
