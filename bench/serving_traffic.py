"""Canary and shadow: what ``conveyor serve --canary`` and ``--shadow`` cost the primary's
requests.

Three servers of the same LightGBM census model (the one ``batch_scoring.py`` trains) run
side by side, one worker each: the plain server (the anchor), one with a canary taking 50% of
the requests (the same model folder, so only the routing differs), and one with a shadow
scoring every request in its own process. Rounds alternate between them (order shuffled per
round): sequential 1-row requests, then 1,000-row requests, from one keep-alive client on
loopback.

Targets: on the p50 of a 1-row request, the canary's routing adds at most 10% (or 0.5 ms),
and the shadow at most 25% (or 1 ms): it shares the machine's cores, but never the worker's
interpreter. The 1,000-row figures are reported, not targeted (the shadow then scores as
much as the primary on the same cores). Checked: every answer is 200 with one prediction per
row; the canary answers between 40% and 60% of the canary server's requests; the shadow's
counts (scored + dropped) in ``/metrics`` equal the requests sent to it. Exits 1 on a missed
target or a failed check.

    .venv/bin/python bench/serving_traffic.py               # 3 rounds of 200 + 10 requests
    .venv/bin/python bench/serving_traffic.py --rounds 5 --requests 400
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _server import Server, add_round_arguments
from batch_scoring import census_model
from prediction_logging import _p, _rows

TARGETS = {"canary": (1.10, 0.5), "shadow": (1.25, 1.0)}
"""Per side: the largest p50 ratio to the plain server's, or the slack in ms if larger."""


def _post(client: httpx.Client, url: str, rows: list[dict[str, Any]]) -> tuple[float, str]:
    start = time.perf_counter()
    response = client.post(url, json={"rows": rows})
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200 or len(response.json()["predictions"]) != len(rows):
        sys.exit(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed, str(response.json().get("role"))


def _shadow_seen(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "conveyor_shadow_requests_total" and s.labels.get("outcome") != "failed"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_round_arguments(parser)
    args = parser.parse_args(argv)
    os.makedirs(args.data_dir, exist_ok=True)
    model = census_model(args.data_dir)
    rows = _rows(args.data_dir, 2000)
    servers = {
        "plain": Server(model),
        "canary": Server(model, "--canary", f"{model}=50%"),
        "shadow": Server(model, "--shadow", model),
    }
    name = os.path.basename(model.rstrip(os.sep))
    latencies: dict[str, dict[str, list[float]]] = {s: {"1": [], "1000": []} for s in servers}
    roles: list[str] = []
    rng = random.Random(0)
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(args.rounds):
                order = list(servers)
                rng.shuffle(order)
                for key in order:
                    url = f"{servers[key].url}/v1/models/{name}:predict"
                    for i in range(args.requests):
                        ms, role = _post(client, url, [rows[(i * 7) % len(rows)]])
                        latencies[key]["1"].append(ms)
                        if key == "canary":
                            roles.append(role)
                    for b in range(args.batches):
                        ms, role = _post(client, url, rows[(b * 100) % 1000 :][:1000])
                        latencies[key]["1000"].append(ms)
                        if key == "canary":
                            roles.append(role)
        sent = len(latencies["shadow"]["1"]) + len(latencies["shadow"]["1000"])
        deadline = time.monotonic() + 120  # the shadow catches up with what is queued
        while (seen := _shadow_seen(servers["shadow"].url)) < sent and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for server in servers.values():
            server.stop()
    share = roles.count("canary") / len(roles)
    checks = [
        (0.4 <= share <= 0.6, f"the canary answered {share:.1%} of its server's requests (50%)"),
        (seen == sent, f"the shadow saw {seen:.0f} of the {sent} requests (scored or dropped)"),
    ]
    result: dict[str, Any] = {"canary_share": round(share, 4), "shadow_seen": seen, "sent": sent}
    print(f"{'case':<18}{'plain p50':>11}{'canary p50':>12}{'shadow p50':>12}"
          f"{'plain p99':>11}{'canary p99':>12}{'shadow p99':>12}")  # fmt: skip
    for size in ("1", "1000"):
        p50 = {k: _p(latencies[k][size], 50) for k in servers}
        p99 = {k: _p(latencies[k][size], 99) for k in servers}
        print(f"{size + '-row request':<18}{p50['plain']:>9.2f}ms{p50['canary']:>10.2f}ms"
              f"{p50['shadow']:>10.2f}ms{p99['plain']:>9.2f}ms{p99['canary']:>10.2f}ms"
              f"{p99['shadow']:>10.2f}ms")  # fmt: skip
        result[f"p50_{size}_ms"] = {k: round(v, 3) for k, v in p50.items()}
        result[f"p99_{size}_ms"] = {k: round(v, 3) for k, v in p99.items()}
        if size == "1":
            for side, (ratio, slack) in TARGETS.items():
                allowed = max(p50["plain"] * ratio, p50["plain"] + slack)
                checks.append((p50[side] <= allowed, f"1-row p50 with a {side} "
                               f"{p50[side]:.2f} ms <= {allowed:.2f} ms"))  # fmt: skip
    for met, text in checks:
        print(f"[{'PASS' if met else 'FAIL'}] {text}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if all(met for met, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
