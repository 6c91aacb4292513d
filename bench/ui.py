"""The web UI and its REST API over a large store: every page and API list under 300 ms of
server time (p95) with 10,000 runs of a 20-step pipeline and about a million metric points, on
SQLite and PostgreSQL; the run detail of a 100-step run under 300 ms; a 100,000-point metric
chart drawn in Chromium under 1 s; ``mlflow server`` searching the same runs side by side.

The data (``_ui_data.py``) is generated once per backend and cached. ``conveyor ui`` is started
over it (a subprocess on a free port); each case is one GET, timed by the server (its
``Server-Timing: app;dur=MS`` header) and by the client (wall time of the request and the
body). The first request of each case after the server started is reported as ``cold``; then
``--reps`` interleaved rounds (the first case rotating) give p50/p95. Every answer is checked
(the list's total, the filtered counts the generator knows, the series' points and its planted
spike); an endpoint that answers 404 or 405 is reported as "not built". MLflow's anchor
(``_ui_mlflow.py``) gets the same runs in its SQLite store; its UI's search request is timed in
the same rounds beside Conveyor's equivalent.

    python bench/ui.py                                # 10,000 runs, both backends, MLflow
    python bench/ui.py --backend sqlite --reps 30 --json ui.json
    python bench/ui.py --runs 200 --skip-anchor --no-browser   # a quick check
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _ui_checks as checks
import httpx
from _shared import (
    add_location_arguments,
    git_revision,
    load_averages,
    scratch_dir,
    venv_python,
)
from _ui_checks import Check
from _ui_data import Sizes, Toucher, build
from _ui_mlflow import SEARCH, MLflowServer, search_body
from _ui_mlflow import build as build_mlflow
from _ui_report import print_table, report
from _ui_server import UIServer, chart_timings, find_chromium

TARGET_MS = 300.0  # server time, p95, every page and API list
MAX_POINTS = 1000
_TIMING = re.compile(r"app;dur=([0-9.]+)")


@dataclass
class Case:
    """One GET (or MLflow POST) and the check of its answer."""

    name: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    check: Check | None = None
    page: bool = False
    anchor: dict[str, Any] | None = None  # MLflow's search body: an anchor case
    pair: str = ""  # the Conveyor case an anchor case is compared with
    beside: str = ""  # the backend whose rounds an anchor case ran in
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    cold: tuple[float | None, float] | None = None
    uncached_server_ms: list[float] = field(default_factory=list)
    uncached_client_ms: list[float] = field(default_factory=list)
    status: str = "ok"  # ok | not built | wrong: ...


def conveyor_cases(m: dict[str, Any]) -> list[Case]:
    """Every endpoint and page, with the answer the generated data implies."""
    runs, pipe = m["runs"] + 1, m["pipeline"]  # + the 100-step run
    hundred, compare = m["hundred_step_run"], m["compare"]
    deep = min(9000, max(runs - 50, 0))
    series = [("runs", m["long_run"]), ("name", m["long_series"]), ("max_points", str(MAX_POINTS))]
    raw = m["sizes"]["long_steps"]
    return [
        Case("runs.default", "/api/v1/runs", [], checks.total(runs, min(50, runs))),
        Case(
            "runs.pipeline+state",
            "/api/v1/runs",
            [("pipeline", pipe), ("state", "FAILED")],
            checks.total(m["failed"]),
        ),
        Case(
            "runs.param",
            "/api/v1/runs",
            [("param", "depth>=10")],
            checks.total(m["param_depth_ge_10"]),
        ),
        Case(
            "runs.metric",
            "/api/v1/runs",
            [("metric", "auc>=0.9")],
            checks.total(m["metric_auc_ge_0_9"]),
        ),
        Case(
            "runs.sort_metric",
            "/api/v1/runs",
            [("sort", "-metric:auc")],
            checks.first(m["best_auc"]),
        ),
        Case(
            "runs.offset_9000",
            "/api/v1/runs",
            [("offset", str(deep))],
            checks.total(runs, min(50, runs - deep)),
        ),
        Case(
            "runs.first100", "/api/v1/runs", [("limit", "100")], checks.total(runs, min(100, runs))
        ),
        Case(
            "runs.param+metric100",
            "/api/v1/runs",
            [("param", "optimizer=sgd"), ("metric", "auc>=0.9"), ("limit", "100")],
            checks.total(m["sgd_and_auc_ge_0_9"]),
        ),
        Case(
            "runs.sort_metric100",
            "/api/v1/runs",
            [("sort", "-metric:auc"), ("limit", "100")],
            checks.first(m["best_auc"]),
        ),
        Case("experiments", "/api/v1/experiments", [], checks.mentions("exp-00", "exp-19")),
        Case("pipelines", "/api/v1/pipelines", [], checks.mentions(pipe, "ui_chain100")),
        Case("run.100_steps", f"/api/v1/runs/{hundred}", [], checks.run_detail(100)),
        Case(
            "run.100_steps.graph",
            f"/api/v1/runs/{hundred}/graph",
            [],
            checks.mentions("step-99", length=("nodes", 100)),
        ),
        Case("run.20_steps", f"/api/v1/runs/{compare[0]}", [], checks.run_detail(20)),
        Case(
            "compare.2",
            "/api/v1/compare",
            [("runs", r) for r in compare[:2]],
            checks.mentions(*compare[:2]),
        ),
        Case(
            "compare.5",
            "/api/v1/compare",
            [("runs", r) for r in compare[:5]],
            checks.mentions(*compare[:5]),
        ),
        Case(
            "metrics.run",
            f"/api/v1/runs/{m['long_run']}/metrics",
            [],
            checks.mentions(m["long_series"], "loss"),
        ),
        Case(
            "metrics.series_100k", "/api/v1/metrics/series", series, checks.series(MAX_POINTS, raw)
        ),
        Case("models", "/api/v1/models", []),
        *(
            Case(f"page{p.split('?')[0]}", p, [], page=True)
            for p in (
                "/runs",
                f"/runs/{hundred}",
                "/experiments",
                "/pipelines",
                "/models",
                f"/compare?runs={compare[0]}&runs={compare[1]}",
                f"/charts?runs={m['long_run']}&name={m['long_series']}",
            )
        ),
    ]


def anchor_cases(m: dict[str, Any], experiment_ids: list[str], beside: str) -> list[Case]:
    """MLflow's UI search requests, each beside Conveyor's equivalent (``pair``) in the rounds
    of the backend ``beside``."""
    body = search_body
    return [
        Case(
            "mlflow.search.first100",
            SEARCH,
            anchor=body(experiment_ids),
            pair="runs.first100",
            beside=beside,
            check=checks.mlflow_runs(m["runs"]),
        ),
        Case(
            "mlflow.search.param+metric",
            SEARCH,
            anchor=body(experiment_ids, "params.optimizer = 'sgd' and metrics.auc >= 0.9"),
            pair="runs.param+metric100",
            beside=beside,
            check=checks.mlflow_runs(m["sgd_and_auc_ge_0_9"]),
        ),
        Case(
            "mlflow.search.sort_metric",
            SEARCH,
            anchor=body(experiment_ids, order="metrics.auc DESC"),
            pair="runs.sort_metric100",
            beside=beside,
            check=checks.mlflow_runs(m["runs"], m["best_auc"]),
        ),
    ]


def request(client: httpx.Client, case: Case) -> tuple[float | None, float, int, Any]:
    """One timed request: (server ms or None, client ms, status, parsed body or text)."""
    t0 = time.perf_counter()
    if case.anchor is not None:
        response = client.post(case.path, json=case.anchor)
    else:
        response = client.get(case.path, params=case.params)
    body = response.content
    client_ms = (time.perf_counter() - t0) * 1000
    timing = _TIMING.search(response.headers.get("server-timing", ""))
    server_ms = float(timing.group(1)) if timing else None
    if response.headers.get("content-type", "").startswith("application/json"):
        return server_ms, client_ms, response.status_code, json.loads(body)
    return server_ms, client_ms, response.status_code, body.decode(errors="replace")


def one(client: httpx.Client, case: Case, cold: bool = False, uncached: bool = False) -> None:
    if case.status != "ok":
        return
    server_ms, client_ms, status, body = request(client, case)
    if status in (404, 405) and not case.page:
        case.status = "not built"
        return
    wrong = None
    if status != 200:
        wrong = f"HTTP {status}: {str(body)[:300]}"
    elif case.page:
        wrong = None if "<html" in str(body).lower() else "not the page shell"
    elif case.check is not None:
        wrong = case.check(body)
    if wrong:
        case.status = f"wrong: {wrong}"
        return
    if case.anchor is None and server_ms is None:
        case.status = "wrong: no Server-Timing header"
        return
    if cold:
        case.cold = (server_ms, client_ms)
        return
    if uncached:
        if server_ms is not None:
            case.uncached_server_ms.append(server_ms)
        case.uncached_client_ms.append(client_ms)
        return
    if server_ms is not None:
        case.server_ms.append(server_ms)
    case.client_ms.append(client_ms)


def rounds(
    clients: dict[str, httpx.Client],
    cases: list[Case],
    reps: int,
    uncached: int,
    gap: float,
    touch: Callable[[], None],
) -> None:
    """A cold pass (the first request of each case), ``reps`` rotated rounds back to back,
    then ``uncached`` rounds, each after ``gap`` idle seconds (longer than the runs search
    keeps a result, 5 s) and with a run touched (untimed) before each Conveyor request: every
    search is computed again, as after a run changed or for a user's first look."""
    for case in cases:
        one(clients["mlflow" if case.anchor is not None else "conveyor"], case, cold=True)
    for r in range(reps + uncached):
        if r >= reps:
            time.sleep(gap)
        k = r % len(cases)
        for case in cases[k:] + cases[:k]:
            client = clients["mlflow" if case.anchor is not None else "conveyor"]
            if r >= reps and case.anchor is None:
                touch()
            one(client, case, uncached=r >= reps)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(case: Case, backend: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case": case.name,
        "backend": f"mlflow/{case.beside}" if case.anchor else backend,
        "status": case.status,
        "n": len(case.client_ms),
        "cold_server_ms": case.cold[0] if case.cold else None,
        "cold_client_ms": case.cold[1] if case.cold else None,
        "p50_server_ms": pct(case.server_ms, 50),
        "p95_server_ms": pct(case.server_ms, 95),
        "p50_client_ms": pct(case.client_ms, 50),
        "p95_client_ms": pct(case.client_ms, 95),
        "p95_uncached_server_ms": pct(case.uncached_server_ms, 95),
        "p50_uncached_client_ms": pct(case.uncached_client_ms, 50),
        "server_samples_ms": [round(x, 2) for x in case.server_ms],
        "uncached_server_samples_ms": [round(x, 2) for x in case.uncached_server_ms],
        "uncached_client_samples_ms": [round(x, 2) for x in case.uncached_client_ms],
        "client_samples_ms": [round(x, 2) for x in case.client_ms],
    }
    if case.anchor is None:
        row["target"] = f"p95 server < {TARGET_MS:.0f} ms"
        if case.status == "ok" and row["p95_server_ms"] is not None:
            worst = max(row["p95_server_ms"], row["p95_uncached_server_ms"] or 0.0)
            row["pass"] = worst < TARGET_MS
        else:
            row["pass"] = False if case.status.startswith("wrong") else None
    else:
        row["target"] = f"anchor of {case.pair}"
        row["pass"] = False if case.status.startswith("wrong") else None
    return row


