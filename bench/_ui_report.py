"""The UI benchmark's report: the table of cases, the chart timings and MLflow's ratios, the
JSON file and the exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHART_TARGET_MS = 1000.0  # a 100,000-point chart drawn in the browser


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'case':<26} {'backend':<17} {'cold srv/cli':>15} {'p50 srv':>8} "
        f"{'p95 srv':>8} {'p95 cli':>8} {'p95 unc':>8}  target               verdict"
    )
    for r in rows:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[r["pass"]]
        if r["status"] != "ok":
            verdict = "NOT BUILT" if r["status"] == "not built" else f"FAIL ({r['status']})"
        cold = f"{fmt(r['cold_server_ms'])}/{fmt(r['cold_client_ms'])}"
        print(
            f"{r['case']:<26} {r['backend']:<17} {cold:>15} {fmt(r['p50_server_ms']):>8} "
            f"{fmt(r['p95_server_ms']):>8} {fmt(r['p95_client_ms']):>8} "
            f"{fmt(r['p95_uncached_server_ms']):>8}  "
            f"{r['target']:<20} {verdict}"
        )


def report(
    rows: list[dict[str, Any]],
    charts: list[dict[str, Any]],
    ratio_rows: list[dict[str, Any]],
    meta: dict[str, Any],
    path: Path | None,
) -> int:
    """Print the chart timings and the ratios, write the JSON; the exit status."""
    for c in charts:
        if c["status"] == "ok":
            c["pass"] = c["p95_drawn_ms"] < CHART_TARGET_MS and c["p95_render_ms"] < CHART_TARGET_MS
        else:
            c["pass"] = False if c["status"].startswith("wrong") else None
        verdict = {True: "PASS", False: "FAIL", None: "NOT BUILT"}[c["pass"]]
        print(
            f"chart of {c['raw_points']:,} points ({c['backend']}): navigation to drawn p50 "
            f"{fmt(c.get('p50_drawn_ms'))} p95 {fmt(c.get('p95_drawn_ms'))} ms, "
            f"data-render-ms p95 {fmt(c.get('p95_render_ms'))}, {c.get('points')} points drawn"
            f" (target < {CHART_TARGET_MS:.0f} ms) [{verdict}] {c['status']}"
        )
    for r in ratio_rows:
        print(
            f"{r['anchor']} / {r['case']} ({r['backend']}): MLflow p50 "
            f"{r['mlflow_p50_ms']:.1f} ms = {r['ratio_p50']:.1f}x Conveyor's, p95 "
            f"{r['ratio_p95']:.1f}x; after an idle gap (searches computed again) p50 "
            f"{fmt(r['ratio_uncached_p50'])}x [info]"
        )
    not_built = sorted({r["case"] for r in rows if r["status"] == "not built"})
    if not_built:
        print(f"not built (404/405): {', '.join(not_built)}")
    print(
        f"load average before {meta['loadavg_before']} after {meta['loadavg_after']}, "
        f"conveyor {meta['conveyor_git']}"
    )
    if path:
        path.write_text(
            json.dumps(
                {"meta": meta, "rows": rows, "charts": charts, "ratios": ratio_rows}, indent=2
            )
        )
        print(f"wrote {path}")
    failed = [r for r in rows + charts if r["pass"] is False]
    return 1 if failed else 0
