"""Online serving: ``conveyor serve`` and ``mlflow models serve`` of one model, side by side.

The model is the anchor's (``../shared/bench/anchors/mlflow/registry_bench.py``): a logistic
regression on the six numeric census columns, standardised. Both sides train it on the same
rows of ``make_tabular.py`` data: ours as a Conveyor model (the bundled transform scales the
columns as StandardScaler does), MLflow's as a scikit-learn ``Pipeline`` saved with
``mlflow.sklearn.save_model`` in the ``mlflow`` venv. A second Conveyor model, the census
classifier on all fourteen columns (strings one-hot encoded by the bundled transform), is
measured too, ours only.

Each round starts every server in turn (the first rotating), one worker each, on loopback, and
measures: start-up to the first answered predict request, the process tree's memory (summed
PSS), single-row requests with wrk at concurrency 1 and 16, and 1,000-row requests at
concurrency 1 in each side's two forms (``--duration`` seconds each, after one untimed
second). One row: ours ``{"rows": [...]}``, MLflow's ``{"dataframe_split": ...}`` (the
anchor's); 1,000 rows as objects: ours ``rows``, MLflow's ``dataframe_records``; 1,000 rows
in columns: ours ``{"columns": ...}``, MLflow's ``dataframe_split``. The answers are checked:
ours must equal ``conveyor.load_model(...).predict`` of the same rows; MLflow's labels must
agree with ours. Without wrk, a bounded Python client in a second process stands in. The
floor is each model's own in-process predict (1 and 1,000 rows), timed in a separate process.

Targets (medians of the rounds, side by side): requests/s at least 3x MLflow's at concurrency
1 and 16, p50 and p99 at most a third of its, the 1,000-row p50 (each form) at most a third,
start-up at most a third. Without the mlflow venv the ANCHORS.md figures stand in and the
targets are ``[INDICATIVE]``. Exit status 1 if a check failed or a target was missed.

    .venv/bin/python bench/serving.py                    # 3 rounds, 10 s per load
    .venv/bin/python bench/serving.py --reps 1 --duration 2 --skip-anchors
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared
from _serving_sides import FLOOR, MLFLOW_SIDE, load_client, train_ours

HERE = Path(__file__).resolve().parent
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
TARGET = 3.0
ANCHOR = {  # ANCHORS.md, Model serving (MLflow 3.17.2, one worker)
    "startup_s": 10.4,
    "c1_rps": 133.0,
    "c1_p50_ms": 7.2,
    "c1_p99_ms": 16.5,
    "c16_rps": 119.0,
    "c16_p50_ms": 130.0,
    "c16_p99_ms": 242.0,
    "split_p50_ms": 14.2,  # 1,000 rows, dataframe_split
}
LUA = """
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""
LOADS = (("c1", "row1", 1), ("c16", "row1", 16), ("batch", "rows1000", 1), ("split", "cols1000", 1))
BODIES = ("row1", "rows1000", "cols1000")


@dataclass
class Server:
    name: str
    argv: list[str]
    url: str
    bodies: dict[str, Path]
    expected: list[Any]  # the labels of the 1,000 rows
    exact: bool  # the answer must equal ``expected`` (else: agree on 99% of labels)
    path: Path | None = None  # put first on PATH (MLflow runs ``uvicorn`` from there)


