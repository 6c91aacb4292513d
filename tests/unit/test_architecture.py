"""The layering holds where import-linter cannot see: no module imports another Conveyor module
by string against the layers, and the contracts in ``pyproject.toml`` cover every package."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "conveyor"

# Calls that import a module named by a value, which import-linter cannot follow.
_DYNAMIC_IMPORTS = {"import_module", "__import__", "import_object", "resolve_name", "run_module"}
_MODULE_REF = re.compile(r"conveyor(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_][\w.]*)?")

# The root package is the public facade above every layer: its lazy ``__getattr__`` imports
# the public names by module string (documented in ``conveyor/__init__.py``).
_FACADE = "conveyor"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _layers() -> list[set[str]]:
    """The layers contract, top first: each layer as the set of its packages."""
    (contract,) = [c for c in _contracts() if c["type"] == "layers"]
    layers = contract["layers"]
    assert isinstance(layers, list)
    return [{name.strip() for name in re.split(r"[|:]", layer)} for layer in layers]


def _package(module: str) -> str:
    """``conveyor.x`` for any module under ``conveyor.x``; ``conveyor`` for the root."""
    return ".".join(module.split(".")[:2])


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def may_import(importer: str, target: str, layers: list[set[str]]) -> bool:
    """Whether ``importer`` may import ``target`` under the layers contract."""
    source, dest = _package(importer), _package(target)
    if source in (_FACADE, dest):
        return True
    level = {pkg: i for i, layer in enumerate(layers) for pkg in layer}
    if source not in level or dest not in level:
        return False
    return level[source] < level[dest]  # a lower layer has a larger index


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def string_imports(source: str, module: str) -> list[tuple[int, str]]:
    """The Conveyor modules ``source`` (the text of ``module``) may import by string: string
    literals naming a Conveyor module (``conveyor.x.y`` or ``conveyor.x.y:attr``) passed to
    a dynamic import, or anywhere in a module that imports names it computes."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    calls = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and _callee(n) in _DYNAMIC_IMPORTS
    ]
    computed = any(c.args and not isinstance(c.args[0], ast.Constant) for c in calls)
    if computed:
        candidates = [
            n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docs
        ]
    else:
        candidates = [c.args[0] for c in calls if c.args and isinstance(c.args[0], ast.Constant)]
    found = []
    for node in candidates:
        value = node.value
        if not isinstance(value, str) or not _MODULE_REF.fullmatch(value):
            continue
        target = value.partition(":")[0]
        if importlib.util.find_spec(_package(target)) is not None:
            found.append((node.lineno, target))
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(SRC)) for p in MODULES])
def test_no_module_imports_a_conveyor_module_by_string_against_the_layers(path: Path):
    module = _module_name(path)
    layers = _layers()
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target!r} by string"
        for line, target in string_imports(path.read_text(encoding="utf-8"), module)
        if not may_import(module, target, layers)
    ]
    assert not wrong, (
        "A lower layer must not reach an upper one by string (import-linter cannot see it); "
        "let the upper layer register itself instead (conveyor.types.register_view): "
        + "; ".join(wrong)
    )


def test_the_string_import_scan_sees_a_table_of_module_references():
    """The shape the check exists for: a table of ``module:function`` strings in a low layer,
    imported through a variable."""
    source = (
        "import importlib\n"
        "VIEWS = {'conveyor.Schema': 'conveyor.data.views:artifact_html'}\n"
        "def view(title):\n"
        "    module, _, fn = VIEWS[title].partition(':')\n"
        "    return getattr(importlib.import_module(module), fn)\n"
    )
    found = string_imports(source, "conveyor.types.artifacts")
    assert found == [(2, "conveyor.data.views")]
    assert not may_import("conveyor.types.artifacts", "conveyor.data.views", _layers())
    assert may_import("conveyor.cli.agent", "conveyor.data.views", _layers())
    literal = "import importlib\nimportlib.import_module('conveyor.cli.main')\n"
    assert string_imports(literal, "conveyor.ir.spec") == [(2, "conveyor.cli.main")]


def test_the_layers_contract_names_every_top_level_package():
    layered = set().union(*_layers())
    # config sits outside the stack (its own contract says who may import it); __main__ is
    # ``python -m conveyor``, which only calls the CLI.
    outside = {"conveyor.config", "conveyor.__main__"}
    packages = {
        f"conveyor.{p.stem if p.is_file() else p.name}"
        for p in SRC.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert packages - outside == layered, (
        "every package of conveyor must have a place in the layers contract of pyproject.toml"
    )


def test_only_the_edges_may_import_the_settings():
    """Every layered package below the edges is in the forbidden contract for conveyor.config."""
    (contract,) = [c for c in _contracts() if c.get("forbidden_modules") == ["conveyor.config"]]
    sources = set(contract["source_modules"])  # type: ignore[arg-type]
    edges = {"conveyor.cli", "conveyor.runner", "conveyor.tracking"}
    below = set().union(*_layers()) - edges - {"conveyor.errors", "conveyor._internal"}
    assert below <= sources, sorted(below - sources)


def test_the_bottom_layer_imports_no_view_module_and_views_render_from_above(tmp_path: Path):
    """``import conveyor.types`` loads no upper layer, and an artifact reference still shows
    a model card, because the renderer imports the view modules first."""
    card = tmp_path / "card"
    card.mkdir()
    (card / "model_card.html").write_text("<p>the card</p>", encoding="utf-8")
    code = (
        "import sys\n"
        "import conveyor.types\n"
        "assert not any(m.startswith(('conveyor.data', 'conveyor.model')) for m in sys.modules)\n"
        "from conveyor.execution.results import ArtifactRef\n"
        f"print(ArtifactRef(1, {str(card)!r}, 'conveyor.ModelCard@1.0.0')._repr_html_())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "<p>the card</p>"
