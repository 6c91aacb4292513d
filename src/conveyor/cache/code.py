"""Fingerprint a component's code closure: its function plus the local code it uses.

"Local" means project code: files outside the Python installation and site-packages. Library
code is not hashed; instead the fingerprint names the top-level library modules the closure
imports (``modules``), whose installed versions join the cache key
(:mod:`conveyor.cache.packages`), with Conveyor's own version.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
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
    """Digest of a code closure and of each of its parts (``function:NAME``, ``file:PATH``),
    and the top-level modules outside the project that the closure imports or uses
    (``sklearn``, ``numpy``; the standard library included, it has no distribution)."""

    digest: str
    parts: dict[str, str] = field(default_factory=dict)
    modules: tuple[str, ...] = ()


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


_FILE_CACHE: dict[tuple[str, int, int], tuple[str, frozenset[str]]] = {}
_FUNC_CACHE: dict[int, tuple[Any, CodeFingerprint]] = {}


def _imported(source: str) -> frozenset[str]:
    """The modules the absolute imports anywhere in ``source`` name (function bodies too):
    ``import a.b`` names ``a.b``; ``from a import b`` names ``a`` and ``a.b`` (``b`` may be a
    module)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


_CONVEYOR_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COMPUTE_PACKAGES = ("conveyor.components", "conveyor.data", "conveyor.model", "conveyor.types")
_IMPORT_LINE = re.compile(  # matched line by line: 3x faster than finditer(re.M) on a file
    r"[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+([\w., \t]*)|import[ \t]+([\w., \t]+))"
)
_SCANS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}
_CLOSURES: dict[str, frozenset[str]] = {}


def _conveyor_file(module: str) -> str | None:
    base = os.path.join(_CONVEYOR_ROOT, *module.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def _scan(module: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """A Conveyor module's imports: (top-level modules outside Conveyor, Conveyor modules of
    the compute packages)."""
    found = _SCANS.get(module)
    if found is None:
        path = _conveyor_file(module)
        text = ""
        if path is not None:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        libraries: set[str] = set()
        inner: set[str] = set()
        lines = (_IMPORT_LINE.match(line) for line in text.split("\n") if "import" in line)
        for m in filter(None, lines):
            names = [m.group(1)] if m.group(1) else m.group(3).split(",")
            if m.group(1) and m.group(2):
                names += [f"{m.group(1)}.{n.strip()}" for n in m.group(2).split(",")]
            for raw in names:
                name = raw.strip().split(" ")[0]
                if name.partition(".")[0] != "conveyor":
                    libraries.add(name.partition(".")[0])
                elif name.startswith(_COMPUTE_PACKAGES):
                    inner.add(name)
        found = (frozenset(n for n in libraries if n.isidentifier()), tuple(sorted(inner)))
        _SCANS[module] = found
    return found


def _conveyor_imports(module: str) -> frozenset[str]:
    """Top-level modules outside Conveyor that a standard component's code imports: its own
    module and the Conveyor modules it imports from the packages that compute results
    (components, data, model, types), followed transitively. A fast line scan, memoised per
    process: Conveyor's files change only with its version, which the key holds anyway."""
    known = _CLOSURES.get(module)
    if known is not None:
        return known
    libraries: set[str] = set()
    todo, seen = [module], {module}
    while todo:
        found, inner = _scan(todo.pop())
        libraries |= found
        for name in inner:
            if name not in seen:
                seen.add(name)
                todo.append(name)
    found = _CLOSURES[module] = frozenset(libraries)
    return found


def _file_digest(path: str) -> tuple[str, frozenset[str]]:
    """The file's digest and the top-level modules it imports (memoised while it is unchanged)."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    found = _FILE_CACHE.get(key)
    if found is None:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", "surrogateescape")
        found = (digest_text(text), _imported(text))
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
        self.modules: set[str] = set()
        self.seen: set[int] = set()

    def add_imports(self, names: frozenset[str]) -> None:
        """The top-level modules of ``names``; for a Conveyor module that computes results,
        the libraries its code imports (a step may call Conveyor's library code)."""
        for name in names:
            self.modules.add(name.partition(".")[0])
            if name.startswith(_COMPUTE_PACKAGES):
                self.modules.update(_conveyor_imports(name))

    def label(self, path: str) -> str:
        path = os.path.abspath(path)
        if self.root and path.startswith(self.root + os.sep):
            return os.path.relpath(path, self.root).replace(os.sep, "/")
        return os.path.basename(path)

    def add_module(self, module: types.ModuleType) -> None:
        path = getattr(module, "__file__", None)
        if id(module) in self.seen:
            return
        self.seen.add(id(module))
        if not is_local_file(path):
            self.add_imports(frozenset({module.__name__}))
            return
        assert path is not None
        digest, imported = _file_digest(path)
        self.parts[f"file:{self.label(path)}"] = digest
        self.add_imports(imported)
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
            module = func.__module__ or ""
            self.modules.add(module.partition(".")[0])
            if module.startswith(_COMPUTE_PACKAGES):
                self.modules.update(_conveyor_imports(module))
            return
        source = _function_source(func)
        self.parts[f"function:{func.__module__}.{func.__qualname__}"] = digest_text(source)
        self.add_imports(_imported(source))
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
        self.add_imports(_imported(textwrap.dedent(source)))
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
    modules = tuple(sorted(m for m in walker.modules if m))
    result = CodeFingerprint(digest=digest_json(parts), parts=parts, modules=modules)
    _FUNC_CACHE[id(target)] = (target, result)
    return result
