"""Pipelines with control flow for end-to-end tests of the local orchestrator."""

from __future__ import annotations

import json
import os
import time
from typing import NamedTuple

import numpy  # noqa: F401 - its OpenBLAS thread pool is what threads_seen reports

import conveyor
from conveyor import Dataset, Input, Model, Output, component, pipeline


class Checked(NamedTuple):
    passed: bool
    value: float


@component
def check(score: float, bar: float) -> Checked:
    """Whether a score clears a bar."""
    return Checked(score >= bar, score)


@component
def deploy(score: float, model: Output[Model]) -> str:
    """Write a 'deployed' marker."""
    os.makedirs(model.path)
    with open(os.path.join(model.path, "deployed.txt"), "w") as fh:
        fh.write(str(score))
    return "deployed"


@component
def alert(score: float) -> str:
    """Raise an alert instead of deploying."""
    return f"alert {score}"


@component
def announce(message: str) -> str:
    """Pass the branch's message on."""
    return message.upper()


@pipeline(name="gate")
def gate(score: float = 0.9, bar: float = 0.8):
    """Deploy when the score clears the bar, else alert; announce whichever ran."""
    c = check(score=score, bar=bar)
    with conveyor.If(c.outputs["passed"] == True):  # noqa: E712 - builds a condition
        d = deploy(score=c.outputs["value"])
    with conveyor.Else():
        a = alert(score=c.outputs["value"])
    announce(message=conveyor.OneOf(d.outputs["Output"], a.outputs["Output"]))


@component
def shards(n: int) -> list:
    """The shards to process: produced at run time."""
    return [{"id": i, "size": 10 * (i + 1)} for i in range(n)]


@component
def process(shard_id: int, size: int, log_dir: str, out: Output[Dataset]) -> int:
    """Process one shard; note when it ran, to check the concurrency limit."""
    start = time.time()
    time.sleep(0.3)
    with open(out.path, "w") as fh:
        fh.write("x" * size)
    with open(os.path.join(log_dir, f"shard-{shard_id}.json"), "w") as fh:
        json.dump({"start": start, "end": time.time()}, fh)
    return size


@component
def merge(sizes: list, parts: Input[list[Dataset]]) -> int:
    """Fan-in of parameters and artifacts."""
    total = 0
    for part in parts:
        with open(part.path) as fh:
            total += len(fh.read())
    assert total == sum(sizes), (total, sizes)
    return total


@pipeline(name="fanout")
def fanout(n: int = 4, log_dir: str = "/tmp"):
    """Process shards produced at run time, two at a time, then merge."""
    s = shards(n=n)
    with conveyor.ParallelFor(s.output, parallelism=2) as shard:
        p = process(shard_id=shard["id"], size=shard["size"], log_dir=log_dir)
    merge(sizes=conveyor.Collected(p.outputs["Output"]), parts=conveyor.Collected(p.outputs["out"]))


class Step(NamedTuple):
    total: int
    score: float


@component
def grow(rounds: int, fail_file: str, model: Output[Model], previous: Input[Model] = None) -> Step:
    """Add `rounds` rounds to the previous model (warm start); fail at 30 rounds while
    `fail_file` exists (outside the cache key, like a flaky cluster)."""
    total = 0
    if previous is not None:
        with open(os.path.join(previous.path, "rounds.txt")) as fh:
            total = int(fh.read())
    total += rounds
    if total == 30 and os.path.exists(fail_file):
        raise RuntimeError(f"diverged at {total} rounds")
    os.makedirs(model.path)
    with open(os.path.join(model.path, "rounds.txt"), "w") as fh:
        fh.write(str(total))
    return Step(total, 1 - 1 / (1 + total))


class Verdict(NamedTuple):
    done: bool
    best: float


@component
def judge(score: float, best_so_far: float, target: float) -> Verdict:
    """Stop once the score reaches the target."""
    return Verdict(score >= target, max(score, best_so_far))


@component
def milestone(rounds: int) -> str:
    """Only for some iterations."""
    return f"milestone at {rounds}"


@component
def finalize(model: Input[Model], scores: list) -> str:
    """After the loop: the last model and every iteration's score."""
    with open(os.path.join(model.path, "rounds.txt")) as fh:
        return f"{fh.read()} rounds, {len(scores)} iterations"


