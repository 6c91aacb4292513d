"""Fingerprint a component's code closure: its function plus the local code it uses.

"Local" means project code: files outside the Python installation and site-packages. Library
code is not hashed (declare versions that matter with ``@component(packages=...)``), and
Conveyor's own code is left out so an upgrade does not invalidate every cache entry.
"""

from __future__ import annotations

import ast
import inspect
import os
import site
import sys
import sysconfig
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any

from conveyor._internal.hashing import digest_json, digest_text

__all__ = ["CodeFingerprint", "code_fingerprint", "is_local_file"]


@dataclass(frozen=True)
class CodeFingerprint:
    """Digest of a code closure and of each of its parts (``function:NAME``, ``file:PATH``)."""

    digest: str
    parts: dict[str, str] = field(default_factory=dict)


def _library_prefixes() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.add(p)
    try:
        paths.update(site.getsitepackages())
        paths.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - virtualenv's old site.py
        pass
    paths.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # conveyor itself
    return tuple(sorted({os.path.abspath(p) + os.sep for p in paths if p}))


_LIBRARY_PREFIXES = _library_prefixes()


def is_local_file(path: str | None) -> bool:
    """Whether a source file is project code (hashed) rather than library code."""
    if not path or not path.endswith(".py"):
        return False
    path = os.path.abspath(path)
    if "site-packages" in path or "dist-packages" in path:
        return False
    if any(path.startswith(prefix) for prefix in _LIBRARY_PREFIXES):
        # A project inside a venv folder is unusual; site-packages is what we exclude.
        return False
    return os.path.isfile(path)


_FILE_CACHE: dict[tuple[str, int, int], str] = {}
_FUNC_CACHE: dict[int, tuple[Any, CodeFingerprint]] = {}


def _file_digest(path: str) -> str:
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    found = _FILE_CACHE.get(key)
    if found is None:
        with open(path, "rb") as fh:
            found = digest_text(fh.read().decode("utf-8", "surrogateescape"))
        _FILE_CACHE[key] = found
    return found


def _function_source(func: types.FunctionType) -> str:
    """The function's source without its decorators (options are not code)."""
    try:
        lines, _ = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return func.__code__.co_code.hex()
    src = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return src
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return "\n".join(src.splitlines()[node.lineno - 1 :])
    return src


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


class _Walker:
    def __init__(self, root: str | None):
        self.root = root
        self.parts: dict[str, str] = {}
        self.seen: set[int] = set()

    def label(self, path: str) -> str:
        path = os.path.abspath(path)
        if self.root and path.startswith(self.root + os.sep):
            return os.path.relpath(path, self.root).replace(os.sep, "/")
        return os.path.basename(path)

    def add_module(self, module: types.ModuleType) -> None:
        path = getattr(module, "__file__", None)
        if id(module) in self.seen or not is_local_file(path):
            return
        self.seen.add(id(module))
        assert path is not None
        self.parts[f"file:{self.label(path)}"] = _file_digest(path)
        for value in list(vars(module).values()):
            self.add_object(value, home=module.__name__)

    def add_object(self, value: Any, home: str) -> None:
        if isinstance(value, types.ModuleType):
            self.add_module(value)
            return
        target = getattr(value, "__wrapped__", value)
        if isinstance(target, types.FunctionType | type):
            mod = sys.modules.get(getattr(target, "__module__", "") or "")
            if mod is not None and mod.__name__ != home:
                self.add_module(mod)

    def add_function(self, func: types.FunctionType) -> None:
        if id(func) in self.seen:
            return
        self.seen.add(id(func))
        if not is_local_file(func.__code__.co_filename):
            return
        self.parts[f"function:{func.__module__}.{func.__qualname__}"] = digest_text(
            _function_source(func)
        )
        home = func.__module__
        for name in sorted(_names(func.__code__)):
            if name not in func.__globals__:
                continue
            value = func.__globals__[name]
            target = getattr(value, "python_func", None) or getattr(value, "__wrapped__", value)
            if isinstance(value, types.ModuleType):
                self.add_module(value)
            elif isinstance(target, types.FunctionType) and target.__module__ == home:
                self.add_function(target)
            elif isinstance(target, type) and target.__module__ == home:
                self.add_class(target)
            elif isinstance(target, types.FunctionType | type):
                self.add_object(target, home)
            elif isinstance(value, int | float | str | bytes | bool | tuple | frozenset):
                self.parts[f"global:{home}.{name}"] = digest_text(repr(value))

    def add_class(self, cls: type) -> None:
        if id(cls) in self.seen:
            return
        self.seen.add(id(cls))
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            return
        self.parts[f"class:{cls.__module__}.{cls.__qualname__}"] = digest_text(source)
        for member in vars(cls).values():
            if isinstance(member, types.FunctionType):
                for name in sorted(_names(member.__code__)):
                    value = member.__globals__.get(name)
                    if isinstance(value, types.ModuleType):
                        self.add_module(value)
                    elif (
                        isinstance(value, types.FunctionType) and value.__module__ == cls.__module__
                    ):
                        self.add_function(value)


def code_fingerprint(func: Any, root: str | None = None) -> CodeFingerprint:
    """Fingerprint a function's code closure.

    Includes the function's own source (without decorators), the same-module functions,
    classes and constants it uses, and every local module it uses directly or through
    another local module (whole files). Memoised per function object: the fingerprint
    describes the code loaded in this process, which is the code that runs.

    Example:
        >>> def f(x):
        ...     return x + 1
        >>> code_fingerprint(f).digest.startswith("sha256:")
        True
    """
    target = getattr(func, "python_func", func)
    memo = _FUNC_CACHE.get(id(target))
    if memo is not None and memo[0] is target:
        return memo[1]
    walker = _Walker(root)
    if isinstance(target, types.FunctionType):
        walker.add_function(target)
        if not walker.parts:  # a library function: its identity is its name
            walker.parts[f"function:{target.__module__}.{target.__qualname__}"] = digest_text(
                f"{target.__module__}.{target.__qualname__}"
            )
    parts = dict(sorted(walker.parts.items()))
    result = CodeFingerprint(digest=digest_json(parts), parts=parts)
    _FUNC_CACHE[id(target)] = (target, result)
    return result
