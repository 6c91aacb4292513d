"""``conveyor smoke-test URL``: check a deployed model server with the model's example rows."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from conveyor.cli._common import EXIT_FAILED, _console, _echo_json, _errors, _settings

__all__ = ["smoke_test"]

TOKEN_ENV = "CONVEYOR_SERVE_TOKEN"


@click.command(name="smoke-test")
@click.argument("url")
@click.option("--model", default=None, help="The model's name [default: the one /readyz names].")
@click.option("--token", default=None, envvar=TOKEN_ENV, help=f"Bearer token (or {TOKEN_ENV}).")
@click.option(
    "--rows", "rows_file", default=None, type=click.Path(exists=True, dir_okay=False),
    help="Rows to send instead of the model's examples: a JSON list of objects, or "
    '{"rows": [...]}.',
)  # fmt: skip
@click.option(
    "--model-path", default=None,
    help="Read the example rows and signature from this model (folder or models:/...) "
    "instead of asking the server.",
)  # fmt: skip
@click.option(
    "--max-latency-ms", default=None, type=click.FloatRange(min=0, min_open=True),
    help="Fail when the median timed request takes longer.",
)  # fmt: skip
@click.option(
    "--requests", default=5, show_default=True, type=click.IntRange(0),
    help="Timed requests after the first (checked) one.",
)  # fmt: skip
@click.option(
    "--wait", "wait_seconds", default=0.0, show_default=True, type=click.FloatRange(0),
    help="Seconds to wait for /readyz to answer 200 (a server that is starting).",
)  # fmt: skip
@click.option(
    "--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
    help="Seconds each request may take.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_errors
def smoke_test(url: str, model: str | None, token: str | None, rows_file: str | None,
               model_path: str | None, max_latency_ms: float | None, requests: int,
               wait_seconds: float, timeout: float, as_json: bool) -> None:  # fmt: skip
    """Send the model's example rows to the server at URL and check the answers.

    Checks: /readyz answers 200; the predict route answers 200 with one prediction per row,
    of the model's output type (one of its classes for a classifier), class probabilities
    that sum to 1; repeated requests answer 200; with --max-latency-ms, the median timed
    request is within it. Exits 0 when every check passes, 1 when one fails (each is
    listed with what was seen), 2 when there are no rows to send.
    """
    from conveyor.deploy.smoke import NoExampleRows
    from conveyor.deploy.smoke import smoke_test as run_smoke_test

    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"URL {url!r} is not http(s)://HOST:PORT")
    rows = _read_rows(rows_file) if rows_file else None
    info = _local_info(model_path) if model_path else None
    if info is not None and rows is None:
        rows = info.get("examples") or None
        if rows is None:
            raise click.UsageError(
                f"The model {model_path!r} keeps no example rows (saved before they were "
                "kept): give rows to send with --rows FILE"
            )
    try:
        report = run_smoke_test(
            url, model=model or (info or {}).get("name"), token=token, rows=rows, info=info,
            max_latency_ms=max_latency_ms, requests=requests, wait_seconds=wait_seconds,
            timeout=timeout,
        )  # fmt: skip
    except NoExampleRows as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        _echo_json(report.to_dict())
    else:
        _print(report)
    if not report.ok:
        sys.exit(EXIT_FAILED)


def _read_rows(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"--rows {path!r}: cannot read it as JSON ({exc})") from None
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise click.UsageError(
            f'--rows {path!r}: expected a non-empty JSON list of row objects or {{"rows": [...]}}'
        )
    return rows


def _local_info(spec: str) -> dict[str, Any]:
    from conveyor.model.examples import read_examples
    from conveyor.model.saved import manifest_json
    from conveyor.serve.source import open_source

    metadata_url = _settings().metadata_url if spec.startswith("models:/") else None
    source = open_source(spec, metadata_url=metadata_url)
    manifest = manifest_json(source.path)
    return {
        "name": source.name,
        "version": source.version,
        "task": manifest.get("task"),
        "classes": manifest.get("classes"),
        "signature": manifest.get("signature"),
        "examples": read_examples(source.path),
    }


def _print(report: Any) -> None:
    from rich.markup import escape

    console = _console()
    what = f"{report.model!r}" + (f" version {report.version}" if report.version else "")
    console.print(f"Smoke test of {escape(report.url)} ({escape(what)}, {report.rows} rows)")
    for check in report.checks:
        mark = "[green]ok  [/]" if check.ok else "[bold red]FAIL[/]"
        console.print(f"  {mark} {check.name}: {escape(check.detail)}", soft_wrap=True)
    verdict = "[green]passed[/]" if report.ok else "[bold red]failed[/]"
    console.print(f"Smoke test {verdict}.")