@pipeline(name="boosting")
def boosting(rounds: int = 10, target: float = 0.95, fail_file: str = "/nonexistent"):
    """Add rounds until the score reaches the target (at most 6 iterations)."""
    with conveyor.Loop(max_iterations=6) as loop:
        previous = loop.carry(initial=None)
        best = loop.carry(initial=0.0)
        g = grow(rounds=rounds, fail_file=fail_file, previous=previous)
        j = judge(score=g.outputs["score"], best_so_far=best, target=target)
        with conveyor.If(g.outputs["total"] >= 20):
            milestone(rounds=g.outputs["total"])
        previous.update(g.outputs["model"])
        best.update(j.outputs["best"])
        loop.stop_when(j.outputs["done"] == True)  # noqa: E712
    finalize(model=g.outputs["model"], scores=conveyor.Collected(g.outputs["score"]))


@component
def work(fail: bool) -> int:
    """Fail on request."""
    if fail:
        raise RuntimeError("work failed")
    return 1


@component
def notify(status: dict, path: str) -> str:
    """Write the run status where the test can read it."""
    with open(path, "w") as fh:
        json.dump(status, fh)
    return status["state"]


@pipeline(name="guarded")
def guarded(fail: bool = False, path: str = "/tmp/status.json"):
    """Work inside an exit handler that always reports."""
    n = notify(status=conveyor.RunStatus, path=path)
    with conveyor.ExitHandler(n):
        work(fail=fail)
        work(fail=False)


@component
def hog(megabytes: int) -> int:
    """Hold memory for a moment."""
    block = bytearray(megabytes * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(1.0)
    return len(block)


@component
def busy(seconds: float, log_dir: str, name: str) -> float:
    """Note when it ran."""
    start = time.time()
    time.sleep(seconds)
    with open(os.path.join(log_dir, f"{name}.json"), "w") as fh:
        json.dump({"start": start, "end": time.time()}, fh)
    return seconds


@pipeline(name="resources")
def resources(memory: str = "200Mi", megabytes: int = 50, cpus: float = 2.0, log_dir: str = "/tmp"):
    """A step with a memory limit from a parameter; two steps that each want every CPU."""
    hog(megabytes=megabytes).set_resources(memory=memory)
    busy(seconds=0.5, log_dir=log_dir, name="a").set_resources(cpu=cpus)
    busy(seconds=0.5, log_dir=log_dir, name="b").set_resources(cpu=cpus)


@component
def linger(marker: str, seconds: float) -> float:
    """Announce the start, then take long (a Ctrl-C lands while it runs)."""
    open(marker, "w").close()
    time.sleep(seconds)
    return seconds


@pipeline(name="interrupted")
def interrupted(marker: str = "/tmp/started", path: str = "/tmp/status.json"):
    """A long step inside an exit handler, then a loop that never gets to run."""
    n = notify(status=conveyor.RunStatus, path=path)
    with conveyor.ExitHandler(n):
        first = linger(marker=marker, seconds=30.0)
        with conveyor.Loop(max_iterations=3):
            linger(marker=marker, seconds=first.output)


@component
def threads_seen(tag: str) -> int:
    """The largest thread count of the native thread pools this step sees (numpy's OpenBLAS
    is loaded with this module, as a component's libraries are)."""
    from threadpoolctl import threadpool_info

    return max(int(info["num_threads"]) for info in threadpool_info())


@pipeline(name="threads")
def threads(cpus: float = 1.0):
    """One step limited to the CPUs of a parameter, one with no request."""
    threads_seen(tag="limited").set_resources(cpu=cpus)
    threads_seen(tag="free")  # another tag: not served from the first one's cache


@component
def flaky_count(path: str, fail_times: int) -> int:
    """Fail the first `fail_times` attempts (counted in a file), then succeed."""
    count = 0
    if os.path.exists(path):
        with open(path) as fh:
            count = int(fh.read())
    with open(path, "w") as fh:
        fh.write(str(count + 1))
    if count < fail_times:
        raise RuntimeError(f"attempt {count + 1} fails")
    return count + 1


@pipeline(name="retried")
def retried(retries: int = 0, path: str = "/tmp/count", fail_times: int = 2):
    """Retries decided by a pipeline parameter."""
    flaky_count(path=path, fail_times=fail_times).set_retry(retries, backoff_seconds=0.01)
