"""Artifact types: the typed handles a component reads and writes, with a serialisable identity."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

__all__ = [
    "HTML",
    "Artifact",
    "Dataset",
    "Markdown",
    "Metrics",
    "Model",
    "artifact_type",
    "is_artifact_type",
    "is_compatible",
    "register_view",
    "registered_types",
    "resolve_type",
]

_REGISTRY: dict[str, type[Artifact]] = {}


class Artifact:
    """Base artifact: bytes at ``path`` (a file or a folder), with ``metadata``.

    Subclass it to define your own type; the identity ``schema_title@schema_version`` is what
    the IR, the metadata store and every backend see. A subclass that sets neither
    ``schema_title`` nor ``schema_version`` keeps its parent's identity (and is not registered).

    Example:
        >>> class Embeddings(Artifact):
        ...     schema_title = "acme.Embeddings"
        ...     schema_version = "1.0.0"
        >>> Embeddings.type_id()
        'acme.Embeddings@1.0.0'

    Attributes:
        name: the output (or input) key in the component signature.
        uri: where the bytes live in the artifact store (any fsspec URL).
        path: a local path the component reads or writes: a file, or a folder it creates.
        metadata: JSON-serialisable properties, recorded in the metadata store.
    """

    schema_title: ClassVar[str] = "conveyor.Artifact"
    schema_version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "Any bytes: a file or a folder."

    def __init__(
        self,
        name: str = "",
        uri: str = "",
        path: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.uri = uri
        self.path = path
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.id: int | None = None
        self.fingerprint: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that does not declare its own identity shares its parent's; registering it
        # would replace the parent (``class MyData(Dataset): ...`` would shadow Dataset).
        if "schema_title" in cls.__dict__ or "schema_version" in cls.__dict__:
            _REGISTRY[cls.type_id()] = cls

    @classmethod
    def type_id(cls) -> str:
        """The serialisable identity, ``schema_title@schema_version``."""
        return f"{cls.schema_title}@{cls.schema_version}"

    def read_text(self, encoding: str = "utf-8") -> str:
        """Return the artifact's bytes as text (the artifact must be a single file)."""
        with open(self.path, encoding=encoding) as fh:
            return fh.read()

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        """Write ``text`` as the artifact's single file."""
        with open(self.path, "w", encoding=encoding) as fh:
            fh.write(text)

    def finalize_output(self) -> None:
        """Called after the component returns, before the output is committed.

        Subclasses write derived bytes here (``Metrics`` writes its JSON when the component
        only logged values).
        """

    @property
    def is_dir(self) -> bool:
        """Whether the artifact is a folder."""
        return os.path.isdir(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r})"

    def _repr_html_(self) -> str:
        """The artifact in a notebook: its type's HTML view (statistics, schema, anomalies),
        else its identity and metadata."""
        return artifact_html(self.schema_title, self.uri, self.metadata)


HtmlView = Callable[[str, str], str | None]
"""An HTML view: ``view(title, uri)`` returns the page of the artifact of type ``title`` at a
local ``uri``, or None to fall back to the artifact's identity and metadata."""

_VIEWS: dict[str, HtmlView] = {}


def register_view(title: str, view: HtmlView) -> None:
    """Show artifacts of type ``title`` (a ``schema_title``) with ``view`` in notebooks.

    The package that defines a view registers it when it is imported (``conveyor.data.views``
    registers the statistics, schema and anomalies views, ``conveyor.model.card_html`` the
    model card's), so this bottom layer imports none of them; code that renders views
    (``ArtifactRef._repr_html_``) imports those packages first. A later registration of the
    same title replaces the earlier one.

    Example:
        >>> register_view("acme.Report", lambda title, uri: f"<p>report at {uri}</p>")
        >>> artifact_html("acme.Report", ".")
        '<p>report at .</p>'
    """
    _VIEWS[title] = view


