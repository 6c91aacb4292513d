"""ServingStatisticsGen: statistics of the model inputs a server logged (``conveyor serve
--log-predictions``), the serving side of ``example_validator``'s skew checks."""

from __future__ import annotations

import json
import os
from typing import Any

from conveyor.dsl import Output, component
from conveyor.types import ExampleStatistics

__all__ = ["serving_statistics_gen"]

STATISTICS_FILE = "statistics.json"
HTML_FILE = "statistics.html"


def _window(since: str | None, until: str | None) -> Any:
    from conveyor.data.prediction_logs import TimeWindow, parse_time

    return TimeWindow(
        since=None if since is None else parse_time(since),
        until=None if until is None else parse_time(until),
    )


def _log_digests(
    log_dir: str, since: str | None = None, until: str | None = None, **_other: Any
) -> dict[str, str]:
    """The log files in the window (a new file reruns the step) and the window itself once
    resolved (``since="1d"`` moves with the clock, so such a step always reruns)."""
    from conveyor.data.prediction_logs import log_file_digests

    window = _window(since, until)
    digests = log_file_digests(log_dir, window=window)
    digests[f"{log_dir}#window"] = window.describe()
    return digests


@component(cache_inputs=_log_digests)
def serving_statistics_gen(
    log_dir: str,
    statistics: Output[ExampleStatistics],
    since: str | None = None,
    until: str | None = None,
    roles: list[str] | None = None,
    model: str | None = None,
    model_version: str | None = None,
) -> int:
    """Statistics of the inputs logged under ``log_dir`` by ``conveyor serve
    --log-predictions``, as one ``serving`` data set; returns the number of rows.

    Cached on the log files in the window: a new file (a rotation, another server) reruns
    the step, and so does a window relative to now.

    Args:
        log_dir: the log folder (``--log-dir``), one model's or one version's folder in it;
            local or an fsspec URL.
        statistics: where the statistics go (``statistics.json``, ``statistics.html``).
        since: rows logged at or after this time: ISO 8601, or a duration back from now
            (``"30m"``, ``"2h"``, ``"7d"``).
        until: rows logged before this time (same forms).
        roles: the roles read (default ``["primary", "canary"]``: what clients were answered).
        model: the model whose rows are read (needed when the folder holds several).
        model_version: only this version's rows.

    Raises:
        ArtifactNotFoundError: no log folder, or no logged row in the selection.

    Example:
        >>> serving = serving_statistics_gen(log_dir="logs/census", since="1d")  # doctest: +SKIP
        >>> example_validator(statistics=stats.outputs["statistics"], schema=schema,
        ...                   serving_statistics=serving.outputs["statistics"])  # doctest: +SKIP
    """
    from conveyor.data.prediction_logs import LogSelection, statistics_of_prediction_logs
    from conveyor.data.render import statistics_html

    selection = LogSelection(
        window=_window(since, until),
        roles=tuple(roles or ("primary", "canary")),
        model=model,
        version=model_version,
    )
    stats = statistics_of_prediction_logs(log_dir, selection)
    os.makedirs(statistics.path, exist_ok=True)
    with open(os.path.join(statistics.path, STATISTICS_FILE), "w", encoding="utf-8") as fh:
        json.dump(stats.to_dict(), fh)
    with open(os.path.join(statistics.path, HTML_FILE), "w", encoding="utf-8") as fh:
        fh.write(statistics_html(stats, title=f"Serving statistics of {log_dir}"))
    [serving] = stats.datasets
    statistics.metadata["split_names"] = [serving.name]
    statistics.metadata["num_rows"] = {serving.name: serving.num_rows}
    statistics.metadata["log_dir"] = log_dir
    statistics.metadata["window"] = selection.window.describe()
    return serving.num_rows
