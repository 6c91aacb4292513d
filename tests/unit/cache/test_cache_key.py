"""Cache keys and the human reasons for a miss."""

from __future__ import annotations

from conveyor.cache.keys import CacheKey, explain_change


def key(**changes) -> CacheKey:
    base = dict(
        component="train",
        code={"function:m.train": "sha256:1", "file:helpers.py": "sha256:2"},
        parameters={"C": 1.0},
        inputs={"data": "sha256:d"},
        env={"SEED": None},
        packages=("scikit-learn==1.5",),
    )
    base.update(changes)
    return CacheKey(**base)


def test_key_is_deterministic_and_order_free():
    a = key(parameters={"C": 1.0, "depth": 3})
    b = key(parameters={"depth": 3, "C": 1.0})
    assert a.digest == b.digest
    assert CacheKey.from_dict(a.to_dict()).digest == a.digest


def test_key_depends_on_every_part():
    base = key().digest
    variants = [
        key(component="other"),
        key(code={"function:m.train": "sha256:X", "file:helpers.py": "sha256:2"}),
        key(parameters={"C": 2.0}),
        key(inputs={"data": "sha256:other"}),
        key(env={"SEED": "sha256:s"}),
        key(packages=("scikit-learn==1.6",)),
    ]
    assert len({v.digest for v in variants} | {base}) == len(variants) + 1


def test_explain_names_each_change():
    before = key()
    after = key(
        code={"function:m.train": "sha256:1", "file:helpers.py": "sha256:9", "file:new.py": "x"},
        parameters={"C": 0.5},
        inputs={"data": "sha256:new"},
        env={"SEED": "sha256:s"},
    )
    reasons = explain_change(before, after, upstream={"data": "ingest"})
    assert reasons == [
        "code: file helpers.py changed",
        "code: file new.py is new",
        "parameter C: 1.0 -> 0.5",
        "input data: content changed (from task 'ingest')",
        "environment variable SEED changed",
    ]


def test_explain_first_run_and_no_change():
    assert explain_change(None, key()) == ["no earlier execution of this task"]
    assert explain_change(key(), key()) == []


def test_environment_values_are_digested_not_stored(monkeypatch):
    monkeypatch.setenv("CV_SECRET", "hunter2")
    env = CacheKey.environment(["CV_SECRET", "CV_UNSET_VAR"])
    assert env["CV_UNSET_VAR"] is None
    assert env["CV_SECRET"] is not None and "hunter2" not in env["CV_SECRET"]