def artifact_html(title: str, uri: str, metadata: Mapping[str, Any] | None = None) -> str:
    """HTML for an artifact of type ``title`` at a local ``uri`` (notebooks, the UI): the view
    registered for ``title`` (:func:`register_view`), else the identity and metadata."""
    import html

    view = _VIEWS.get(title)
    if view is not None and os.path.exists(uri):
        page = view(title, uri)
        if page is not None:
            return str(page)
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted((metadata or {}).items())
    )
    return f"<p><b>{html.escape(title)}</b> {html.escape(uri)}</p>" + (
        f"<table>{rows}</table>" if rows else ""
    )


_REGISTRY[Artifact.type_id()] = Artifact


class Dataset(Artifact):
    """A data set: a file (CSV, Parquet, ...) or a folder of files."""

    schema_title = "conveyor.Dataset"
    description = "A data set: a file or a folder of files."


class Model(Artifact):
    """A trained model: a file or a folder."""

    schema_title = "conveyor.Model"
    description = "A trained model: a file or a folder."

    @property
    def framework(self) -> str | None:
        """The training framework recorded in metadata, if any."""
        value = self.metadata.get("framework")
        return str(value) if value is not None else None


class Metrics(Artifact):
    """Scalar metrics: ``log_metric`` records them and they are written as JSON at ``path``.

    Example:
        >>> m = Metrics(path="/tmp/m.json")
        >>> m.log_metric("accuracy", 0.93)
        >>> m.metadata["accuracy"]
        0.93
    """

    schema_title = "conveyor.Metrics"
    description = "Scalar metrics, as JSON."

    def log_metric(self, name: str, value: float) -> None:
        """Record one scalar metric (kept in metadata and written to ``path``)."""
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"Metric {name!r} must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(
                f"Metric {name!r} is {value!r}; metrics must be finite numbers. A NaN usually "
                "means training diverged or the metric is undefined on this data"
            )
        self.metadata[name] = float(value)

    def finalize_output(self) -> None:
        """Write the logged metrics as JSON at ``path`` unless the component wrote it."""
        if self.path and not os.path.exists(self.path):
            with open(self.path, "w", encoding="utf-8") as fh:
                json.dump(self.metadata, fh, sort_keys=True)


class HTML(Artifact):
    """An HTML page to display."""

    schema_title = "conveyor.HTML"
    description = "An HTML page."


class Markdown(Artifact):
    """A Markdown document to display."""

    schema_title = "conveyor.Markdown"
    description = "A Markdown document."


def artifact_type(type_id: str) -> type[Artifact]:
    """Return the artifact class registered for ``type_id`` (``schema_title@version``).

    Unknown identities resolve to a generic subclass of :class:`Artifact` carrying the same
    identity, so an IR written by another process can be read without its custom classes.
    """
    cls = _REGISTRY.get(type_id)
    if cls is not None:
        return cls
    title, _, version = type_id.partition("@")
    generic = type(
        title.rsplit(".", 1)[-1] or "Artifact",
        (Artifact,),
        {"schema_title": title, "schema_version": version or "1.0.0", "__module__": __name__},
    )
    return generic


def resolve_type(type_id: str) -> type[Artifact]:
    """Alias of :func:`artifact_type`."""
    return artifact_type(type_id)


def is_artifact_type(obj: object) -> bool:
    """Whether ``obj`` is an artifact class."""
    return isinstance(obj, type) and issubclass(obj, Artifact)


def registered_types() -> dict[str, type[Artifact]]:
    """All artifact classes known to this process, by identity."""
    return dict(_REGISTRY)


def is_compatible(produced: str, expected: str) -> bool:
    """Whether an artifact of identity ``produced`` may feed an input expecting ``expected``."""
    if expected == produced or expected == Artifact.type_id():
        return True
    produced_cls = _REGISTRY.get(produced)
    expected_cls = _REGISTRY.get(expected)
    if produced_cls is None or expected_cls is None:
        return False
    return issubclass(produced_cls, expected_cls)