@dataclass
class Record:
    case: str
    rep: int
    load1_before: float
    result: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def _load(url: str, body: Path, clients: int, seconds: float, scratch: Path) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) and errors of ``clients`` connections posting ``body``."""
    if shutil.which("wrk"):
        threads = str(min(clients, 2))
        argv = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
        argv += ["--timeout", "30s", "-s", str(scratch / "post.lua"), url]
    else:
        argv = [sys.executable, "-c", load_client(url, str(body), clients, seconds)]
    env = {**os.environ, "BODY_FILE": str(body)}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False).stdout
    found = re.search(r"RESULT (.*)", out)
    if not found:
        raise RuntimeError(f"the load client said no RESULT: {out[-400:]}")
    return {k: float(v) for k, v in (kv.split("=") for kv in found.group(1).split())}


def _tree_pss_mb(pid: int) -> float:
    return round(sum(shared._pss_bytes(p) for p in shared._tree([pid])) / 2**20, 1)


def _labels(server: Server, payload: bytes) -> list[Any]:
    return list(json.loads(payload)["predictions"])


def _check(server: Server, payload: bytes) -> str | None:
    got = _labels(server, payload)
    if len(got) != len(server.expected):
        return f"{len(got)} predictions for {len(server.expected)} rows"
    same = sum(str(a) == str(b) for a, b in zip(got, server.expected, strict=True))
    if server.exact and same != len(got):
        return f"{len(got) - same} predictions differ from the in-process model's"
    if same < 0.99 * len(got):
        return f"only {same} of {len(got)} labels agree with the Conveyor model's"
    return None


def run_server(server: Server, rep: int, seconds: float, scratch: Path) -> Record:
    """Start ``server``, time its first answer, load it, check it, stop it."""
    rec = Record(server.name, rep, round(os.getloadavg()[0], 2))
    log = open(scratch / f"{server.name}.log", "ab")  # noqa: SIM115 (closed below)
    port = _free_port()
    argv = [a.replace("{port}", str(port)) for a in server.argv]
    url = server.url.replace("{port}", str(port))
    env = shared.clean_env({"CONVEYOR_AGENT": "off", "PYTHONWARNINGS": "ignore"}, server.path)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env, start_new_session=True)
    one = server.bodies["row1"].read_bytes()
    try:
        while _post(url, one, timeout=5)[0] != 200:
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                rec.error = f"no answer (exit {proc.poll()}); see {log.name}"
                return rec
            time.sleep(0.02)
        rec.result["startup_s"] = round(time.perf_counter() - t0, 3)
        rec.result["pss_mb"] = _tree_pss_mb(proc.pid)
        for body in ("rows1000", "cols1000"):
            status, payload = _post(url, server.bodies[body].read_bytes())
            wrong = f"HTTP {status}" if status != 200 else _check(server, payload)
            rec.error = rec.error or wrong
        for name, body, clients in LOADS:
            _load(url, server.bodies[body], clients, 1, scratch)  # untimed warm-up
            got = _load(url, server.bodies[body], clients, seconds, scratch)
            if got["errors"]:
                rec.error = f"{name}: {got['errors']:.0f} failed requests"
            for key in ("rps", "p50_ms", "p99_ms"):
                rec.result[f"{name}_{key}"] = got[key]
        rec.result["pss_after_mb"] = _tree_pss_mb(proc.pid)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return rec


def _bodies(folder: Path, rows: list[dict[str, Any]], columns: list[str]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    split = {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}
    ours = {
        "row1": {"rows": rows[:1]},
        "rows1000": {"rows": rows},
        "cols1000": {"columns": {c: [r[c] for r in rows] for c in columns}},
    }
    theirs = {
        "row1": {"dataframe_split": {**split, "data": split["data"][:1]}},
        "rows1000": {"dataframe_records": rows},
        "cols1000": {"dataframe_split": split},
    }
    paths = {}
    for side, bodies in (("conveyor", ours), ("mlflow", theirs)):
        for key, body in bodies.items():
            path = folder / f"{side}_{key}.json"
            path.write_text(json.dumps(body))
            paths[f"{side}_{key}"] = path
    return paths


def _median(records: list[Record], case: str, key: str) -> float | None:
    values = [r.result[key] for r in records if r.case == case and not r.error and key in r.result]
    return statistics.median(values) if values else None


def _targets(records: list[Record], status: str, side_by_side: bool) -> list[shared.Target]:
    rows = []
    checks = [
        ("start-up to the first answer", "startup_s", "s", False),
        ("1 row, concurrency 1: requests/s", "c1_rps", "/s", True),
        ("1 row, concurrency 1: p50", "c1_p50_ms", "ms", False),
        ("1 row, concurrency 1: p99", "c1_p99_ms", "ms", False),
        ("1 row, concurrency 16: requests/s", "c16_rps", "/s", True),
        ("1 row, concurrency 16: p50", "c16_p50_ms", "ms", False),
        ("1 row, concurrency 16: p99", "c16_p99_ms", "ms", False),
        (
            "1,000 rows as objects (rows; dataframe_records), concurrency 1: p50",
            "batch_p50_ms",
            "ms",
            False,
        ),
        (
            "1,000 rows in columns (columns; dataframe_split), concurrency 1: p50",
            "split_p50_ms",
            "ms",
            False,
        ),
    ]
    for what, key, unit, higher in checks:
        ours = _median(records, "conveyor", key)
        theirs = _median(records, "mlflow", key) if side_by_side else ANCHOR.get(key)
        if ours is None or theirs is None:
            continue
        ratio = ours / theirs if higher else theirs / ours
        goal = f">= {TARGET:g}x MLflow's" if higher else f"<= 1/{TARGET:g} of MLflow's"
        rows.append(
            shared.Target(
                f"{what} {goal}",
                f"{ours:,.1f} {unit} vs {theirs:,.1f} {unit}: {ratio:.1f}x",
                ratio >= TARGET,
                "" if side_by_side else f"{status}; ANCHORS.md figure",
            )
        )
    return rows


def _floor(python: str, code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=False)
    found = re.search(r"RESULT (.*)", out.stdout)
    if not found:
        raise RuntimeError(f"the floor measurement failed: {out.stderr[-600:]}")
    return dict(json.loads(found.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = shared.bench_parser(__doc__, reps=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds of each load")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument("--skip-anchors", action="store_true", help="ours only")
    parser.add_argument("--no-census", action="store_true", help="skip the 14-column model")
    shared.add_location_arguments(parser, "where the mlflow venv lives")
    args = shared.parse_args(parser, argv)
    mlflow = (
        None if args.skip_anchors else shared.venv_python(args.venvs, "mlflow", module="mlflow")
    )
    status = shared.anchor_status("mlflow", mlflow)
    if args.skip_anchors:
        status = f"{shared.INDICATIVE}: --skip-anchors"
    print(f"MLflow: {status}; load client: {'wrk' if shutil.which('wrk') else 'Python'}")
    conveyor = [sys.executable, "-m", "conveyor", "serve"]
    with shared.scratch_dir("conveyor-serving-bench-", args.keep) as scratch:
        (scratch / "post.lua").write_text(LUA)
        data = scratch / "train.csv"
        for rows, seed, out in ((args.train_rows, 0, data), (1000, 1, scratch / "eval.csv")):
            subprocess.run(
                [sys.executable, str(HERE / "make_tabular.py"), "--rows", str(rows), "--seed",
                 str(seed), "--out", str(out)],
                check=True, capture_output=True,
            )  # fmt: skip
        trained = train_ours(data, scratch / "eval.csv", scratch / "models", NUMERIC)
        servers = []
        for name, model in trained.items():
            bodies = _bodies(scratch / "bodies" / name, model["rows"], model["columns"])
            servers.append(
                Server(
                    name,
                    [*conveyor, model["path"], "--port", "{port}", "--workers", "1"],
                    f"http://127.0.0.1:{{port}}/v1/models/{Path(model['path']).name}:predict",
                    {k: bodies[f"conveyor_{k}"] for k in BODIES},
                    model["expected"],
                    exact=True,
                )
            )
        if args.no_census:
            servers = servers[:1]
        floors = {
            s.name: _floor(
                sys.executable, FLOOR, trained[s.name]["path"], str(s.bodies["rows1000"])
            )
            for s in servers
        }
        if mlflow is not None:
            folder = scratch / "mlflow_model"
            floors["mlflow"] = _floor(
                str(mlflow), MLFLOW_SIDE, str(data), str(scratch / "eval.csv"), str(folder)
            )
            bodies = _bodies(scratch / "bodies" / "mlflow", trained["conveyor"]["rows"], NUMERIC)
            servers.append(
                Server(
                    "mlflow",
                    [str(mlflow.parent / "mlflow"), "models", "serve", "-m", str(folder),
                     "--env-manager", "local", "-p", "{port}", "--host", "127.0.0.1"],
                    "http://127.0.0.1:{port}/invocations",
                    {k: bodies[f"mlflow_{k}"] for k in BODIES},
                    trained["conveyor"]["expected"],
                    exact=False,
                    path=mlflow.parent,
                )
            )  # fmt: skip
        before = shared.load_averages()
        records: list[Record] = []
        for rep in range(args.reps):
            shift = rep % len(servers)
            for server in servers[shift:] + servers[:shift]:
                rec = run_server(server, rep, args.duration, scratch)
                records.append(rec)
                print(f"  {server.name} rep {rep + 1}: {rec.result} {rec.error or ''}", flush=True)
        after = shared.load_averages()

    side_by_side = mlflow is not None
    rows = _targets(records, status, side_by_side)
    ours_c1 = _median(records, "conveyor", "c1_p50_ms")
    ours_batch = _median(records, "conveyor", "batch_p50_ms")
    floor = floors["conveyor"]
    if ours_c1 is not None and ours_batch is not None:
        rows.append(
            shared.Target(
                "the floor: in-process load_model(...).predict (1 row; 1,000 rows)",
                f"{floor['predict_1_ms']:.2f} ms; {floor['predict_1000_ms']:.2f} ms; the server's "
                f"p50 is {ours_c1 - floor['predict_1_ms']:.2f} ms and "
                f"{ours_batch - floor['predict_1000_ms']:.2f} ms above it",
                None,
            )
        )
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {args.reps} rounds of {args.duration:g} s "
        f"loads  load average before {before} after {after}  ({os.cpu_count()} CPUs, conveyor "
        f"{shared.git_revision()})"
    )
    keys = ["startup_s", "pss_mb", "c1_rps", "c1_p50_ms", "c1_p99_ms", "c16_rps", "c16_p50_ms",
            "c16_p99_ms", "batch_p50_ms", "split_p50_ms"]  # fmt: skip
    print(f"\n{'server (medians)':<18}" + "".join(f"{k:>13}" for k in keys))
    for name in dict.fromkeys(r.case for r in records):
        cells = [_median(records, name, k) for k in keys]
        print(
            f"{name:<18}"
            + "".join(f"{c:>13,.2f}" if c is not None else f"{'-':>13}" for c in cells)
        )
    print("\nfloors (in-process, median ms):", json.dumps(floors))
    shared.print_targets(rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"floors": floors, "targets": [t.row() for t in rows],
                 "runs": [r.__dict__ for r in records], "mlflow": status},
                indent=2,
            )
        )  # fmt: skip
    failed = {"all": argparse.Namespace(failures=sum(bool(r.error) for r in records))}
    return shared.exit_status(failed, rows)


if __name__ == "__main__":
    sys.exit(main())