def _how(manifest: dict[str, Any], verb: str) -> str:
    return "cached" if manifest["cached"] else f"{verb} in {manifest['generate_s']} s"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(rows: list[dict[str, Any]], anchors: list[Case]) -> list[dict[str, Any]]:
    """MLflow's client time over Conveyor's, per pair and backend (p50 and p95)."""
    out = []
    for a in anchors:
        if a.status != "ok" or not a.client_ms:
            continue
        for r in rows:
            if (
                r["case"] == a.pair
                and r["backend"] == a.beside
                and r["status"] == "ok"
                and r["p50_client_ms"]
            ):
                out.append(
                    {
                        "anchor": a.name,
                        "case": a.pair,
                        "backend": r["backend"],
                        "mlflow_p50_ms": pct(a.client_ms, 50),
                        "mlflow_p95_ms": pct(a.client_ms, 95),
                        "ratio_p50": pct(a.client_ms, 50) / r["p50_client_ms"],  # type: ignore[operator]
                        "ratio_p95": pct(a.client_ms, 95) / r["p95_client_ms"],  # type: ignore[operator]
                        "ratio_uncached_p50": _ratio(
                            pct(a.uncached_client_ms, 50), r["p50_uncached_client_ms"]
                        ),
                    }
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", "--rows", type=int, default=10_000, help="runs (10,000)")
    parser.add_argument("--curve-steps", type=int, help="steps of the 100 long loss curves")
    parser.add_argument("--long-steps", type=int, help="points of the long series (100,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--reps", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument(
        "--uncached-reps", type=int, default=5, help="rounds after an idle gap (default 5)"
    )
    parser.add_argument(
        "--gap", type=float, default=5.5, help="idle seconds before each uncached round (5.5)"
    )
    parser.add_argument("--browser-reps", type=int, default=5, help="chart loads (default 5)")
    parser.add_argument("--skip-anchor", action="store_true", help="no MLflow side by side")
    parser.add_argument("--no-browser", action="store_true", help="no Chromium chart timing")
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached data")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--conveyor", default=str(Path(sys.executable).with_name("conveyor")))
    add_location_arguments(parser)
    args = parser.parse_args(argv)
    small = args.runs < 1000
    sizes = Sizes(
        runs=args.runs,
        curves=min(100, max(args.runs // 10, 1)),
        curve_steps=args.curve_steps or (1000 if small else 10_000),
        long_steps=args.long_steps or (10_000 if small else 100_000),
    )
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    mlflow = None if args.skip_anchor else venv_python(args.venvs, "mlflow", module="mlflow")
    anchor_note = (
        "skipped (--skip-anchor)"
        if args.skip_anchor
        else "side by side"
        if mlflow
        else "indicative: no mlflow venv"
    )
    chromium = None if args.no_browser else find_chromium()
    meta = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "reps": args.reps,
        "sizes": vars(sizes),
        "conveyor_git": git_revision(),
        "loadavg_before": load_averages(),
        "anchor": anchor_note,
        "browser": chromium or "none",
    }
    print(
        f"UI bench: {sizes.runs} runs, {args.reps} rounds, backends {', '.join(backends)}, "
        f"MLflow {anchor_note}, Chromium {chromium or 'none'}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    charts: list[dict[str, Any]] = []
    anchors: list[Case] = []
    with scratch_dir("conveyor-bench-ui-", args.keep) as scratch:
        anchor = start_anchor(mlflow, sizes, args.conveyor, scratch) if mlflow else None
        try:
            for backend in backends:
                measure_backend(
                    backend, sizes, args, scratch, chromium, anchor, rows, charts, anchors
                )
        finally:
            if anchor is not None:
                anchor[0].stop()
    rows += [summary(a, "mlflow") for a in anchors]
    ratio_rows = ratios(rows, anchors)
    meta["loadavg_after"] = load_averages()
    print_table(rows)
    return report(rows, charts, ratio_rows, meta, args.json)


def start_anchor(
    mlflow: Path, sizes: Sizes, conveyor: str, scratch: Path
) -> tuple[MLflowServer, list[str]]:
    """MLflow's store holding the runs of the (SQLite) Conveyor data, and its server; with the
    experiment ids its search names."""
    sq = build("sqlite", sizes, conveyor)
    source = Path(sq["url"].removeprefix("sqlite:///"))
    target = source.with_name(source.name.replace("ui-sqlite", "ui-mlflow"))
    stamp = str(source.with_suffix(".json").stat().st_mtime_ns)
    am = build_mlflow(mlflow, source, stamp, target, sq["pipeline"])
    print(
        f"mlflow: {am['runs']} runs, {am['metric_points']:,} metric points ({_how(am, 'built')})",
        flush=True,
    )
    return MLflowServer(mlflow.with_name("mlflow"), target, scratch), am["experiment_ids"]


def measure_backend(
    backend: str,
    sizes: Sizes,
    args: argparse.Namespace,
    scratch: Path,
    chromium: str | None,
    anchor: tuple[MLflowServer, list[str]] | None,
    rows: list[dict[str, Any]],
    charts: list[dict[str, Any]],
    anchors: list[Case],
) -> None:
    """Every case on ``backend`` (MLflow's beside them when ``anchor``), the chart in
    Chromium; the summaries appended to ``rows``, ``charts`` and ``anchors``."""
    m = build(backend, sizes, args.conveyor, fresh=args.fresh)
    print(
        f"{backend}: {m['runs']} runs, {m['metric_points']:,} metric points "
        f"({_how(m, 'generated')})",
        flush=True,
    )
    cases = conveyor_cases(m)
    here = anchor_cases(m, anchor[1], backend) if anchor else []
    anchors += here
    server = UIServer(args.conveyor, m["url"], scratch / backend)
    toucher = Toucher(m["url"])
    clients = {
        "conveyor": httpx.Client(
            base_url=server.url, timeout=120, headers={"X-Conveyor-CSRF": "bench"}
        )
    }
    if anchor is not None:
        clients["mlflow"] = httpx.Client(base_url=anchor[0].url, timeout=120)
    try:
        rounds(clients, cases + here, args.reps, args.uncached_reps, args.gap, toucher.touch)
        if chromium:
            charts.append(chart_timings(chromium, server.url, m, args.browser_reps, backend))
    finally:
        for c in clients.values():
            c.close()
        server.stop()
        toucher.close()
    rows += [summary(c, backend) for c in cases]


if __name__ == "__main__":
    sys.exit(main())
