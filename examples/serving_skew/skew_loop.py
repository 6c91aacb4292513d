"""The training/serving skew loop, end to end: train, serve with prediction logging, send
traffic, turn the logs into statistics and check them against training's.

    python skew_loop.py                # in examples/serving_skew; writes data/, models/, logs/

1. ``conveyor run pipeline.py``: examples, training statistics, schema, a LightGBM model.
2. The schema is curated: skew thresholds for a few features (``SKEW`` below), saved as
   ``schema.yaml``.
3. ``conveyor serve models/census --log-predictions --log-dir logs``, then traffic like the
   training data; the server stops (SIGTERM publishes the open log file) and
   ``conveyor data validate <training statistics> --schema schema.yaml --serving logs`` finds
   no skew.
4. The server starts again and gets shifted traffic: everyone 20 years older, and half of
   the rows' ``workclass`` turned to ``Self-emp-inc``. The same check, over the rows logged
   since the shift (``--since``), reports ``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH`` on
   ``age`` and ``COMPARATOR_L_INFTY_HIGH`` on ``workclass``.

The report goes to ``skew_report.json``; the script exits 0 when both checks found what they
should, 1 otherwise. ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAKE_DATA = HERE.parents[1] / "bench" / "make_tabular.py"
LABEL = "income_gt_50k"
MODEL = "census"

SKEW = {
    "age": {"jensen_shannon_divergence": 0.1},
    "hours_per_week": {"jensen_shannon_divergence": 0.1},
    "workclass": {"infinity_norm": 0.1},
    "occupation": {"infinity_norm": 0.1},
    "sex": {"infinity_norm": 0.1},
}
"""Skew thresholds by feature: Jensen-Shannon divergence for numbers, L-infinity distance for
categories (TFDV's skew comparators)."""

EXPECTED = {
    "age": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
    "workclass": "COMPARATOR_L_INFTY_HIGH",
}
"""What the shifted traffic must raise."""


def conveyor(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``conveyor ARGS`` in this Python, output captured."""
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        sys.exit(f"conveyor {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def make_data(rows: int) -> None:
    """Training data and the (unshifted) rows the clients will send."""
    os.makedirs("data", exist_ok=True)
    for name, seed in (("census.csv", "0"), ("traffic.csv", "7")):
        if not os.path.exists(f"data/{name}"):
            subprocess.run(
                [sys.executable, str(MAKE_DATA), "--rows", str(rows), "--seed", seed,
                 "--out", f"data/{name}"],
                check=True,
            )  # fmt: skip


def train() -> dict[str, str]:
    """Run the pipeline; the URIs of its training statistics, schema and model."""
    result = json.loads(conveyor("run", "pipeline.py", "--json").stdout)
    uris = {
        name: task["outputs"]["artifacts"][key]["uri"]
        for name, key in (("statistics_gen", "statistics"), ("schema_gen", "schema"),
                          ("trainer", "model"))
        for task in [result["tasks"][name]]
    }  # fmt: skip
    shutil.rmtree(f"models/{MODEL}", ignore_errors=True)
    shutil.copytree(uris["trainer"], f"models/{MODEL}")  # served under the folder's name
    return uris


def curate_schema(schema_uri: str) -> None:
    """The inferred schema with the skew thresholds of ``SKEW``, as ``schema.yaml``."""
    from conveyor.data.model import FeatureComparator
    from conveyor.data.schema import load_schema, save_schema

    schema = load_schema(schema_uri)
    features = [
        dataclasses.replace(f, skew_comparator=FeatureComparator(**SKEW[f.name]))
        if f.name in SKEW
        else f
        for f in schema.features
    ]
    save_schema(dataclasses.replace(schema, features=features), "schema.yaml")


def requests_rows(shifted: bool) -> list[dict[str, Any]]:
    """The traffic: ``data/traffic.csv`` without the label, shifted when asked."""
    with open("data/traffic.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for i, row in enumerate(rows):
        del row[LABEL]
        typed: dict[str, Any] = {
            k: (None if v == "" else int(v) if k in INTS else v) for k, v in row.items()
        }
        if shifted:
            typed["age"] = min(typed["age"] + 20, 90)
            if i % 2 == 0:
                typed["workclass"] = "Self-emp-inc"
        out.append(typed)
    return out


INTS = {"age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"}


class Server:
    """``conveyor serve`` with prediction logging, in the background."""

    def __init__(self, port: int) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "serve", f"models/{MODEL}", "--port",
             str(self.port), "--log-predictions", "--log-dir", "logs"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                sys.exit(f"conveyor serve did not start:\n{self.proc.communicate()[0]}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def predict(self, rows: list[dict[str, Any]], batch: int = 50) -> int:
        """Send ``rows`` in requests of ``batch`` rows; the number of rows answered."""
        answered = 0
        for start in range(0, len(rows), batch):
            body = json.dumps({"rows": rows[start : start + batch]}).encode()
            request = urllib.request.Request(
                f"{self.url}/v1/models/{MODEL}:predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                answered += len(json.load(response)["predictions"])
        return answered

    def stop(self) -> None:
        """SIGTERM: the server finishes, publishes its log file and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        if self.proc.wait(timeout=60) != 0:
            sys.exit(f"conveyor serve exited {self.proc.returncode}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_skew(statistics_uri: str, since: str) -> dict[str, list[str]]:
    """``conveyor data validate`` of the training statistics with the logged traffic since
    ``since`` as serving data: the anomaly types by feature."""
    done = conveyor(
        "data", "validate", statistics_uri, "--split", "train", "--schema", "schema.yaml",
        "--serving", "logs", "--since", since, "--json", check=False,
    )  # fmt: skip
    if done.returncode not in (0, 1):
        sys.exit(f"conveyor data validate failed ({done.returncode}):\n{done.stderr}")
    report = json.loads(done.stdout)
    return {
        feature: [r["type"] for r in info["reasons"]]
        for feature, info in sorted(report["anomaly_info"].items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=5000, help="rows of training data")
    parser.add_argument("--traffic", type=int, default=1000, help="rows sent per phase")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    make_data(max(args.rows, args.traffic))
    uris = train()
    curate_schema(uris["schema_gen"])
    report: dict[str, Any] = {}
    for phase, shifted in (("normal", False), ("shifted", True)):
        since = dt.datetime.now(dt.UTC).isoformat()
        server = Server(args.port)
        sent = server.predict(requests_rows(shifted)[: args.traffic])
        server.stop()
        anomalies = check_skew(uris["statistics_gen"], since)
        report[phase] = {"rows_sent": sent, "since": since, "anomalies": anomalies}
        found = ", ".join(f"{f}: {' '.join(t)}" for f, t in anomalies.items())
        print(f"{phase} traffic ({sent} rows since {since}): {found or 'no skew'}")
    shifted = report["shifted"]["anomalies"]
    ok = not report["normal"]["anomalies"] and all(
        kind in shifted.get(feature, []) for feature, kind in EXPECTED.items()
    )
    report["detected"] = ok
    with open("skew_report.json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    print("skew detected as expected" if ok else "UNEXPECTED: see skew_report.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
