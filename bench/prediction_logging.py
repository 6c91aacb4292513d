"""Prediction logging: what ``conveyor serve --log-predictions`` costs a request.

Two servers of the same LightGBM census model (the one ``batch_scoring.py`` trains) run side
by side, one without logging (the anchor) and one logging every request
(``--log-predictions``). Rounds alternate between them (order shuffled per round): sequential
1-row requests, then 1,000-row requests, from one keep-alive client on loopback. The floor is
also measured: ``PredictionLog.record`` in process, per call, for 1 and 1,000 rows.

Targets: logging adds at most 10% (or 0.5 ms, whichever is larger) to the p50 of a 1-row and
of a 1,000-row request. Checked: after a graceful stop, the logged server's files hold exactly
the rows it answered, none dropped. Exits 1 on a missed target or a failed check.

    .venv/bin/python bench/prediction_logging.py               # 3 rounds of 200 + 10 requests
    .venv/bin/python bench/prediction_logging.py --rounds 5 --requests 400
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from _server import Server, add_round_arguments
from batch_scoring import LABEL, census_model

HERE = Path(__file__).resolve().parent
MAX_RATIO = 1.10
MIN_SLACK_MS = 0.5


def _rows(folder: str, n: int) -> list[dict[str, Any]]:
    path = os.path.join(folder, "requests.parquet")
    if not os.path.exists(path):
        subprocess.run([sys.executable, str(HERE / "make_tabular.py"), "--rows", str(n),
                        "--seed", "9", "--out", path], check=True, capture_output=True)  # fmt: skip
    return [{k: v for k, v in r.items() if k != LABEL} for r in pq.read_table(path).to_pylist()]


def _timed(client: httpx.Client, url: str, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    response = client.post(url, json=body)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        sys.exit(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed * 1000


def _record_floor(rows: list[dict[str, Any]], folder: str) -> dict[str, float]:
    """Microseconds per ``PredictionLog.record`` call, in process (the writer thread runs)."""
    from conveyor.serve.predlog import PredictionLog

    out = {}
    for n in (1, 1000):
        columns = {k: [r[k] for r in rows[:n]] for k in rows[0]}
        outputs = {"predictions": [0] * n, "probabilities": [{"0": 0.5, "1": 0.5}] * n}
        log = PredictionLog(os.path.join(folder, f"floor-{n}"), max_buffered_rows=10**7)
        calls = 20_000 if n == 1 else 200
        start = time.perf_counter()
        for _ in range(calls):
            log.record(model="m", version="1", role="primary", columns=columns, outputs=outputs)
        out[f"record_{n}_row_us"] = (time.perf_counter() - start) / calls * 1e6
        log.close()
    return out


def _p(values: list[float], q: int) -> float:
    """The ``q``-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_round_arguments(parser)
    args = parser.parse_args(argv)
    os.makedirs(args.data_dir, exist_ok=True)
    model = census_model(args.data_dir)
    rows = _rows(args.data_dir, 2000)
    logs = tempfile.mkdtemp(prefix="conveyor-predlog-bench-")
    servers = {
        "plain": Server(model),
        "logged": Server(model, "--log-predictions", "--log-dir", logs),
    }
    name = os.path.basename(model.rstrip(os.sep))
    latencies: dict[str, dict[str, list[float]]] = {s: {"1": [], "1000": []} for s in servers}
    sent = {s: 0 for s in servers}
    rng = random.Random(0)
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(args.rounds):
                order = list(servers)
                rng.shuffle(order)
                for key in order:
                    url = f"{servers[key].url}/v1/models/{name}:predict"
                    for i in range(args.requests):
                        row = rows[(i * 7) % len(rows)]
                        latencies[key]["1"].append(_timed(client, url, {"rows": [row]}))
                    for b in range(args.batches):
                        batch = rows[(b * 100) % 1000 :][:1000]
                        latencies[key]["1000"].append(_timed(client, url, {"rows": batch}))
                    sent[key] += args.requests + args.batches * 1000
    finally:
        for server in servers.values():
            server.stop()
    files = [os.path.join(d, f) for d, _, fs in os.walk(logs) for f in fs]
    logged_rows = sum(pq.read_metadata(f).num_rows for f in files if f.endswith(".parquet"))
    floor = _record_floor(rows, logs)
    result: dict[str, Any] = {"sent_to_logged_server": sent["logged"], "rows_in_logs": logged_rows,
                              **{k: round(v, 2) for k, v in floor.items()}}  # fmt: skip
    ok = logged_rows == sent["logged"]
    print(f"{'case':<22}{'plain p50':>11}{'logged p50':>12}{'plain p99':>11}{'logged p99':>12}")
    targets = []
    for size in ("1", "1000"):
        plain, logged = latencies["plain"][size], latencies["logged"][size]
        p50 = (_p(plain, 50), _p(logged, 50))
        p99 = (_p(plain, 99), _p(logged, 99))
        print(f"{size + '-row request':<22}{p50[0]:>9.2f}ms{p50[1]:>10.2f}ms"
              f"{p99[0]:>9.2f}ms{p99[1]:>10.2f}ms")  # fmt: skip
        allowed = max(p50[0] * MAX_RATIO, p50[0] + MIN_SLACK_MS)
        met = p50[1] <= allowed
        ok = ok and met
        targets.append(f"[{'PASS' if met else 'FAIL'}] {size}-row p50 with logging "
                       f"{p50[1]:.2f} ms <= {allowed:.2f} ms")  # fmt: skip
        result[f"p50_{size}_ms"] = {"plain": round(p50[0], 3), "logged": round(p50[1], 3)}
        result[f"p99_{size}_ms"] = {"plain": round(p99[0], 3), "logged": round(p99[1], 3)}
    print("\n".join(targets))
    print(f"record() floor: {floor['record_1_row_us']:.1f} us for 1 row, "
          f"{floor['record_1000_row_us']:.1f} us for 1,000 rows")  # fmt: skip
    print(f"[{'PASS' if logged_rows == sent['logged'] else 'FAIL'}] rows in the logs "
          f"{logged_rows} == rows answered {sent['logged']}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
