"""Drive the schedulers of one or more runs over one worker pool until every run ends."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from conveyor.execution.prepare import PreparedTask
from conveyor.orchestrator.scheduler import LOG_POLL_SECONDS, Scheduler
from conveyor.orchestrator.workers import Job, WorkerPool

__all__ = ["cpu_slots", "drive", "interrupt"]


def cpu_slots(prepared: PreparedTask, capacity: int) -> int:
    """Worker slots a step takes: its CPU request rounded up, at least 1, at most the pool."""
    cpu = prepared.task_spec.resources.cpu
    if cpu is None:
        return 1
    return max(1, min(capacity, math.ceil(cpu)))


class _Slots:
    """CPU slots of the pool in use, by (run, step)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used: dict[tuple[str, str], int] = {}

    def fill(self, schedulers: Sequence[Scheduler], pool: WorkerPool) -> bool:
        """Start queued steps, runs taking turns, while workers and CPU slots are free.

        A step that asks for more CPUs than are free waits at the head of its run's queue
        (smaller steps of that run do not overtake it and starve it)."""
        started = False
        progressed = True
        while progressed and pool.idle:
            progressed = False
            for sched in schedulers:
                if not sched.queue or not pool.idle:
                    continue
                need = cpu_slots(sched.queue[0][0], self.capacity)
                if self.used and sum(self.used.values()) + need > self.capacity:
                    continue
                prepared = sched.submit_next()
                self.used[(sched.run.run_id, prepared.task)] = need
                started = progressed = True
        return started

    def free(self, job: Job) -> None:
        self.used.pop((job.run.run_id, job.prepared.task), None)


def drive(
    schedulers: Sequence[Scheduler],
    pool: WorkerPool | None,
    on_done: Callable[[Scheduler], None] | None = None,
) -> None:
    """Run every scheduler's run to its end (steps inline when there is no pool);
    ``on_done`` is called for each run as soon as nothing of it runs or can run."""
    by_run = {s.run.run_id: s for s in schedulers}
    slots = _Slots(pool.size if pool is not None else 1)
    done: set[str] = set()

    def close(sched: Scheduler) -> None:
        if sched.run.run_id not in done:
            done.add(sched.run.run_id)
            sched.conclude("never became ready")
            if on_done is not None:
                on_done(sched)

    while True:
        progressed = True
        while progressed:
            progressed = any([s.pump() for s in schedulers])
            if pool is not None:
                progressed = slots.fill(schedulers, pool) or progressed
        for s in schedulers:
            if s.idle:  # parked steps count as running in the flow: not idle
                close(s)
        if pool is None or pool.busy == 0:
            if pool is not None and any(s.queue for s in schedulers):
                continue  # a step that waited for CPU slots can start now
            shared = schedulers[0].shared
            if shared.parked:  # their owner is gone: compute them
                for key in list(shared.parked):
                    shared.in_flight.setdefault(key, "(gone)")
                    schedulers[0].release(key)
                continue
            for s in schedulers:
                close(s)
            return
        events = pool.wait(timeout=LOG_POLL_SECONDS)
        for s in schedulers:
            for tail in s.tails.values():
                tail.poll()
        for event in events:
            assert event.job is not None
            slots.free(event.job)
            by_run[event.job.run.run_id].on_event(event)


def interrupt(schedulers: Sequence[Scheduler], pool: WorkerPool | None) -> None:
    """Stop running steps and record everything unfinished of every run as CANCELED."""
    jobs = pool.interrupt() if pool is not None else []
    for s in schedulers:
        s.cancel_all([j for j in jobs if j.run.run_id == s.run.run_id])
