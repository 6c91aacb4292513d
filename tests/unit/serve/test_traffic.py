"""The parts of ``conveyor serve`` that route traffic: the canary split, the shadow's bounded
queue, the worker config, and the slot swapped when a registry alias moves."""

from __future__ import annotations

import queue
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conveyor.errors import ConfigError
from conveyor.serve.app import ServeConfig, config_dict
from conveyor.serve.routing import goes_to_canary, key_share, parse_canary
from conveyor.serve.shadow import LogRecorder, Shadow, ShadowConfig, score_forever
from conveyor.serve.swap import Slot, Target, is_alias_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:/census@challenger=10%", ("models:/census@challenger", 0.1)),
        ("serving/census/17=0.5%", ("serving/census/17", 0.005)),
        ("models:/a@b=100%", ("models:/a@b", 1.0)),
    ],
)
def test_a_canary_is_a_model_and_a_percentage(text, expected):
    assert parse_canary(text) == expected


@pytest.mark.parametrize(
    "text", ["models:/a@b", "models:/a@b=10", "=10%", "models:/a@b=0%", "m=101%", "m=x%"]
)
def test_a_bad_canary_says_how_to_write_one(text):
    with pytest.raises(ConfigError, match=r"MODEL=PERCENT%.*models:/census@challenger=10%"):
        parse_canary(text)


def test_the_split_by_key_is_stable_and_near_its_share():
    assert key_share("user-17") == key_share("user-17")  # the same in every process and run
    assert 0 <= key_share("") < 1
    keys = [f"user-{i}" for i in range(10_000)]
    hits = sum(goes_to_canary(k, 0.1) for k in keys)
    assert 850 < hits < 1150  # 0.1 of 10,000 within 5 standard deviations (30)
    assert all(goes_to_canary(k, 0.1) == goes_to_canary(k, 0.1) for k in keys[:500])
    assert not any(goes_to_canary(k, 0.0) for k in keys[:500])
    assert all(goes_to_canary(k, 1.0) for k in keys[:500])


def test_the_worker_config_survives_its_json_round_trip():
    config = ServeConfig(
        "/m/1", "census", "1", uri="models:/census@champion", metadata_url="sqlite:///x.db",
        poll_seconds=2.5, canary=Target("/m/2", "census", "2", "models:/census@challenger"),
        canary_fraction=0.1, shadow=Target("/m/3", "census", "3"),
    )  # fmt: skip
    assert ServeConfig.from_dict(config_dict(config)) == config
    assert ServeConfig.from_dict(config_dict(ServeConfig("/m", "m"))) == ServeConfig("/m", "m")


def test_only_an_alias_can_move():
    assert is_alias_uri("models:/census@champion")
    assert not is_alias_uri("models:/census/3")
    assert not is_alias_uri("serving/census@1/17")
    assert not is_alias_uri(None)


