"""A small trained classifier saved with its example rows and pushed, for the deploy tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.model.presets import create_estimator
from conveyor.model.saved import save_model
from conveyor.model.transform import fit_transform
from conveyor.storage import content_digest

SCHEMA = DataSchema(
    [
        FeatureSchema("x", FeatureType.FLOAT),
        FeatureSchema("n", FeatureType.INT),
        FeatureSchema("c", FeatureType.STRING, values=["a", "b"]),
        FeatureSchema("y", FeatureType.STRING),
    ]
)
CLASSES = ["no", "yes"]
BIN = str(Path(sys.executable).parent)


def training_table(rows: int = 200) -> pa.Table:
    rng = np.random.default_rng(1)
    x = rng.normal(size=rows)
    n = rng.integers(0, 10, rows)
    c = rng.choice(["a", "b"], rows)
    y = np.where(x + (c == "a") + n / 10 > 0.8, "yes", "no")
    return pa.table({"x": x, "n": n, "c": c, "y": y})


def push_model(root: Path, name: str = "toy", *, examples: bool = True) -> Path:
    """A classifier saved (with its example rows unless told) and pushed as
    ``root/name/1700000000`` with the Pusher's record."""
    table = training_table()
    fitted = fit_transform(table, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(table), np.searchsorted(CLASSES, table.column("y").to_pylist()))
    trained = root / f"{name}-trained"
    save_model(str(trained), estimator, fitted, task="classification", label="y",
               classes=CLASSES, schema=SCHEMA, examples=table if examples else None)  # fmt: skip
    version = root / name / "1700000000"
    version.parent.mkdir(parents=True)
    os.rename(trained, version)
    marker = {"model_fingerprint": content_digest(str(version)), "version": 1700000000}
    (version / "conveyor_push.json").write_text(json.dumps(marker))
    return version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[str], url: str, seconds: float = 60) -> None:
    """Until ``url``/readyz answers 200; fails with the output if the process exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.communicate()[0]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server not ready in {seconds} s: {proc.communicate()[0]}")


def register(home: Path, folders: list[Path], name: str = "toy") -> str:
    """Register each model folder (a trainer's: its push record removed) as the next blessed
    version of ``name`` in the metadata store of CONVEYOR_HOME ``home``; the store's URL."""
    from conveyor.config import Settings
    from conveyor.metadata import ExecutionState, NewArtifact
    from conveyor.metadata.sql import SqlMetadataStore
    from conveyor.testing.registry import bless

    url = str(Settings.load(env={"CONVEYOR_HOME": str(home)}, cwd=str(home)).metadata_url)
    with SqlMetadataStore(url) as store:
        store.register_model(name)
        for i, folder in enumerate(folders):
            (folder / "conveyor_push.json").unlink(missing_ok=True)
            _, [model] = store.record_execution(
                "Trainer", f"trainer-{i}", ExecutionState.COMPLETE,
                outputs=[NewArtifact("model", "conveyor.Model@1.0.0", str(folder),
                                     fingerprint=content_digest(str(folder)))],
            )  # fmt: skip
            bless(store, model.id)
            store.create_model_version(name, model.id)
    return url


def set_alias(url: str, alias: str, version: int, name: str = "toy") -> None:
    from conveyor.metadata.sql import SqlMetadataStore

    with SqlMetadataStore(url) as store:
        store.set_alias(name, alias, version)
