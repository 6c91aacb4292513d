"""The model registry: named models, numbered versions bound to ``Model`` artifacts, aliases
(``champion``, ``challenger``, ...) pointing at versions, and the history of every alias move.

A reference names one version: ``census@champion`` (through an alias) or ``census/3`` (by
number); ``models:/census@champion`` is the same reference as a URI (see
:func:`parse_model_ref`). Moving an alias to a version whose model no evaluation blessed is
refused (:class:`~conveyor.errors.UnblessedModelError`) unless forced with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from conveyor.errors import ConfigError

__all__ = [
    "MODELS_SCHEME",
    "AliasChange",
    "ModelRef",
    "ModelRegistry",
    "ModelVersion",
    "RegisteredModel",
    "check_registry_name",
    "parse_model_ref",
]

MODELS_SCHEME = "models:/"
"""The prefix of a model URI: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""


@dataclass(frozen=True)
class RegisteredModel:
    """A named model. ``aliases`` maps each alias to the version NUMBER it points at."""

    id: int
    name: str
    description: str
    tags: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """Version ``version`` (1, 2, ...) of model ``model_name``, bound to the ``Model``
    artifact ``artifact_id`` whose files are at ``uri``; ``aliases`` point at it now."""

    id: int
    model_name: str
    version: int
    artifact_id: int
    uri: str
    description: str
    tags: dict[str, Any]
    created_at: datetime
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias: ``from_version`` None when it was created, ``to_version`` None
    when it was deleted. ``actor`` says who (``user@host pid N`` or what the caller passed)."""

    model_name: str
    alias: str
    from_version: int | None
    to_version: int | None
    changed_at: datetime
    actor: str
    reason: str
    forced: bool

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the time as ISO 8601 text)."""
        return {
            "model": self.model_name,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "changed_at": self.changed_at.isoformat(),
            "actor": self.actor,
            "reason": self.reason,
            "forced": self.forced,
        }


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a model name and either an alias or a version number."""

    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.name}@{self.alias}" if self.alias is not None else f"{self.name}/{self.version}"
        )


def parse_model_ref(ref: str) -> ModelRef:
    """Parse ``NAME@ALIAS``, ``NAME/VERSION`` or the same behind ``models:/``.

    Raises:
        ConfigError: the text is neither form (the message shows both).

    Example:
        >>> parse_model_ref("models:/census@champion")
        ModelRef(name='census', alias='champion', version=None)
        >>> parse_model_ref("census/3").version
        3
    """
    text = ref[len(MODELS_SCHEME) :] if ref.startswith(MODELS_SCHEME) else ref
    name, at, alias = text.partition("@")
    if at and name and alias and "/" not in text:
        return ModelRef(name, alias=alias)
    name, slash, number = text.rpartition("/")
    if slash and name and "@" not in text and number.isdigit() and int(number) > 0:
        return ModelRef(name, version=int(number))
    raise ConfigError(
        f"{ref!r} is not a model reference. Write models:/NAME@ALIAS (e.g. "
        "models:/census@champion) or models:/NAME/VERSION (e.g. models:/census/3)."
    )


def check_registry_name(kind: str, value: str) -> None:
    """Refuse a model name (``kind`` "model") or alias (``kind`` "alias") that a reference
    could not carry: empty, edge spaces, ``@`` or ``/``, ``models:`` in front, or an alias
    that reads as a version number.

    Raises:
        ValueError: the name, with what is wrong and why.

    Example:
        >>> check_registry_name("alias", "champion")
        >>> check_registry_name("model", "census/v2")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: The model name 'census/v2' may not contain '@' or '/': ...
    """
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(
            f"A {kind} name must be a non-empty string without edge spaces, got {value!r}."
        )
    if "@" in value or "/" in value or value.startswith("models:"):
        raise ValueError(
            f"The {kind} name {value!r} may not contain '@' or '/': they separate the parts "
            "of a reference (models:/NAME@ALIAS, models:/NAME/VERSION)."
        )
    if kind == "alias" and value.isdigit():
        raise ValueError(f"An alias may not be a number ({value!r}): it would read as a version.")


@runtime_checkable
class ModelRegistry(Protocol):
    """The registry half of a metadata store (:class:`~conveyor.metadata.sql.SqlMetadataStore`
    implements both). Every write is one transaction; an alias move and its history row commit
    together. Check an implementation with ``conveyor.testing.check_model_registry``."""

    def register_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> RegisteredModel:
        """Create the model ``name``; :class:`AlreadyExistsError` if it exists (unless
        ``exist_ok``, which returns it unchanged)."""
        ...

    def get_model(self, name: str) -> RegisteredModel:
        """A model by name; :class:`NotFoundError` if absent."""
        ...

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        ...

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RegisteredModel:
        """Replace the description and/or merge tags (top-level keys replace)."""
        ...

    def create_model_version(
        self,
        name: str,
        artifact_id: int,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` bound to the LIVE ``Model`` artifact ``artifact_id``."""
        ...

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``; :class:`NotFoundError` naming what is missing."""
        ...

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        ...

    def update_model_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Replace a version's description and/or merge its tags."""
        ...

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        force: bool = False,
        reason: str = "",
        actor: str | None = None,
    ) -> AliasChange:
        """Point ``alias`` at ``version`` (creating or moving it), recording the move.

        Raises:
            UnblessedModelError: no evaluation blessed the version's model, and not
                ``force`` with a non-empty ``reason``.
            NotFoundError: no such model or version.
        """
        ...

    def delete_alias(
        self, name: str, alias: str, *, reason: str = "", actor: str | None = None
    ) -> AliasChange:
        """Remove ``alias`` (recorded in its history)."""
        ...

    def rollback_alias(
        self, name: str, alias: str, *, reason: str = "", actor: str | None = None
    ) -> AliasChange:
        """Move ``alias`` back to the version it pointed at before its last change."""
        ...

    def resolve_model(self, ref: str | ModelRef) -> ModelVersion:
        """The version ``NAME@ALIAS``, ``NAME/VERSION`` or ``models:/...`` names."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every change of ``name``'s aliases (or of one), oldest first."""
        ...

    def alias_at(self, name: str, alias: str, when: datetime) -> ModelVersion | None:
        """The version ``alias`` pointed at, at time ``when`` (None: unset then), in ONE query."""
        ...

    def is_blessed(self, artifact_id: int) -> bool:
        """Whether an evaluation took the artifact as its ``model`` input and wrote a LIVE
        ``ModelBlessing`` with ``blessed`` true."""
        ...
