"""``python -m conveyor.execution``: run ONE task of a run from a compiled IR file.

This is the in-container entrypoint of remote runners (a Ray task, a Kubeflow container, an
Airflow worker). It reads the IR, opens the stores by URL, resolves upstream outputs from
metadata and runs the task exactly as the local orchestrator does.

With control flow, ``--task`` names an instance (``train[2]``: iteration 2 of a loop or item 2
of a parallel-for) and ``--next`` prints the instances ready to start now, so a remote engine
drives loops and conditions the way the local orchestrator does.

Exit codes: 0 the task completed or came from the cache; 1 it failed; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from conveyor.errors import ConveyorError


def build_parser() -> argparse.ArgumentParser:
    """The entrypoint's arguments."""
    p = argparse.ArgumentParser(
        prog="python -m conveyor.execution", description="Run one task of a pipeline run."
    )
    p.add_argument("--ir", required=True, help="compiled pipeline JSON (conveyor compile)")
    p.add_argument(
        "--task", default=None, help="task name in the IR, or an instance name such as train[2]"
    )
    p.add_argument(
        "--next",
        action="store_true",
        help="print the instances ready to start now (and the run's state) as JSON; run nothing",
    )
    p.add_argument("--run-id", required=True, help="run id shared by every task of the run")
    p.add_argument("--metadata-url", required=True, help="metadata store URL")
    p.add_argument("--artifact-root", required=True, help="artifact store root (path or URL)")
    p.add_argument("--params-json", default="{}", help="pipeline parameter values as JSON")
    p.add_argument("--experiment", default=None, help="experiment to group the run under")
    p.add_argument(
        "--code-root",
        default=None,
        help="folder the pipeline's modules import from (default: the IR's folder or the "
        "working directory, whichever holds the component sources)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached results")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the task; print a one-line JSON summary on stdout."""
    args = build_parser().parse_args(argv)
    from conveyor.execution.params import resolve_parameters
    from conveyor.execution.replay import replay
    from conveyor.execution.runs import code_root_for, open_run, refresh_run_state
    from conveyor.execution.task import execute_task
    from conveyor.ir.serialize import load_file
    from conveyor.ir.validate import validate
    from conveyor.metadata import CONTEXT_RUN, connect
    from conveyor.storage import open_store

    try:
        spec = load_file(args.ir)
        validate(spec)
        if args.task is None and not args.next:
            print("error: give --task NAME (or --next)", file=sys.stderr)
            return 2
        base = (args.task or "").split("[", 1)[0]
        if not args.next and base not in spec.tasks:
            print(
                f"error: no task {args.task!r} in {args.ir}; tasks: {sorted(spec.tasks)}",
                file=sys.stderr,
            )
            return 2
        values = resolve_parameters(spec, json.loads(args.params_json))
        metadata = connect(args.metadata_url)
        storage = open_store(args.artifact_root)
        existing = metadata.find_context(CONTEXT_RUN, args.run_id)
        first = existing is None or "started_at" not in existing.properties
        run = open_run(
            metadata,
            spec,
            run_id=args.run_id,
            parameters=values,
            experiment=args.experiment,
            properties={"started_at": time.time(), "launcher": "exec"} if first else None,
        )
        code_root = args.code_root or code_root_for(spec, args.ir)
        launch = None
        if spec.groups or args.next:
            state = replay(spec, values, run, metadata)
            if args.next:
                ready = sorted(set(state.ready) - set(state.running))
                print(json.dumps({"ready": ready, "running": state.running, "state": state.state}))
                refresh_run_state(metadata, run, spec)
                return 0
            launch = state.ready.get(args.task)
            if launch is None:
                why = state.flow.waiting.get(args.task)
                ended = state.flow.states.get(args.task)
                detail = (
                    f"it already ended ({ended.value})"
                    if ended is not None
                    else f"it waits ({why})"
                    if why
                    else "no such instance exists (yet)"
                )
                print(
                    f"error: {args.task!r} is not ready to run in run {args.run_id!r}: {detail}. "
                    f"Ready now: {sorted(state.ready) or 'nothing'}",
                    file=sys.stderr,
                )
                return 2
        result = execute_task(
            spec,
            args.task,
            run,
            values,
            metadata,
            storage,
            use_cache=not args.no_cache,
            search_root=code_root,
            launch=launch,
        )
        refresh_run_state(metadata, run, spec)
    except (ConveyorError, json.JSONDecodeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "task": result.task,
                "state": result.state.value,
                "execution_id": result.execution_id,
                "cached": result.cached,
                "error": result.error,
            }
        )
    )
    if result.error and result.traceback:
        print(result.traceback, file=sys.stderr)
    return 0 if result.state.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
