"""Small pipelines for end-to-end tests of the local orchestrator."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import helpers

from conveyor import Dataset, Input, Metrics, Model, Output, component, pipeline


@component
def ingest(text: str, data: Output[Dataset]) -> int:
    """Write the text as the data set."""
    with open(data.path, "w") as fh:
        fh.write(text)
    print(f"ingested {len(text)} chars")
    return len(text)


@component
def prepare(data: Input[Dataset], clean: Output[Dataset]) -> None:
    """Transform with the local helper module."""
    with open(data.path) as fh:
        text = fh.read()
    with open(clean.path, "w") as fh:
        fh.write(helpers.transform(text))


@component
def train(
    data: Input[Dataset], model: Output[Model], metrics: Output[Metrics], C: float = 1.0
) -> float:
    """A 'model' folder and a metric."""
    with open(data.path) as fh:
        text = fh.read()
    os.makedirs(model.path)
    with open(os.path.join(model.path, "weights.json"), "w") as fh:
        json.dump({"C": C, "n": len(text)}, fh)
    score = C * len(text)
    metrics.log_metric("score", score)
    return score


@pipeline(name="demo")
def demo(text: str = "hello world", C: float = 1.0):
    """ingest -> prepare -> train."""
    raw = ingest(text=text)
    clean = prepare(data=raw.outputs["data"])
    train(data=clean.outputs["clean"], C=C)


@component
def maybe_fail(data: Input[Dataset], fail: bool, out: Output[Dataset]) -> None:
    """Fail on request."""
    if fail:
        raise ValueError("asked to fail")
    with open(data.path) as fh, open(out.path, "w") as out_fh:
        out_fh.write(fh.read() + "!")


@component
def count(data: Input[Dataset]) -> int:
    """Length of the data."""
    with open(data.path) as fh:
        return len(fh.read())


@pipeline(name="branches")
def branches(fail: bool = True):
    """ingest -> maybe_fail -> count, and ingest -> count (independent branch)."""
    raw = ingest(text="abc")
    broken = maybe_fail(data=raw.outputs["data"], fail=fail)
    count(data=broken.outputs["out"])
    count(data=raw.outputs["data"])


@component
def raises() -> None:
    """Raise."""
    raise RuntimeError("boom in user code")


@component
def exits() -> None:
    """Call sys.exit."""
    sys.exit(3)


@component
def aborts() -> None:
    """Crash the process like a segfault would."""
    print("about to abort", flush=True)
    os.abort()


@component(timeout=1)
def loops_forever() -> None:
    """Spin until stopped."""
    while True:
        time.sleep(0.01)


@component(timeout=1)
def ignores_timeout() -> None:
    """Block the timer signal and spin: only a hard kill stops it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass


@component
def returns_wrong_type() -> int:
    """Declares int, returns a string."""
    return "seven"  # type: ignore[return-value]


@component
def diverges() -> float:
    """Returns NaN, like a training loss that blew up."""
    return float("nan")


@component
def forgets_output(data: Output[Dataset]) -> None:
    """Never writes its output."""


def single(comp):
    """A one-task pipeline around ``comp``."""

    @pipeline(name=f"single-{comp.name}")
    def p():
        comp()

    return p


bad_raises = single(raises)
bad_exits = single(exits)
bad_aborts = single(aborts)
bad_loops = single(loops_forever)
bad_ignores_timeout = single(ignores_timeout)
bad_wrong_type = single(returns_wrong_type)
bad_forgets_output = single(forgets_output)
bad_nan = single(diverges)


@component(retries=2, retry_backoff_seconds=0.01)
def flaky(counter: str) -> int:
    """Fail on the first two attempts."""
    n = 0
    if os.path.exists(counter):
        with open(counter) as fh:
            n = int(fh.read())
    with open(counter, "w") as fh:
        fh.write(str(n + 1))
    if n < 2:
        raise ConnectionError(f"transient failure {n + 1}")
    return n + 1


@pipeline(name="flaky")
def flaky_pipeline(counter: str):
    """One flaky task with retries."""
    flaky(counter=counter)


@component(cache_env=["CV_TEST_SEED"])
def seeded(out: Output[Dataset]) -> None:
    """Output depends on an environment variable."""
    with open(out.path, "w") as fh:
        fh.write(os.environ.get("CV_TEST_SEED", "none"))


@component(cache=False)
def never_cached(data: Input[Dataset]) -> int:
    """Always runs."""
    with open(data.path) as fh:
        return len(fh.read())


@pipeline(name="options")
def options():
    """Cache options: declared environment and opt-out."""
    s = seeded()
    never_cached(data=s.outputs["out"])


@component
def slow_step(
    marker_dir: str,
    name: str,
    seconds: float,
    out: Output[Dataset],
    data: Input[Dataset] | None = None,
) -> None:
    """Write a start marker, sleep, write the output."""
    os.makedirs(marker_dir, exist_ok=True)
    open(os.path.join(marker_dir, f"{name}.started"), "w").close()
    time.sleep(seconds)
    with open(out.path, "w") as fh:
        fh.write(name * 1000)


@pipeline(name="slow-chain")
def slow_chain(marker_dir: str, seconds: float = 0.2):
    """a -> b -> c -> d, each sleeping; c sleeps long so a kill lands while it runs."""
    a = slow_step(marker_dir=marker_dir, name="a", seconds=seconds)
    b = slow_step(marker_dir=marker_dir, name="b", seconds=seconds, data=a.outputs["out"])
    c = slow_step(marker_dir=marker_dir, name="c", seconds=30, data=b.outputs["out"])
    slow_step(marker_dir=marker_dir, name="d", seconds=seconds, data=c.outputs["out"])
