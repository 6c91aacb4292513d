"""The run-time control flow, driven by a simulated runner on hand-built IR."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from conveyor.execution.flow import Flow, Launch, NotRun
from conveyor.execution.results import TaskOutputs
from conveyor.ir import validate
from conveyor.ir.spec import (
    CollectedRef,
    ComponentSpec,
    Condition,
    Constant,
    GroupSpec,
    Implementation,
    ListRef,
    LoopCarry,
    LoopCarryRef,
    LoopItemRef,
    OneOfRef,
    ParameterSpec,
    PipelineParameterRef,
    PipelineSpec,
    RunStatusRef,
    TaskOutputRef,
    TaskSpec,
    ValueRef,
)
from conveyor.metadata.entities import ExecutionState

ANY = ParameterSpec("any", nullable=True)
Behaviour = Callable[[dict[str, Any]], dict[str, Any]]


def comp(name: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ("out",)) -> Any:
    return ComponentSpec(
        name=name,
        implementation=Implementation("tests", name),
        input_parameters={i: ParameterSpec("any", default=None, nullable=True) for i in inputs},
        output_parameters={o: ANY for o in outputs},
    )


def task(name: str, inputs: Mapping[str, ValueRef] | None = None, **kw: Any) -> TaskSpec:
    inputs = dict(inputs or {})
    deps = set(kw.pop("depends_on", ()))
    for ref in inputs.values():
        for r in ref.items if isinstance(ref, ListRef | OneOfRef) else (ref,):
            if isinstance(r, TaskOutputRef | CollectedRef):
                deps.add(r.task)
    return TaskSpec(name, name, inputs, depends_on=tuple(sorted(deps)), **kw)


def pipeline(
    tasks: list[TaskSpec],
    groups: list[GroupSpec] = (),  # type: ignore[assignment]
    params: Mapping[str, Any] | None = None,
) -> PipelineSpec:
    components = {t.name: comp(t.name, tuple(t.inputs), ("out", "done")) for t in tasks}
    spec = PipelineSpec(
        "flow",
        parameters={
            k: ParameterSpec("any", default=v, nullable=True) for k, v in (params or {}).items()
        },
        components=components,
        tasks={t.name: t for t in tasks},
        groups={g.name: g for g in groups},
    )
    validate(spec)
    return spec


class Runner:
    """Plays the orchestrator: launches what the flow says, with a behaviour per task."""

    def __init__(
        self, spec: PipelineSpec, params: Mapping[str, Any] | None = None, **behaviour: Behaviour
    ):
        defaults = {k: p.default for k, p in spec.parameters.items()}
        self.values = {**defaults, **(params or {})}
        self.flow = Flow(spec, self.values, run_id="r1")
        self.behaviour = behaviour
        self.launched: list[str] = []
        self.inputs: dict[str, dict[str, Any]] = {}
        self.not_run: dict[str, NotRun] = {}

    def value(self, ref: Any) -> Any:
        if isinstance(ref, Constant):
            return ref.value
        if isinstance(ref, PipelineParameterRef):
            return self.values[ref.name]
        if isinstance(ref, TaskOutputRef):
            return self.flow.outputs[ref.task].parameters[ref.output]
        if isinstance(ref, ListRef):
            return [self.value(i) for i in ref.items]
        raise AssertionError(ref)

    def step(self, finish: bool = True) -> list[Launch]:
        launches = []
        for d in self.flow.advance():
            if isinstance(d, NotRun):
                self.not_run[d.name] = d
            else:
                launches.append(d)
                self.launched.append(d.instance.name)
                self.inputs[d.instance.name] = {
                    k: self.value(v) for k, v in d.task_spec.inputs.items()
                }
        if finish:
            for launch in launches:
                self.finish(launch)
        return launches

    def finish(self, launch: Launch) -> None:
        name = launch.instance.name
        act = self.behaviour.get(launch.instance.task, lambda inputs: {"out": name})
        try:
            outputs = act(self.inputs[name])
        except RuntimeError as exc:
            self.flow.finish(name, ExecutionState.FAILED, error=str(exc))
            return
        self.flow.finish(name, ExecutionState.COMPLETE, TaskOutputs(outputs))

    def run(self) -> Runner:
        while self.step():
            pass
        for n in self.flow.pending("never became ready"):
            self.not_run[n.name] = n
        return self

    def out(self, name: str, key: str = "out") -> Any:
        return self.flow.outputs[name].parameters[key]

    def state(self, name: str) -> ExecutionState:
        return self.flow.states[name]


def eq(left: ValueRef, right: Any) -> Condition:
    return Condition("==", (left, Constant(right)))


# --- conditions ----------------------------------------------------------------------------


def _branches() -> PipelineSpec:
    flag = PipelineParameterRef("flag")
    return pipeline(
        [
            task("check", {"x": flag}),
            task("yes", {"x": TaskOutputRef("check", "out")}, group="then"),
            task("no", {"x": TaskOutputRef("check", "out")}, group="else"),
            task("after_yes", {"x": TaskOutputRef("yes", "out")}),
            task(
                "pick", {"x": OneOfRef((TaskOutputRef("yes", "out"), TaskOutputRef("no", "out")))}
            ),
        ],
        [
            GroupSpec("then", "condition", condition=eq(TaskOutputRef("check", "out"), True)),
            GroupSpec(
                "else",
                "condition",
                condition=Condition("not", (eq(TaskOutputRef("check", "out"), True),)),
            ),
        ],
        {"flag": True},
    )


@pytest.mark.parametrize("flag", [True, False])
def test_a_condition_runs_one_branch_and_records_the_other_as_skipped(flag: bool) -> None:
    r = Runner(_branches(), {"flag": flag}, check=lambda i: {"out": i["x"]}).run()

    ran, skipped = ("yes", "no") if flag else ("no", "yes")
    assert r.state(ran) == ExecutionState.COMPLETE
    assert r.state(skipped) == ExecutionState.SKIPPED
    assert "was false" in r.not_run[skipped].reason
    assert r.inputs["pick"] == {"x": ran}  # OneOf takes the branch that ran
    if flag:
        assert r.state("after_yes") == ExecutionState.COMPLETE
    else:  # a task consuming a skipped output is skipped too, and says why
        assert r.state("after_yes") == ExecutionState.SKIPPED
        assert "upstream task 'yes' was skipped (condition" in r.not_run["after_yes"].reason


def test_a_condition_that_cannot_be_compared_fails_its_tasks_with_the_reason() -> None:
    spec = pipeline(
        [task("a"), task("b", group="g")],
        [
            GroupSpec(
                "g", "condition", condition=Condition("<", (TaskOutputRef("a", "out"), Constant(3)))
            )
        ],
    )
    r = Runner(spec, a=lambda i: {"out": None}).run()

    assert r.state("b") == ExecutionState.FAILED
    assert "cannot be compared" in r.not_run["b"].reason


def test_an_upstream_failure_cancels_the_condition_and_its_tasks() -> None:
    r = Runner(_branches(), check=_raise).run()

    assert r.state("check") == ExecutionState.FAILED
    assert {r.state(t) for t in ("yes", "no", "after_yes", "pick")} == {ExecutionState.CANCELED}


def _raise(inputs: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("boom")


# --- parallel-for --------------------------------------------------------------------------


def _fan(items: ValueRef, parallelism: int | None = None) -> PipelineSpec:
    return pipeline(
        [
            task("make"),
            task("square", {"x": LoopItemRef("each")}, group="each"),
            task("sum", {"xs": CollectedRef("square", "out", "each")}, depends_on=("square",)),
        ],
        [GroupSpec("each", "parallel_for", items=items, parallelism=parallelism)],
    )


def test_parallel_for_fans_out_over_a_static_list_and_collects_in_order() -> None:
    r = Runner(_fan(Constant([3, 1, 2])), square=lambda i: {"out": i["x"] ** 2}).run()

    assert [n for n in r.launched if n.startswith("square")] == [
        "square[0]",
        "square[1]",
        "square[2]",
    ]
    assert r.inputs["sum"] == {"xs": [9, 1, 4]}


def test_parallel_for_over_a_list_produced_at_run_time() -> None:
    spec = _fan(TaskOutputRef("make", "out"))
    r = Runner(spec, make=lambda i: {"out": [5, 6]}, square=lambda i: {"out": -i["x"]}).run()

    assert r.inputs["sum"] == {"xs": [-5, -6]}


def test_parallelism_bounds_the_iterations_in_flight() -> None:
    r = Runner(_fan(Constant(list(range(5))), parallelism=2))
    first = [x for x in r.step(finish=False) if x.instance.task == "square"]
    assert [x.instance.name for x in first] == ["square[0]", "square[1]"]
    assert r.step(finish=False) == []  # nothing more until one ends
    r.finish(first[0])
    assert [x.instance.name for x in r.step(finish=False)] == ["square[2]"]


def test_an_empty_list_skips_the_body_and_collects_nothing() -> None:
    r = Runner(_fan(Constant([]))).run()

    assert r.state("square[*]") == ExecutionState.SKIPPED
    assert r.inputs["sum"] == {"xs": []}


def test_items_that_are_not_a_list_fail_the_body_with_a_clear_error() -> None:
    r = Runner(_fan(TaskOutputRef("make", "out")), make=lambda i: {"out": 7}).run()

    assert r.state("square[*]") == ExecutionState.FAILED
    assert "must be a list, got 7" in r.not_run["square[*]"].reason
    assert r.state("sum") == ExecutionState.CANCELED


def test_a_missing_key_of_a_dict_item_fails_that_instance() -> None:
    spec = pipeline(
        [task("use", {"x": LoopItemRef("each", "lr")}, group="each")],
        [GroupSpec("each", "parallel_for", items=Constant([{"lr": 0.1}, {"rate": 1}]))],
    )
    r = Runner(spec).run()

    assert r.inputs["use[0]"] == {"x": 0.1}
    assert r.state("use[1]") == ExecutionState.FAILED
    assert "has no key 'lr'" in r.not_run["use[1]"].reason


def test_a_failed_item_cancels_the_fan_in_but_not_its_siblings() -> None:
    def square(i: dict[str, Any]) -> dict[str, Any]:
        if i["x"] == 2:
            raise RuntimeError("bad item")
        return {"out": i["x"]}

    r = Runner(_fan(Constant([1, 2, 3])), square=square).run()

    assert r.state("square[0]") == r.state("square[2]") == ExecutionState.COMPLETE
    assert r.state("square[1]") == ExecutionState.FAILED
    assert r.state("sum") == ExecutionState.CANCELED


# --- loops ---------------------------------------------------------------------------------


def _training_loop(max_iterations: int = 10) -> PipelineSpec:
    return pipeline(
        [
            task("data"),
            task(
                "train",
                {"data": TaskOutputRef("data", "out"), "warm": LoopCarryRef("fit", "model")},
                group="fit",
            ),
            task("check", {"score": TaskOutputRef("train", "out")}, group="fit"),
            task("push", {"model": TaskOutputRef("train", "out")}),
            task("curve", {"scores": CollectedRef("train", "out", "fit")}, depends_on=("train",)),
        ],
        [
            GroupSpec(
                "fit",
                "loop",
                max_iterations=max_iterations,
                until=eq(TaskOutputRef("check", "done"), True),
                carry={"model": LoopCarry(None, TaskOutputRef("train", "out"))},
            )
        ],
    )


def _train(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"out": (inputs.get("warm") or 0) + 1}  # one more round on the previous model


def test_a_loop_warm_starts_each_iteration_until_the_stop_condition_holds() -> None:
    r = Runner(
        _training_loop(),
        train=_train,
        check=lambda i: {"out": None, "done": i["score"] >= 3},
    ).run()

    assert [n for n in r.launched if n.startswith("train")] == ["train[0]", "train[1]", "train[2]"]
    assert "warm" not in r.inputs["train[0]"]  # no initial value: the input keeps its default
    assert r.inputs["train[2]"]["warm"] == 2
    assert r.inputs["push"] == {"model": 3}  # outside the loop: the last iteration
    assert r.inputs["curve"] == {"scores": [1, 2, 3]}
    summary = r.flow.loop_summary()["fit"]
    assert summary["iterations"] == 3 and "held after iteration 2" in summary["reason"]


def test_a_loop_stops_at_max_iterations() -> None:
    r = Runner(_training_loop(4), train=_train, check=lambda i: {"out": 0, "done": False}).run()

    assert r.out("train[3]") == 4
    assert "train[4]" not in r.launched
    assert r.flow.loop_summary()["fit"]["reason"] == "reached max_iterations=4"


def test_a_failure_inside_an_iteration_stops_the_loop_and_cancels_what_follows() -> None:
    def train(inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("warm") == 2:
            raise RuntimeError("diverged")
        return _train(inputs)

    r = Runner(_training_loop(), train=train, check=lambda i: {"out": 0, "done": False}).run()

    assert r.state("train[0]") == r.state("train[1]") == ExecutionState.COMPLETE
    assert r.state("train[2]") == ExecutionState.FAILED
    assert r.state("check[2]") == ExecutionState.CANCELED
    assert "train[3]" not in r.flow.states
    assert r.state("push") == ExecutionState.CANCELED
    assert r.flow.loop_summary()["fit"]["failed"] is True


def test_a_condition_inside_a_loop_is_decided_per_iteration() -> None:
    spec = pipeline(
        [
            task("step", {"prev": LoopCarryRef("l", "n")}, group="l"),
            task("report", {"x": TaskOutputRef("step", "out")}, group="even"),
        ],
        [
            GroupSpec(
                "l",
                "loop",
                max_iterations=4,
                carry={"n": LoopCarry(Constant(0), TaskOutputRef("step", "out"))},
            ),
            GroupSpec(
                "even",
                "condition",
                parent="l",
                condition=Condition("in", (TaskOutputRef("step", "out"), Constant([2, 4]))),
            ),
        ],
    )
    r = Runner(spec, step=lambda i: {"out": i["prev"] + 1}).run()

    assert [r.state(f"report[{i}]") for i in range(4)] == [
        ExecutionState.SKIPPED,
        ExecutionState.COMPLETE,
        ExecutionState.SKIPPED,
        ExecutionState.COMPLETE,
    ]


def test_a_parallel_for_inside_a_loop_collects_per_iteration() -> None:
    spec = pipeline(
        [
            task("part", {"x": LoopItemRef("each")}, group="each"),
            task(
                "join", {"xs": CollectedRef("part", "out", "each")}, group="l", depends_on=("part",)
            ),
        ],
        [
            GroupSpec("l", "loop", max_iterations=2),
            GroupSpec("each", "parallel_for", parent="l", items=Constant(["a", "b"])),
        ],
    )
    r = Runner(spec, part=lambda i: {"out": i["x"] * 2}).run()

    assert sorted(n for n in r.launched if n.startswith("part")) == [
        "part[0][0]",
        "part[0][1]",
        "part[1][0]",
        "part[1][1]",
    ]
    assert r.inputs["join[1]"] == {"xs": ["aa", "bb"]}


# --- exit handlers and run-time options -----------------------------------------------------


def _guarded() -> PipelineSpec:
    return pipeline(
        [
            task("a", group="guard"),
            task("b", {"x": TaskOutputRef("a", "out")}, group="guard"),
            task("notify", {"status": RunStatusRef()}),
        ],
        [GroupSpec("guard", "exit_handler", handler_task="notify")],
    )


def test_the_exit_handler_runs_last_with_the_status_of_what_it_guards() -> None:
    r = Runner(_guarded(), b=_raise).run()

    assert r.launched[-1] == "notify"
    status = r.inputs["notify"]["status"]
    assert status["state"] == "FAILED"
    assert status["failed_tasks"] == ["b"]
    assert status["error"] == "boom"
    assert status["run_id"] == "r1"


def test_the_exit_handler_gets_complete_when_everything_succeeded() -> None:
    r = Runner(_guarded()).run()

    assert r.inputs["notify"]["status"]["state"] == "COMPLETE"


def test_run_time_options_are_resolved_and_checked() -> None:
    spec = pipeline(
        [
            task(
                "fit",
                dynamic={
                    "cpu": PipelineParameterRef("cpus"),
                    "max_retries": PipelineParameterRef("retries"),
                },
            )
        ],
        params={"cpus": 2, "retries": 3},
    )
    r = Runner(spec)
    (launch,) = r.step()
    assert launch.task_spec.resources.cpu == 2.0
    assert launch.task_spec.retry.max_retries == 3

    bad = Runner(spec, {"cpus": "many"}).run()
    assert bad.state("fit") == ExecutionState.FAILED
    assert "option 'cpu' got 'many'" in bad.not_run["fit"].reason


def test_pending_names_what_waits_when_nothing_else_can_run() -> None:
    r = Runner(_fan(TaskOutputRef("make", "out")))
    r.step(finish=False)  # make is launched and never finishes

    pending = {n.name: n for n in r.flow.pending("run cancelled")}

    assert set(pending) == {"sum", "square[*]"}
    assert all(n.state == ExecutionState.CANCELED for n in pending.values())


def test_after_a_cancel_only_the_exit_handler_runs_and_it_is_told() -> None:
    spec = pipeline(
        [
            task("a", group="guard"),
            task("b", {"x": TaskOutputRef("a", "out")}, group="fit"),
            task("notify", {"status": RunStatusRef()}),
        ],
        [
            GroupSpec("guard", "exit_handler", handler_task="notify"),
            GroupSpec("fit", "loop", parent="guard", max_iterations=3),
        ],
    )
    r = Runner(spec)
    (running,) = r.step(finish=False)
    assert running.instance.name == "a"
    r.flow.finish("a", ExecutionState.CANCELED, error="run cancelled")
    r.flow.cancel()

    launches = r.step()

    assert [x.instance.name for x in launches] == ["notify"]
    assert r.inputs["notify"]["status"]["state"] == "CANCELED"
    assert r.not_run["b[0]"].state == ExecutionState.CANCELED  # no further iteration starts
    assert r.flow.loop_summary()["fit"]["iterations"] == 1
    assert r.flow.pending("run cancelled") == []


def test_a_loop_inside_a_parallel_for_runs_per_item_and_is_collected_per_item() -> None:
    spec = pipeline(
        [
            task("step", {"n": LoopCarryRef("l", "n"), "item": LoopItemRef("each")}, group="l"),
            task("last", {"x": TaskOutputRef("step", "out")}, group="each"),
            task("all", {"xs": CollectedRef("last", "out", "each")}, depends_on=("last",)),
        ],
        [
            GroupSpec("each", "parallel_for", items=Constant([2, 3])),
            GroupSpec(
                "l",
                "loop",
                parent="each",
                max_iterations=5,
                until=Condition(">=", (TaskOutputRef("step", "out"), LoopItemRef("each"))),
                carry={"n": LoopCarry(Constant(0), TaskOutputRef("step", "out"))},
            ),
        ],
    )
    r = Runner(spec, step=lambda i: {"out": i["n"] + 1}, last=lambda i: {"out": i["x"]}).run()

    assert sorted(n for n in r.launched if n.startswith("step")) == [
        "step[0][0]",
        "step[0][1]",
        "step[1][0]",
        "step[1][1]",
        "step[1][2]",
    ]  # each item's loop stops at its own bound
    assert r.inputs["last[0]"] == {"x": 2} and r.inputs["last[1]"] == {"x": 3}
    assert r.inputs["all"] == {"xs": [2, 3]}


def test_a_condition_on_pipeline_parameters_is_decided_before_any_step_runs() -> None:
    spec = pipeline(
        [task("fast", group="quick"), task("slow", group="thorough")],
        [
            GroupSpec("quick", "condition", condition=eq(PipelineParameterRef("mode"), "fast")),
            GroupSpec("thorough", "condition", condition=eq(PipelineParameterRef("mode"), "slow")),
        ],
        {"mode": "fast"},
    )
    flow = Flow(spec, {"mode": "fast"})

    decisions = {d.instance.name if isinstance(d, Launch) else d.name: d for d in flow.advance()}

    assert isinstance(decisions["fast"], Launch)
    assert decisions["slow"].state == ExecutionState.SKIPPED  # type: ignore[union-attr]
    assert (flow.opened("quick"), flow.opened("thorough")) == (True, False)


def test_an_item_stays_in_flight_until_all_its_steps_ended() -> None:
    spec = pipeline(
        [
            task("a", {"x": LoopItemRef("each")}, group="each"),
            task("b", {"x": TaskOutputRef("a", "out")}, group="each"),
        ],
        [GroupSpec("each", "parallel_for", items=Constant([1, 2, 3]), parallelism=1)],
    )
    r = Runner(spec)

    (a0,) = r.step(finish=False)
    r.finish(a0)
    (b0,) = r.step(finish=False)  # item 0 still runs b: item 1 waits
    assert b0.instance.name == "b[0]"
    r.finish(b0)
    assert [x.instance.name for x in r.step(finish=False)] == ["a[1]"]
    assert {n.name for n in r.flow.pending("run cancelled")} == {"b[1]", "a[2]", "b[2]"}
