"""Installed versions of the libraries a step's code imports, for its cache key.

A step's code closure (:mod:`conveyor.cache.code`) names the top-level modules it imports
(``sklearn``, ``numpy``); this module finds the installed distributions that provide them
(``scikit-learn 1.6.1``) so that upgrading a library invalidates the steps that use it.

``importlib.metadata.packages_distributions()`` reads the file list of every installed
distribution (about 0.3 s in a data-science environment), too slow for every run's start.
This module asks the one folder the module is installed in instead: first the distribution
named like the module (``numpy``), then, for the others (``sklearn``, ``yaml``), the file lists
of that folder's distributions, and remembers the answer for the process. A remembered answer
is checked against the disk each time (one ``stat`` of the site folder, whose mtime changes
when an install or upgrade adds or renames a ``.dist-info`` folder), so a long-lived process
(a notebook) sees an upgrade.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterable

from conveyor._internal.version import VERSION

__all__ = ["OWN_DISTRIBUTION", "distribution_versions"]

OWN_DISTRIBUTION = "conveyor-ml"
"""Conveyor's own distribution: always part of a key (its version is :data:`VERSION`)."""

_HEAD = 1 << 13  # bytes of a file list read before reading it all (a package's files come
# right after its .dist-info and .libs entries in the sorted list)
_TOP = re.compile(r"^([^/,.\r\n]+)[/.]", re.M)

_SKIP = frozenset(sys.stdlib_module_names) | {"__main__", "__future__", "builtins", "conveyor"}

# top-level module -> (its site folder, the folder's mtime then, the .dist-info folders
# installing it); valid while the site folder's mtime is unchanged (an install or upgrade
# adds or renames a .dist-info folder in it)
_PROVIDERS: dict[str, tuple[str | None, int, tuple[str, ...]]] = {}
# .dist-info folder -> (distribution name, version); a folder's name includes its version
_DISTRIBUTIONS: dict[str, tuple[str, str]] = {}
# (site folder, mtime) -> its .dist-info folders, and top-level module -> those installing it
_SITES: dict[tuple[str, int], list[str]] = {}
_INDEXES: dict[tuple[str, int], dict[str, list[str]]] = {}
_NAMES: dict[tuple[str, int], dict[str, list[str]]] = {}


def _stamp(site: str) -> int:
    try:
        return os.stat(site).st_mtime_ns
    except OSError:
        return -1


def _normalise(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def _site_of(top: str) -> str | None:
    """The folder the top-level module ``top`` is installed in, without importing it."""
    module = sys.modules.get(top)
    locations: list[str] = []
    if module is not None:
        locations = list(getattr(module, "__path__", None) or [])
        if not locations and getattr(module, "__file__", None):
            locations = [module.__file__ or ""]
    if not locations:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError, AttributeError):
            return None
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations or [])
        if not locations and spec.origin and os.path.isabs(spec.origin):
            locations = [spec.origin]
    if not locations or not locations[0]:
        return None
    return os.path.dirname(os.path.abspath(locations[0]))


def _dist_infos(site: str, stamp: int) -> list[str]:
    found = _SITES.get((site, stamp))
    if found is None:
        try:
            found = sorted(
                e.path for e in os.scandir(site) if e.name.endswith(".dist-info") and e.is_dir()
            )
        except OSError:
            found = []
        _SITES[(site, stamp)] = found
    return found


def _by_name(site: str, stamp: int) -> dict[str, list[str]]:
    """The site's .dist-info folders by normalised distribution name (built once per state)."""
    found = _NAMES.get((site, stamp))
    if found is None:
        found = {}
        for info in _dist_infos(site, stamp):
            found.setdefault(_normalise(os.path.basename(info).split("-")[0]), []).append(info)
        _NAMES[(site, stamp)] = found
    return found


