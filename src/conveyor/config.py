"""Settings: ``CONVEYOR_*`` environment variables over ``conveyor.toml`` over defaults.

Only the edges (CLI, servers) load settings; everything else takes explicit arguments.

=====================  =========================  ==========================================
setting                environment variable       default
=====================  =========================  ==========================================
home                   ``CONVEYOR_HOME``          ``./.conveyor``
metadata_url           ``CONVEYOR_METADATA_URL``  ``sqlite:///<home>/metadata.db``
artifact_root          ``CONVEYOR_ARTIFACT_ROOT`` ``<home>/artifacts``
workers                ``CONVEYOR_WORKERS``       number of CPUs
=====================  =========================  ==========================================

``conveyor.toml`` (in the working directory, or the file named by ``CONVEYOR_CONFIG``) holds
the same keys at top level or under ``[conveyor]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from conveyor.errors import ConfigError

__all__ = ["Settings"]

_ENV = {
    "home": "CONVEYOR_HOME",
    "metadata_url": "CONVEYOR_METADATA_URL",
    "artifact_root": "CONVEYOR_ARTIFACT_ROOT",
    "workers": "CONVEYOR_WORKERS",
}


@dataclass(frozen=True)
class Settings:
    """Where Conveyor keeps metadata, artifacts and logs.

    Attributes:
        home: folder for logs, scratch space and the default stores.
        metadata_url: SQLAlchemy-style URL of the metadata store (``sqlite:///...``,
            ``postgresql://...``).
        artifact_root: local folder or fsspec URL (``s3://bucket/prefix``) for artifacts.
        workers: worker processes of the local orchestrator.
        config_file: the ``conveyor.toml`` that was read, if any.

    Example:
        >>> Settings.load(env={"CONVEYOR_HOME": "/tmp/cv"}, cwd="/nonexistent").artifact_root
        '/tmp/cv/artifacts'
    """

    home: str
    metadata_url: str
    artifact_root: str
    workers: int
    config_file: str | None = None

    @classmethod
    def load(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Read settings: ``overrides`` > environment > ``conveyor.toml`` > defaults."""
        env = os.environ if env is None else env
        cwd = os.path.abspath(cwd or os.getcwd())
        config_file: str | None = env.get("CONVEYOR_CONFIG") or os.path.join(cwd, "conveyor.toml")
        assert config_file is not None
        from_file: dict[str, Any] = {}
        if os.path.isfile(config_file):
            import tomllib

            try:
                with open(config_file, "rb") as fh:
                    data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"Cannot read {config_file}: {exc}") from exc
            section = data.get("conveyor", data)
            known = {f.name for f in fields(cls)} - {"config_file"}
            unknown = sorted(set(section) - known - {"conveyor"})
            if unknown:
                raise ConfigError(
                    f"{config_file}: unknown setting(s) {unknown!r}; known: {sorted(known)!r}"
                )
            from_file = {k: v for k, v in section.items() if k in known}
        elif env.get("CONVEYOR_CONFIG"):
            raise ConfigError(f"CONVEYOR_CONFIG names {config_file!r}, which does not exist")
        else:
            config_file = None

        def pick(key: str) -> Any:
            if overrides and overrides.get(key) is not None:
                return overrides[key]
            if _ENV[key] in env and env[_ENV[key]] != "":
                return env[_ENV[key]]
            return from_file.get(key)

        home = os.path.abspath(os.path.join(cwd, str(pick("home") or ".conveyor")))
        metadata_url = str(pick("metadata_url") or f"sqlite:///{home}/metadata.db")
        artifact_root = str(pick("artifact_root") or os.path.join(home, "artifacts"))
        if "://" not in artifact_root:
            artifact_root = os.path.abspath(os.path.join(cwd, artifact_root))
        raw_workers = pick("workers")
        try:
            workers = int(raw_workers) if raw_workers is not None else (os.cpu_count() or 1)
        except (TypeError, ValueError):
            raise ConfigError(
                f"workers must be a whole number, got {raw_workers!r} "
                "(CONVEYOR_WORKERS or conveyor.toml)"
            ) from None
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        return cls(home, metadata_url, artifact_root, workers, config_file)
