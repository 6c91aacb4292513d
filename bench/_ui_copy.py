"""The UI benchmark's bulk copy of a template run (see ``_ui_data.py``): N-1 copies of its rows
with new ids, run ids, experiments, parameters, states, times, cache keys and metric points, in
the caller's transaction (``executemany`` on SQLite, ``COPY`` on PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from _ui_data import EXPERIMENTS, OPTIMIZERS, SCHEDULERS, SPIKE, VERSION, Sizes


def _select(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, tuple(params))
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _in(ids: Iterable[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


class Copier:
    """Copies of the template run, written in one transaction."""

    def __init__(self, conn: Any, template_id: str, sizes: Sizes) -> None:
        self.conn = conn
        self.sqlite = bool(conn.sqlite)
        self.sizes = sizes
        self.template_id = template_id
        self.rng = random.Random(20261207)

    # --- values as the store writes them ---------------------------------------------------
    def ts(self, epoch: float) -> Any:
        value = datetime.fromtimestamp(epoch, UTC)
        if self.sqlite:
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    @staticmethod
    def props(value: Any) -> dict[str, Any]:
        return dict(json.loads(value) if isinstance(value, str) else value)

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        if self.sqlite:
            marks = ", ".join("?" for _ in columns)
            self.conn.raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            return
        with (
            self.conn.raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def max_id(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])

    # --- the copy -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        conn, sizes, rng = self.conn, self.sizes, self.rng
        run_type = _select(
            conn,
            "SELECT id FROM types WHERE kind = 'context' AND name = ?",
            ("conveyor.PipelineRun",),
        )[0]["id"]
        run = _select(
            conn,
            "SELECT * FROM contexts WHERE type_id = ? AND name = ?",
            (run_type, self.template_id),
        )[0]
        parents = _select(
            conn, "SELECT parent_id FROM parent_contexts WHERE context_id = ?", (run["id"],)
        )
        exp_type = _select(
            conn,
            "SELECT id FROM types WHERE kind = 'context' AND name = ?",
            ("conveyor.Experiment",),
        )[0]["id"]
        exp0 = _select(
            conn, "SELECT * FROM contexts WHERE type_id = ? AND name = 'exp-00'", (exp_type,)
        )[0]
        execs = _select(
            conn,
            "SELECT e.* FROM executions e JOIN associations a ON "
            "a.execution_id = e.id WHERE a.context_id = ? ORDER BY e.id",
            (run["id"],),
        )
        exec_ids = [e["id"] for e in execs]
        assocs = _select(
            conn, f"SELECT * FROM associations WHERE execution_id IN ({_in(exec_ids)})"
        )
        events = _select(
            conn, f"SELECT * FROM events WHERE execution_id IN ({_in(exec_ids)}) ORDER BY id"
        )
        art_ids = sorted({e["artifact_id"] for e in events})
        arts = _select(conn, f"SELECT * FROM artifacts WHERE id IN ({_in(art_ids)}) ORDER BY id")
        attrs = _select(conn, f"SELECT * FROM attributions WHERE artifact_id IN ({_in(art_ids)})")
        score = next(e for e in execs if e["name"] == "score")

        # 20 experiments: exp-00 is the template's, copy it for the others
        ctx_next = self.max_id("contexts") + 1
        experiments = {0: exp0["id"]}
        rows = []
        for k in range(1, EXPERIMENTS):
            experiments[k] = ctx_next
            rows.append(
                (
                    ctx_next,
                    exp_type,
                    f"exp-{k:02d}",
                    json.dumps({}),
                    exp0["created_at"],
                    exp0["updated_at"],
                )
            )
            ctx_next += 1
        self.insert(
            "contexts", ("id", "type_id", "name", "properties", "created_at", "updated_at"), rows
        )

        run_props = self.props(run["properties"])
        exec_props = [self.props(e["properties"]) for e in execs]
        n = sizes.runs
        now = time.time()
        t_first = now - 60 * 86400.0
        gap = (now - 3600 - t_first) / max(n, 1)
        exec_next, art_next = self.max_id("executions") + 1, self.max_id("artifacts") + 1
        event_next, metric_next = self.max_id("events") + 1, self.max_id("metrics") + 1

        out: dict[str, list[tuple[Any, ...]]] = {
            k: []
            for k in (
                "contexts",
                "parents",
                "executions",
                "assocs",
                "artifacts",
                "attrs",
                "events",
                "metrics",
            )
        }
        facts: list[dict[str, Any]] = []
        curves: list[str] = []
        long_run = ""
        for i in range(n):
            state = (
                "COMPLETE"
                if i == 0
                else rng.choices(("COMPLETE", "FAILED", "CANCELED", "RUNNING"), (90, 7, 2, 1))[0]
            )
            if i >= n - 1 and state == "RUNNING":
                state = "COMPLETE"
            run_id = self.template_id if i == 0 else f"ui_train20-bench-{i:06d}"
            started = t_first + i * gap + rng.uniform(0, gap / 2)
            duration = rng.uniform(20, 900)
            exp = rng.randrange(EXPERIMENTS) if i else 0
            params = {
                "lr": round(rng.choice((0.001, 0.003, 0.01, 0.03, 0.1, 0.3)), 3),
                "epochs": rng.randrange(1, 50),
                "depth": rng.randrange(2, 13),
                "optimizer": rng.choice(OPTIMIZERS),
                "batch_size": rng.choice((32, 64, 128, 256)),
                "dropout": round(rng.uniform(0, 0.5), 3),
                "seed": i,
                "l2": round(rng.choice((0.0, 1e-4, 1e-3, 1e-2)), 4),
                "warmup": rng.randrange(0, 100),
                "scheduler": rng.choice(SCHEDULERS),
            }
            props = dict(
                run_props,
                parameters=params,
                experiment=f"exp-{exp:02d}",
                state=state,
                started_at=started,
            )
            metrics: dict[str, float] = {}
            step_states = ["COMPLETE"] * len(execs)
            score_state = {"FAILED": "FAILED", "CANCELED": "CANCELED", "RUNNING": "RUNNING"}.get(
                state, "COMPLETE"
            )
            if state == "RUNNING":
                props.pop("finished_at", None)
                props.pop("duration_seconds", None)
                props["host"] = "bench-elsewhere"  # not this machine's: never reconciled here
                props["task_states"] = {"COMPLETE": len(execs) - 1, "RUNNING": 1}
                props["failed_tasks"] = []
            else:
                props["finished_at"] = started + duration
                props["duration_seconds"] = duration
                if state == "COMPLETE":
                    props["task_states"] = {"COMPLETE": len(execs)}
                    props["failed_tasks"] = []
                else:
                    props["task_states"] = {"COMPLETE": len(execs) - 1, state: 1}
                    props["failed_tasks"] = ["score"] if state == "FAILED" else []
            if state == "COMPLETE":
                metrics = {
                    "loss": round(rng.uniform(0.05, 1.0), 5),
                    "accuracy": round(rng.uniform(0.6, 0.99), 5),
                    "auc": round(rng.uniform(0.5, 0.99), 5),
                }
                props["metrics"] = metrics
            else:
                props.pop("metrics", None)
            ctx_id = run["id"] if i == 0 else ctx_next
            if i:
                ctx_next += 1
                out["contexts"].append(
                    (
                        ctx_id,
                        run_type,
                        run_id,
                        json.dumps(props),
                        self.ts(started),
                        self.ts(started + duration),
                    )
                )
            else:
                conn.execute(
                    "UPDATE contexts SET properties = ? WHERE id = ?", (json.dumps(props), ctx_id)
                )
            ctx_map = {run["id"]: ctx_id, exp0["id"]: experiments[exp]}
            if i == 0:
                # the template's own rows stay; only its metric points are replaced below
                conn.execute(
                    f"DELETE FROM metrics WHERE context_id = ? OR execution_id IN "
                    f"({_in(exec_ids)})",
                    (run["id"],),
                )
                exec_map = {e: e for e in exec_ids}
            else:
                for p in parents:
                    out["parents"].append((ctx_id, ctx_map.get(p["parent_id"], p["parent_id"])))
                exec_map = {}
                step_dt = duration / len(execs)
                for k, (e, ep) in enumerate(zip(execs, exec_props, strict=True)):
                    eid = exec_next
                    exec_next += 1
                    exec_map[e["id"]] = eid
                    est = "COMPLETE" if e["id"] != score["id"] else score_state
                    step_states[k] = est
                    key = hashlib.sha256(f"{e['cache_key']}/{i}".encode()).hexdigest()
                    p2 = dict(ep, run_id=run_id, started_at=started + k * step_dt)
                    p2["log_path"] = str(ep.get("log_path", "")).replace(self.template_id, run_id)
                    p2["cache"] = dict(ep.get("cache", {}), key=f"sha256:{key}")
                    if k < len(execs) and "parameters" in ep and e["name"] == "score":
                        p2["parameters"] = {"epochs": params["epochs"], "lr": params["lr"]}
                    if est == "RUNNING":
                        for name in ("finished_at", "duration_seconds", "outputs"):
                            p2.pop(name, None)
                    else:
                        p2["finished_at"] = started + (k + 1) * step_dt
                        p2["duration_seconds"] = step_dt
                    if est == "FAILED":
                        p2["error"] = {
                            "type": "ValueError",
                            "message": "loss diverged",
                            "traceback": "Traceback ...\nValueError: loss diverged",
                        }
                        p2.pop("outputs", None)
                    created = self.ts(started + k * step_dt)
                    out["executions"].append(
                        (
                            eid,
                            e["type_id"],
                            e["name"],
                            est,
                            f"sha256:{key}",
                            json.dumps(p2),
                            created,
                            created,
                        )
                    )
                for a in assocs:
                    out["assocs"].append(
                        (exec_map[a["execution_id"]], ctx_map.get(a["context_id"], a["context_id"]))
                    )
                art_map = {}
                for a in arts:
                    art_map[a["id"]] = art_next
                    fp = hashlib.sha256(f"{a['fingerprint']}/{i}".encode()).hexdigest()
                    out["artifacts"].append(
                        (
                            art_next,
                            a["type_id"],
                            a["uri"].replace(self.template_id, run_id),
                            a["name"].replace(self.template_id, run_id),
                            a["state"],
                            f"sha256:{fp}",
                            a["size_bytes"],
                            json.dumps(self.props(a["properties"])),
                            self.ts(started),
                            self.ts(started),
                        )
                    )
                    art_next += 1
                for a in attrs:
                    out["attrs"].append(
                        (art_map[a["artifact_id"]], ctx_map.get(a["context_id"], a["context_id"]))
                    )
                for ev in events:
                    out["events"].append(
                        (
                            event_next,
                            art_map[ev["artifact_id"]],
                            exec_map[ev["execution_id"]],
                            ev["type"],
                            ev["path"],
                            self.ts(started),
                        )
                    )
                    event_next += 1
            # metric points: logged by the score step, on the run's context
            if metrics:
                steps = 3
                if len(curves) < sizes.curves:
                    curves.append(run_id)
                    steps = sizes.curve_steps
                sid = exec_map[score["id"]]
                t_end = started + duration
                for s in range(steps):
                    value = metrics["loss"] + (1 - metrics["loss"]) * (1 - (s + 1) / steps)
                    out["metrics"].append(
                        (metric_next, ctx_id, sid, "loss", s, value, t_end - (steps - s) * 0.01)
                    )
                    metric_next += 1
                for name in ("accuracy", "auc"):
                    out["metrics"].append((metric_next, ctx_id, sid, name, 0, metrics[name], t_end))
                    metric_next += 1
                if not long_run and sizes.long_steps:
                    long_run = run_id
                    spike = sizes.long_steps * 618 // 1000
                    for s in range(sizes.long_steps):
                        value = SPIKE if s == spike else 1.0 + 0.5 * ((s * 7919) % 1000) / 1000
                        out["metrics"].append(
                            (
                                metric_next,
                                ctx_id,
                                sid,
                                "loss_fine",
                                s,
                                value,
                                t_end - (sizes.long_steps - s) * 0.001,
                            )
                        )
                        metric_next += 1
            facts.append(
                {
                    "run_id": run_id,
                    "state": state,
                    "params": params,
                    "metrics": metrics,
                    "experiment": exp,
                }
            )

        self.insert(
            "contexts",
            ("id", "type_id", "name", "properties", "created_at", "updated_at"),
            out["contexts"],
        )
        self.insert("parent_contexts", ("context_id", "parent_id"), out["parents"])
        self.insert(
            "executions",
            (
                "id",
                "type_id",
                "name",
                "state",
                "cache_key",
                "properties",
                "created_at",
                "updated_at",
            ),
            out["executions"],
        )
        self.insert("associations", ("execution_id", "context_id"), out["assocs"])
        self.insert(
            "artifacts",
            (
                "id",
                "type_id",
                "uri",
                "name",
                "state",
                "fingerprint",
                "size_bytes",
                "properties",
                "created_at",
                "updated_at",
            ),
            out["artifacts"],
        )
        self.insert("attributions", ("artifact_id", "context_id"), out["attrs"])
        self.insert(
            "events",
            ("id", "artifact_id", "execution_id", "type", "path", "created_at"),
            out["events"],
        )
        self.insert(
            "metrics",
            ("id", "context_id", "execution_id", "name", "step", "value", "timestamp"),
            out["metrics"],
        )
        if not self.sqlite:
            for table in ("contexts", "executions", "artifacts", "events", "metrics"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
            conn.execute("ANALYZE")
        return _manifest(facts, curves, long_run, len(out["metrics"]), sizes)


def _manifest(
    facts: list[dict[str, Any]], curves: list[str], long_run: str, points: int, sizes: Sizes
) -> dict[str, Any]:
    """What each filter of the benchmark must find."""
    by_state: dict[str, int] = {}
    for f in facts:
        by_state[f["state"]] = by_state.get(f["state"], 0) + 1
    aucs = [(f["metrics"]["auc"], f["run_id"]) for f in facts if f["metrics"]]
    finished = [f["run_id"] for f in facts if f["state"] == "COMPLETE"]
    return {
        "version": VERSION,
        "sizes": {
            "runs": sizes.runs,
            "curves": sizes.curves,
            "curve_steps": sizes.curve_steps,
            "long_steps": sizes.long_steps,
        },
        "pipeline": "ui_train20",
        "runs": len(facts),
        "by_state": by_state,
        "failed": by_state.get("FAILED", 0),
        "param_depth_ge_10": sum(1 for f in facts if f["params"]["depth"] >= 10),
        "param_sgd": sum(1 for f in facts if f["params"]["optimizer"] == "sgd"),
        "metric_auc_ge_0_9": sum(1 for f in facts if f["metrics"].get("auc", 0) >= 0.9),
        "sgd_and_auc_ge_0_9": sum(
            1
            for f in facts
            if f["params"]["optimizer"] == "sgd" and f["metrics"].get("auc", 0) >= 0.9
        ),
        "best_auc": max(aucs)[1] if aucs else "",
        "experiment_00": sum(1 for f in facts if f["experiment"] == 0),
        "compare": finished[1:6] if len(finished) > 5 else finished[:5],
        "curves": curves[:3],
        "long_run": long_run,
        "long_series": "loss_fine",
        "long_spike": SPIKE,
        "metric_points": points,
    }