def _provides(dist_info: str, top: str, head_only: bool = False) -> bool:
    """Whether the distribution at ``dist_info`` installs the top-level module ``top``
    (``head_only``: look at the start of its file list only, where a package's files are)."""
    try:
        with open(os.path.join(dist_info, "top_level.txt"), encoding="utf-8") as fh:
            return top in fh.read().split()
    except OSError:
        pass
    try:
        with open(os.path.join(dist_info, "RECORD"), "rb") as fh:
            record = fh.read(_HEAD) if head_only else fh.read()
    except OSError:
        return False
    name = top.encode()
    return any(
        record.startswith(name + sep) or b"\n" + name + sep in record for sep in (b"/", b".")
    )


def _providers(top: str, site: str, stamp: int) -> tuple[str, ...]:
    infos = _dist_infos(site, stamp)
    if not infos:  # project code or the standard library: no distribution
        return ()
    named = _by_name(site, stamp).get(_normalise(top), [])
    for head_only in (True, False):
        hits = [p for p in named if _provides(p, top, head_only)]
        if hits:
            return tuple(hits)
    hits = [p for p in _site_index(site, stamp).get(top, ()) if p not in named]
    if not hits:  # a file list longer than its head: read the others in full
        hits = [p for p in infos if p not in named and _provides(p, top)]
    return tuple(hits)


def _site_index(site: str, stamp: int) -> dict[str, list[str]]:
    """Top-level module -> the site's distributions installing it, from each distribution's
    ``top_level.txt`` or the head of its file list (built once per site state)."""
    index = _INDEXES.get((site, stamp))
    if index is None:
        index = {}
        for info in _dist_infos(site, stamp):
            for top in _tops(info):
                index.setdefault(top, []).append(info)
        _INDEXES[(site, stamp)] = index
    return index


def _lookup(top: str) -> tuple[str, ...]:
    """The .dist-info folders installing ``top`` (remembered while its site is unchanged)."""
    known = _PROVIDERS.get(top)
    if known is not None and (known[0] is None or _stamp(known[0]) == known[1]):
        return known[2]
    site = _site_of(top)
    if site is None:
        _PROVIDERS[top] = (None, 0, ())
        return ()
    stamp = _stamp(site)
    providers = _providers(top, site, stamp)
    _PROVIDERS[top] = (site, stamp, providers)
    return providers


def _tops(dist_info: str) -> set[str]:
    try:
        with open(os.path.join(dist_info, "top_level.txt"), encoding="utf-8") as fh:
            return set(fh.read().split())
    except OSError:
        pass
    try:
        with open(os.path.join(dist_info, "RECORD"), "rb") as fh:
            head = fh.read(_HEAD).decode("utf-8", "replace")
    except OSError:
        return set()
    return set(_TOP.findall(head))


def _distribution(dist_info: str) -> tuple[str, str]:
    """(name, version) from the distribution's METADATA headers."""
    found = _DISTRIBUTIONS.get(dist_info)
    if found is None:
        headers: dict[str, str] = {}
        with open(os.path.join(dist_info, "METADATA"), encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # the headers end at the first blank line
                key, sep, value = line.partition(":")
                if sep and key in ("Name", "Version"):
                    headers.setdefault(key, value.strip())
        if "Name" not in headers or "Version" not in headers:
            raise ValueError(f"{dist_info}: METADATA has no Name or Version")
        found = (headers["Name"], headers["Version"])
        _DISTRIBUTIONS[dist_info] = found
    return found


def distribution_versions(modules: Iterable[str]) -> dict[str, str]:
    """The installed distributions (name -> version) providing ``modules`` (top-level module
    names), with Conveyor's own. Standard-library and project modules provide none.

    Example:
        >>> sorted(distribution_versions(["os", "json"]))
        ['conveyor-ml']
    """
    out = {OWN_DISTRIBUTION: VERSION}
    for top in modules:
        if top in _SKIP or not top.isidentifier():
            continue
        providers = _lookup(top)
        for path in providers:
            try:
                name, version = _distribution(path)
            except (OSError, ValueError):
                continue
            out[name] = version
    return dict(sorted(out.items()))
