"""conveyor.log_metric inside a pipeline step records the step's curve on its execution."""

from __future__ import annotations

from conveyor.metadata import CONTEXT_RUN


def test_a_step_logs_its_curve_on_its_execution(load, run_pipeline, store, mode):
    result = run_pipeline(load("tracked").tracked, {"epochs": 4}, **mode)
    assert result.ok
    execution_id = result.tasks["fit"].execution_id
    points = store.get_metrics(execution_id=execution_id)
    loss = [(m.step, m.value) for m in points if m.name == "loss"]
    assert loss == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert {m.name for m in points} == {"loss", "accuracy", "auc"}
    run_ctx = store.find_context(CONTEXT_RUN, result.run_id)
    assert all(m.context_id == run_ctx.id for m in points)
    # no stray run was started for the step's logging
    assert [c.name for c in store.list_contexts(CONTEXT_RUN)] == [result.run_id]
