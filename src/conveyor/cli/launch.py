"""Entry point of the ``conveyor`` command: hand the command to a warm agent if one is up,
else run it in this process (see :mod:`conveyor.cli.agent`)."""

from __future__ import annotations

import os
import sys

from conveyor._internal.openmp import configure_openmp

AGENT_COMMANDS = frozenset(
    {"run", "plan", "compile", "runs", "artifacts", "lineage", "show", "data"}
)
"""Commands a warm agent serves (the heavy imports are already loaded there); ``agent`` and
``exec`` always run in this process."""

AGENT_OFF = ("", "off", "0", "false", "no")
"""``CONVEYOR_AGENT`` values that leave the (opt-in) agent off: its client is not even imported."""


def main(argv: list[str] | None = None) -> None:
    """Run the ``conveyor`` command."""
    args = sys.argv[1:] if argv is None else argv
    # OpenMP threads (XGBoost, LightGBM, scikit-learn) spin while they wait; when steps or
    # trials share the cores that makes them crawl. Short spins, unless the user chose.
    configure_openmp()
    wanted = os.environ.get("CONVEYOR_AGENT", "").strip().lower() not in AGENT_OFF
    if wanted and args[:1] and args[0] in AGENT_COMMANDS and not {"--help", "-h"} & set(args):
        from conveyor.cli.agent import run_via_agent  # says so when the value is neither

        code = run_via_agent(args)
        if code is not None:
            sys.exit(code)
    from conveyor.cli.main import cli

    cli.main(args=args, prog_name="conveyor")


if __name__ == "__main__":
    main()