def test_a_full_shadow_queue_drops_and_counts_and_the_process_logs_the_rest(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _saved(tmp_path / "m", threshold=0.0)
    counts: list[str] = []
    config = ShadowConfig(Target(str(tmp_path / "m"), "m", "3"), log_dir=str(tmp_path / "logs"))
    shadow = Shadow(config, counts.append, capacity=2)
    started = time.monotonic()
    for i in range(10):  # nobody reads yet: two queued, the rest dropped at once
        shadow.submit({"x": [float(i), 0.5]})
    assert time.monotonic() - started < 5
    assert counts == ["dropped"] * 8
    shadow.start()
    shadow.stop()  # scores what is queued, publishes its log, exits
    assert shadow.process.exitcode == 0
    table = pa.concat_tables([pq.read_table(f) for f in (tmp_path / "logs" / "m" / "3").iterdir()])
    assert table.num_rows == 4  # two requests of two rows
    assert set(table.column("role").to_pylist()) == {"shadow"}
    assert table.column("inputs").combine_chunks().field("x").to_pylist() == [0.0, 0.5, 1.0, 0.5]


def test_a_failing_shadow_is_counted_not_raised():
    slot = Slot("shadow", Target("/nowhere", "census", "3"))  # never loaded
    source: queue.Queue[dict[str, list[Any]]] = queue.Queue()
    source.put({"x": [1]})
    counts: list[str] = []

    def score(model: Any, columns: dict[str, list[Any]]) -> dict[str, Any]:
        raise AssertionError("not called without a model")

    score_forever(source, slot, score, LogRecorder(), counts.append, lambda: True)
    assert counts == ["failed"]


def test_a_canary_or_shadow_must_take_the_primarys_inputs(tmp_path: Path):
    from conveyor.serve.server import prepare

    _saved(tmp_path / "a", threshold=0.0)
    _saved(tmp_path / "b", threshold=1.0)
    _saved(tmp_path / "c", threshold=0.0, feature="z")
    config = prepare(str(tmp_path / "a"), token=None, max_body_bytes=100,
                     canary=(str(tmp_path / "b"), 0.1), shadow=str(tmp_path / "b"))  # fmt: skip
    assert config.canary is not None and config.canary.path == str(tmp_path / "b")
    assert config.shadow is not None and config.canary_fraction == 0.1
    for option in ("canary", "shadow"):
        other = (str(tmp_path / "c"), 0.1) if option == "canary" else str(tmp_path / "c")
        with pytest.raises(ConfigError, match=rf"--{option} .*x: FLOAT in the primary, absent "
                           r"here; z: absent in the primary, FLOAT here"):  # fmt: skip
            prepare(str(tmp_path / "a"), token=None, max_body_bytes=100, **{option: other})


def _saved(folder: Path, threshold: float, feature: str = "x") -> str:
    """A small classifier of one float input (``feature``) saved at ``folder``; its digest."""
    import numpy as np
    import pyarrow as pa

    from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
    from conveyor.model.presets import create_estimator
    from conveyor.model.saved import save_model
    from conveyor.model.transform import fit_transform
    from conveyor.storage import content_digest

    schema = DataSchema(
        [FeatureSchema(feature, FeatureType.FLOAT), FeatureSchema("y", FeatureType.STRING)]
    )
    x = np.linspace(-3, 3, 60)
    table = pa.table({feature: x, "y": np.where(x > threshold, "yes", "no")})
    fitted = fit_transform(table, schema, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(table), (x > threshold).astype(int))
    save_model(str(folder), estimator, fitted, task="classification", label="y",
               classes=["no", "yes"], schema=schema)  # fmt: skip
    return content_digest(str(folder))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_slot_swaps_when_its_alias_moves_and_refuses_changed_files(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
):
    from conveyor.metadata import ExecutionState, NewArtifact
    from conveyor.metadata.sql import SqlMetadataStore
    from conveyor.serve.source import open_registry
    from conveyor.testing.registry import bless

    url = (
        f"sqlite:///{tmp_path / 'meta.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_uri")
    )
    name = f"m{uuid.uuid4().hex[:8]}"  # the PostgreSQL schema lasts the whole session
    with SqlMetadataStore(url) as store:
        store.register_model(name)
        for i in (1, 2, 3):
            folder = tmp_path / f"v{i}"
            digest = _saved(folder, threshold=i - 2)
            _, [model] = store.record_execution(
                "Trainer", f"t{i}", ExecutionState.COMPLETE,
                outputs=[NewArtifact("model", "conveyor.Model@1.0.0", str(folder),
                                     fingerprint=digest)],
            )  # fmt: skip
            bless(store, model.id)
            store.create_model_version(name, model.id)
        store.set_alias(name, "champion", 1)
    (tmp_path / "v2" / "conveyor_model.json").write_text("{}")  # changed since registered
    swaps: list[tuple[str, str]] = []
    failures: list[tuple[str, str]] = []
    target = Target(str(tmp_path / "v1"), name, "1", f"models:/{name}@champion")
    slot = Slot("primary", target, on_swap=lambda *a: swaps.append(a),
                on_failure=lambda *a: failures.append(a))  # fmt: skip
    slot.load(url, follow=True)
    first = slot.current
    assert first is not None and first.version == "1"
    registry = open_registry(url)
    try:
        assert not slot.refresh(registry)  # the alias has not moved
        with SqlMetadataStore(url) as store:
            store.set_alias(name, "champion", 2)
        assert not slot.refresh(registry)
        assert slot.current is first and failures == [("primary", "2")]
        assert not slot.refresh(registry)  # a failed version is not tried again
        assert failures == [("primary", "2")]
        with SqlMetadataStore(url) as store:
            store.set_alias(name, "champion", 3)
        assert slot.refresh(registry)
        assert slot.current is not None and slot.current.version == "3"
        assert swaps == [("primary", "3")]
        assert slot.current.model.predict([{"x": 0.5}]).tolist() == ["no"]  # threshold 1
        assert first.model.predict([{"x": 0.5}]).tolist() == ["yes"]  # the old one is intact
    finally:
        registry.close()
    restarted = Slot("primary", target)
    restarted.load(url, follow=True)  # a worker started after the swap serves version 3
    assert restarted.current is not None and restarted.current.version == "3"
