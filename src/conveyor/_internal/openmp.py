"""How OpenMP threads wait: short spins, so steps that share the cores do not starve.

XGBoost, LightGBM and scikit-learn use libgomp, whose idle threads spin for about 300,000
iterations before sleeping. When two steps (or tuner trials) share the cores, spinning threads
starve each other (a 1-second LightGBM fit took 65 s here); fully passive waiting
(``OMP_WAIT_POLICY=PASSIVE``) fixes that but makes a lone fit about 3x slower, since LightGBM
runs many short parallel regions. A spin count of 1,000 measured best on 2 cores: 1.38 s
alone (1.04 s spinning, 3.44 s passive) and 1.95 s with two fits at once (4.0 s spinning,
2.1 s passive). See docs/user-guide.md, "Sharing cores".
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, MutableMapping

__all__ = ["SPIN_COUNT", "configure_openmp", "cpu_limit"]

SPIN_COUNT = "1000"


def configure_openmp(environ: MutableMapping[str, str] | None = None) -> None:
    """Set ``GOMP_SPINCOUNT`` unless the user chose how OpenMP waits (``OMP_WAIT_POLICY`` or
    ``GOMP_SPINCOUNT``). libgomp reads it when it loads: call before importing the
    libraries that use it, or in the environment of a new process."""
    env = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
        env["GOMP_SPINCOUNT"] = SPIN_COUNT


@contextlib.contextmanager
def cpu_limit(cpu: float | None) -> Iterator[None]:
    """Limit native thread pools (OpenMP, BLAS) to a step's CPU request while it runs
    (``ceil(cpu)`` threads); no limit when the step asks for none."""
    if cpu is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=max(1, math.ceil(cpu))):
        yield
