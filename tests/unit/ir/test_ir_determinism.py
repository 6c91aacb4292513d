"""The same pipeline always compiles to the same bytes, in one process and across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from conveyor.dsl.pipeline import build_pipeline
from conveyor.ir import dumps, loads

_COMPILE = textwrap.dedent(
    """
    import sys
    from conveyor._internal.importing import import_file
    from conveyor.ir import dumps

    module = import_file(sys.argv[1])
    sys.stdout.buffer.write(dumps(getattr(module, sys.argv[2]).spec).encode("utf-8"))
    """
)


def _compile_in_subprocess(path: str, attr: str, hash_seed: str, cwd: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", _COMPILE, path, attr],
        capture_output=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_dumps_is_byte_identical_when_the_pipeline_is_built_twice(
    resource_pipeline: tuple[str, str], pipeline_of: Any
) -> None:
    pipeline = pipeline_of(resource_pipeline)

    first, second = build_pipeline(pipeline), build_pipeline(pipeline)

    assert first is not second
    assert dumps(first) == dumps(second)


def test_dumps_is_byte_identical_across_processes(
    resource_pipeline: tuple[str, str], pipeline_of: Any, tmp_path: Any
) -> None:
    path, attr = resource_pipeline
    here = dumps(pipeline_of(resource_pipeline).spec).encode("utf-8")

    # different hash seeds and working folders must not change a byte
    one = _compile_in_subprocess(path, attr, "1", str(tmp_path))
    two = _compile_in_subprocess(path, attr, "4242", os.path.dirname(path))

    assert one == here
    assert two == here


def test_dumps_writes_sorted_keys_two_space_indent_and_a_final_newline(full_spec: Any) -> None:
    text = dumps(full_spec)

    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_dumps_writes_the_same_bytes_for_int_and_float_seconds(load_resource: Any) -> None:
    from dataclasses import replace

    spec = load_resource("simple").simple.spec
    train = spec.tasks["train"]
    as_int = replace(spec, tasks={**spec.tasks, "train": replace(train, timeout_seconds=60)})
    as_float = replace(spec, tasks={**spec.tasks, "train": replace(train, timeout_seconds=60.0)})

    assert dumps(as_int) == dumps(as_float)
    assert dumps(loads(dumps(as_int))) == dumps(as_int)
