"""The two sides of ``serving.py``: our models (trained here), the MLflow model and the floors
(scripts run by each side's own Python), and the Python load client used when wrk is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABEL = "income_gt_50k"

FLOOR = """
import json, statistics, sys, time
import conveyor
from conveyor.model.rows import as_table

model = conveyor.load_model(sys.argv[1])
rows = json.load(open(sys.argv[2]))["rows"]

def median_ms(fn, n):
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 3)

x1 = model.transform.matrix(as_table(rows[:1]))
print("RESULT " + json.dumps({
    "predict_1_ms": median_ms(lambda: model.predict(rows[:1]), 300),
    "predict_1000_ms": median_ms(lambda: model.predict(rows), 30),
    "estimator_1_ms": median_ms(lambda: model.estimator.predict_proba(x1), 300),
}))
"""

MLFLOW_SIDE = """
import json, statistics, sys, time
import mlflow.pyfunc, mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
train, rows, folder = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2]), sys.argv[3]
pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
    train[NUMERIC], train["income_gt_50k"]
)
mlflow.sklearn.save_model(
    pipe, folder, signature=infer_signature(train[NUMERIC], pipe.predict(train[NUMERIC]))
)
model = mlflow.pyfunc.load_model(folder)
one, many = rows[NUMERIC].head(1), rows[NUMERIC]

def median_ms(fn, n):
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 3)

print("RESULT " + json.dumps({
    "predict_1_ms": median_ms(lambda: model.predict(one), 300),
    "predict_1000_ms": median_ms(lambda: model.predict(many), 30),
}))
"""

_LOAD = """
import http.client, json, statistics, sys, threading, time
from urllib.parse import urlsplit

url, body, clients, seconds = urlsplit({url!r}), open({body!r}, "rb").read(), {clients}, {seconds}
latencies, errors, lock = [], [0], threading.Lock()
deadline = time.perf_counter() + seconds

def client():
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    mine, bad = [], 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            conn.request("POST", url.path, body, {{"Content-Type": "application/json"}})
            response = conn.getresponse()
            response.read()
            bad += response.status != 200
        except OSError:
            bad += 1
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        mine.append(time.perf_counter() - t0)
    with lock:
        latencies.extend(mine)
        errors[0] += bad

start = time.perf_counter()
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
took = time.perf_counter() - start
latencies.sort()
p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
print(f"RESULT requests={{len(latencies)}} rps={{len(latencies) / took:.1f}} "
      f"p50_ms={{statistics.median(latencies) * 1000:.3f}} p99_ms={{p99 * 1000:.3f}} "
      f"errors={{errors[0]}}")
"""


def load_client(url: str, body: str, clients: int, seconds: float) -> str:
    """The bounded Python load client's code (``python -c``), printing wrk's RESULT line."""
    return _LOAD.format(url=url, body=body, clients=clients, seconds=seconds)


def train_ours(
    train_csv: Path, eval_csv: Path, folder: Path, numeric: list[str]
) -> dict[str, dict[str, Any]]:
    """Our two models: ``conveyor`` (the anchor's: the numeric columns, scaled, logistic
    regression) and ``census`` (every column through the bundled transform); for each its
    folder, its 1,000 request rows, their columns and the labels the model gives them."""
    import numpy as np
    import pyarrow.csv as pv
    from sklearn.linear_model import LogisticRegression

    from conveyor.data.schema import infer_schema
    from conveyor.data.stats import compute_statistics
    from conveyor.model.saved import load_model, save_model
    from conveyor.model.transform import fit_transform

    table = pv.read_csv(train_csv)
    evaluation = pv.read_csv(eval_csv)
    y = np.asarray(table.column(LABEL), dtype=np.int64)
    models: dict[str, dict[str, Any]] = {}
    for side, name, columns in (
        ("conveyor", "income_lr", numeric),
        ("census", "census", [c for c in table.column_names if c != LABEL]),
    ):
        part = table.select([*columns, LABEL])
        schema = infer_schema(compute_statistics(part, split="train"))
        fitted = fit_transform(part, schema, LABEL)
        estimator = LogisticRegression(max_iter=1000).fit(fitted.matrix(part), y)
        path = folder / name
        save_model(str(path), estimator, fitted, task="classification", label=LABEL,
                   classes=[0, 1], schema=schema)  # fmt: skip
        rows = evaluation.select(columns).to_pylist()
        expected = load_model(str(path)).predict(rows).tolist()
        models[side] = {"path": str(path), "rows": rows, "columns": columns, "expected": expected}
    return models
