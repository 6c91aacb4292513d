"""The documentation matches the code: commands and options, public names, settings, exit
codes, the README's quickstart and example, and every relative link (sqlite-utils' test_docs)."""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

import conveyor
import conveyor.errors
from conveyor.cli import main as cli_main
from conveyor.execution.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "conveyor"
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CLI_DOC = DOCS / "cli.md"
USER_GUIDE = DOCS / "user-guide.md"
DOC_FILES = [README, *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _without_code(text: str) -> str:
    """Markdown text with fenced blocks and inline code spans removed."""
    return re.sub(r"`[^`\n]*`", "", _FENCE.sub("", text))


def _sections(text: str) -> dict[str, str]:
    """Each heading's text -> its body, up to the next heading of the same or a higher level."""
    lines = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text).splitlines()
    raw = text.splitlines()
    heads = [
        (i, len(m.group(1)), m.group(2).strip("` "))
        for i, line in enumerate(lines)
        if (m := _HEADING.match(line))
    ]
    found: dict[str, str] = {}
    for n, (start, level, title) in enumerate(heads):
        end = next((i for i, lvl, _ in heads[n + 1 :] if lvl <= level), len(raw))
        found[title] = "\n".join(raw[start + 1 : end])
    return found


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in _FENCE.sub("", text).splitlines():
        m = _HEADING.match(line)
        if not m:
            continue
        slug = _slug(m.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _in_code(text: str, token: str) -> bool:
    """Whether ``token`` (an option or a name) starts an inline code span or a code word."""
    return re.search(r"`" + re.escape(token) + r"(?=[\s=`\[(,])", text) is not None


# --- CLI ----------------------------------------------------------------------------------


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # some commands load only when looked up
        command = group.get_command(ctx, name)
        assert command is not None
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(cli_main.cli))
LEAVES = [(path, cmd) for path, cmd in COMMANDS if not isinstance(cmd, click.Group)]


def _ids(items: list[tuple[tuple[str, ...], click.Command]]) -> list[str]:
    return [" ".join(path) for path, _ in items]


def _option_names(command: click.Command) -> list[str]:
    names = []
    for param in command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            names += [*param.opts, *param.secondary_opts]
    return names


def test_cli_walk_finds_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {
        "run",
        "compile",
        "plan",
        "runs list",
        "runs show",
        "exec",
        "agent status",
        "agent stop",
    } <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_cli_command_has_help_text(path, command):
    assert (command.help or command.short_help or "").strip(), f"conveyor {' '.join(path)}"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=_ids(LEAVES))
def test_cli_doc_has_a_section_per_command_with_each_option(path, command):
    sections = _sections(_read(CLI_DOC))
    title = "conveyor " + " ".join(path)
    assert title in sections, f"docs/cli.md has no '## {title}' section"
    body = sections[title]
    missing = [opt for opt in _option_names(command) if not _in_code(body, opt)]
    assert not missing, f"docs/cli.md section {title!r} does not document {missing}"
    for param in command.params:
        if isinstance(param, click.Argument) and param.nargs == 1:
            assert param.human_readable_name in body, f"{title}: argument {param.name}"


def test_cli_doc_lists_every_group_and_global_option():
    text = _read(CLI_DOC)
    for path, command in COMMANDS:
        if isinstance(command, click.Group):
            assert f"conveyor {' '.join(path)}" in text
    for opt in _option_names(cli_main.cli):
        assert _in_code(text, opt) or f"conveyor {opt}" in text, opt


def test_cli_doc_exec_section_documents_every_entrypoint_option():
    body = _sections(_read(CLI_DOC))["conveyor exec"]
    options = [
        opt
        for action in build_parser()._actions
        if not isinstance(action, argparse._HelpAction)
        for opt in action.option_strings
    ]
    assert options
    missing = [opt for opt in options if not _in_code(body, opt)]
    assert not missing, f"docs/cli.md 'conveyor exec' does not document {missing}"


def test_cli_doc_exit_codes_match_the_code():
    import conveyor.cli

    codes = {
        value
        for info in pkgutil.iter_modules(conveyor.cli.__path__)
        for name, value in vars(importlib.import_module(f"conveyor.cli.{info.name}")).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert codes, "no EXIT_* constants left in conveyor.cli"
    table = _sections(_read(CLI_DOC))["Exit codes"]
    documented = {int(m) for m in re.findall(r"^\|\s*(\d+)\s*\|", table, re.MULTILINE)}
    assert documented == codes


# --- public API, errors, settings ---------------------------------------------------------


@pytest.mark.parametrize("name", conveyor.__all__)
def test_public_name_is_documented_in_concepts_or_user_guide(name):
    text = _read(DOCS / "concepts.md") + _read(DOCS / "user-guide.md")
    documented = re.search(rf"conveyor\.{re.escape(name)}\b", text) or re.search(
        rf"`@?{re.escape(name)}(?=[`(\[])", text
    )
    assert documented, f"conveyor.{name} is not documented in docs/concepts.md or user-guide.md"


@pytest.mark.parametrize("name", conveyor.errors.__all__)
def test_error_class_is_in_the_architecture_error_tree(name):
    assert re.search(rf"\b{name}\b", _read(DOCS / "architecture.md")), name


# set by the agent for the child that runs a command, never by users
_INTERNAL_ENV = {"CONVEYOR_AGENT_CHILD"}


def _environment_variables_read_by_the_code() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        found |= set(re.findall(r"[\"'](CONVEYOR_[A-Z][A-Z_]*)[\"']", _read(path)))
    return found - _INTERNAL_ENV


def test_user_guide_lists_every_environment_variable():
    from conveyor.config import _ENV

    variables = _environment_variables_read_by_the_code()
    # the scan must see the settings and the agent's switches, or it checks nothing
    assert {*_ENV.values(), "CONVEYOR_CONFIG"} <= variables
    assert {"CONVEYOR_AGENT", "CONVEYOR_AGENT_DIR", "CONVEYOR_AGENT_IDLE"} <= variables
    text = _read(USER_GUIDE)
    missing = sorted(var for var in variables if not _in_code(text, var))
    assert not missing, f"docs/user-guide.md does not mention {missing}"


def test_user_guide_has_a_row_per_component_option():
    from conveyor.dsl import component

    table = _sections(_read(USER_GUIDE))["Writing components"]
    options = [name for name in inspect.signature(component).parameters if name != "func"]
    missing = [name for name in options if f"`{name}`" not in table]
    assert not missing, f"docs/user-guide.md 'Writing components' lacks {missing}"


def test_user_guide_documents_every_standard_component():
    import conveyor.components

    text = _read(USER_GUIDE)
    missing = [name for name in conveyor.components.__all__ if f"`{name}(" not in text]
    assert not missing


def _plan_decisions() -> set[str]:
    """The decisions plan_run can make: the second argument of every PlanEntry(...) call."""
    tree = ast.parse(_read(SRC / "orchestrator" / "plan.py"))
    return {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "PlanEntry"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    }


def test_cli_doc_plan_lists_every_decision():
    decisions = _plan_decisions()
    assert {"hit", "miss", "after-upstream"} <= decisions
    body = _sections(_read(CLI_DOC))["conveyor plan"]
    documented = set(re.findall(r"^\|\s*`([a-z][a-z-]*)`\s*\|", body, re.MULTILINE))
    assert documented == decisions


# --- README -------------------------------------------------------------------------------


def test_readme_quickstart_is_make_run_and_make_test():
    quickstart = _sections(_read(README))["Quickstart"]
    block = _FENCE.search(quickstart)
    assert block is not None, "the Quickstart has no code block"
    commands = [line.split("#")[0].strip() for line in block.group(0).splitlines()[1:-1]]
    assert [c for c in commands if c] == ["make run", "make test"]
    makefile = _read(ROOT / "Makefile")
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_ci_entrypoint_calls_make_test():
    lines = [line.strip() for line in _read(ROOT / ".ci" / "run").splitlines()]
    assert "make test" in [line for line in lines if not line.startswith("#")]


def test_readme_example_pipeline_runs(tmp_path, monkeypatch):
    from conveyor._internal.importing import import_file
    from conveyor.dsl import Pipeline
    from conveyor.orchestrator import LocalOrchestrator

    section = _sections(_read(README))["Write your own pipeline"]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    code = block.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    source = tmp_path / "readme_example.py"
    source.write_text(code, encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "readme_example", raising=False)
    module = import_file(str(source))
    (pipeline,) = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    orch = LocalOrchestrator(
        metadata_url="sqlite://",
        artifact_root=str(tmp_path / "artifacts"),
        home=str(tmp_path / "home"),
        in_process=True,
    )
    try:
        result = orch.run(pipeline.spec, {"name": "penguins"})
    finally:
        orch.metadata.close()
        sys.modules.pop("readme_example", None)
    assert result.ok, {t: r.error for t, r in result.tasks.items()}
    assert result.outputs("shout").parameters["Output"] == "HELLO PENGUINS\n"


# --- links --------------------------------------------------------------------------------


def _links() -> list[tuple[Path, str]]:
    return [
        (doc, target)
        for doc in DOC_FILES
        for target in _LINK.findall(_without_code(_read(doc)))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_docs_exist_and_have_relative_links():
    for name in ("architecture", "concepts", "user-guide", "cli", "ir"):
        assert (DOCS / f"{name}.md").is_file(), name
    assert len(_links()) > 10


@pytest.mark.parametrize(("doc", "target"), _links(), ids=[f"{d.name}->{t}" for d, t in _links()])
def test_relative_link_points_to_an_existing_file_and_heading(doc, target):
    path, _, fragment = target.partition("#")
    dest = (doc.parent / path).resolve() if path else doc
    assert dest.exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
    assert dest == ROOT or ROOT in dest.parents, f"{target} leaves the repository"
    if fragment and dest.suffix == ".md":
        assert fragment in _anchors(_read(dest)), f"{doc.name}: no heading #{fragment} in {path}"


# --- names, paths and commands the docs cite ---------------------------------------------

_PACKAGES = sorted(
    p.name if p.is_dir() else p.stem
    for p in SRC.iterdir()
    if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem[0] != "_")
)
# ``conveyor.x.y`` anywhere in a code span, or ``pkg.module.name`` with a package of conveyor
# first and at least two dots (``execution.boundary.call_user_code``)
_DOTTED = re.compile(
    r"(?<![\w./-])(conveyor(?:\.[A-Za-z_]\w*)+|(?:"
    + "|".join(_PACKAGES)
    + r")(?:\.[A-Za-z_]\w*){2,})(?![\w-])"
)
_SOURCE_PATH = re.compile(
    r"(?<![\w./-])((?:" + "|".join(_PACKAGES) + r")(?:/[\w.]+)*/(?:\w+\.py)?)"
)


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", _FENCE.sub("", text))


def _not_python_names() -> set[str]:
    """Dotted names in the docs that are identities, not Python: artifact type titles,
    metadata context types, the entry-point group and the settings file."""
    import conveyor.components.data
    import conveyor.components.model  # noqa: F401  (their artifact types register)
    from conveyor.metadata import _ENTRY_POINT_GROUP, store
    from conveyor.types import registered_types

    titles = {identity.split("@")[0] for identity in registered_types()}
    contexts = {v for k, v in vars(store).items() if k.startswith("CONTEXT_")}
    return titles | contexts | {_ENTRY_POINT_GROUP, "conveyor.toml"}


def _cited(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(doc, first group) for every match of ``pattern`` in the docs' code spans."""
    return sorted(
        {
            (doc.name, m.group(1))
            for doc in DOC_FILES
            for span in _code_spans(_read(doc))
            for m in pattern.finditer(span)
        }
    )


def _cited_names() -> list[tuple[str, str]]:
    return _cited(_DOTTED)


def resolve_cited(name: str) -> str | None:
    """None when ``name`` (``conveyor.`` may be left out) is a module, or an attribute of the
    module it is cited in (defined there, or exported in its ``__all__``); else what is wrong."""
    full = name if name.startswith("conveyor.") else f"conveyor.{name}"
    parts = full.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        owner: object = module
        obj: object = module
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return f"{'.'.join(parts[: parts.index(attr)])} has no attribute {attr!r}"
            owner, obj = obj, getattr(obj, attr)
        home = getattr(obj, "__module__", None)
        if (
            owner is module
            and obj is not module
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and home != module_name
            and parts[-1] not in getattr(module, "__all__", ())
        ):
            return f"{parts[-1]} lives in {home}, not in {module_name}"
        return None
    return "no such module"


def test_the_docs_cite_dotted_names():
    names = {name for _, name in _cited_names()}
    assert {"conveyor.run", "conveyor.testing.check_metadata_store"} <= names
    assert "execution.boundary.call_user_code" in names


@pytest.mark.parametrize(
    ("doc", "name"), _cited_names(), ids=[f"{d}:{n}" for d, n in _cited_names()]
)
def test_a_dotted_name_the_docs_cite_exists_where_they_say(doc, name):
    if name in _not_python_names():
        return
    problem = resolve_cited(name)
    assert problem is None, f"docs/{doc} cites `{name}`: {problem}"


def test_resolve_cited_sees_missing_and_misplaced_names():
    assert resolve_cited("conveyor.execution.runs.code_root_for") is None
    assert resolve_cited("execution.prepare.prepare_task") is None
    assert resolve_cited("conveyor.storage.content_digest") is None  # exported by the package
    assert resolve_cited("conveyor.load_model") is None  # the lazy public API
    assert "no attribute" in str(resolve_cited("execution.task.code_root_for"))
    assert "lives in conveyor.execution.prepare" in str(
        resolve_cited("execution.task.prepare_task")
    )
    assert "no attribute 'nosuchmodule'" in str(resolve_cited("conveyor.nosuchmodule.x"))


def _cited_paths() -> list[tuple[str, str]]:
    return [(doc, path) for doc, path in _cited(_SOURCE_PATH) if "/" in path]


@pytest.mark.parametrize(
    ("doc", "path"), _cited_paths(), ids=[f"{d}:{p}" for d, p in _cited_paths()]
)
def test_a_source_path_the_docs_cite_exists(doc, path):
    assert (SRC / path).exists(), f"docs/{doc} cites `{path}`, which is not under src/conveyor"


def _cited_command_lines() -> list[tuple[str, str]]:
    """Every ``conveyor ...`` command line in the docs: shell lines of code blocks and code
    spans, cut at a pipe, a redirection or a comment."""
    found = set()
    for doc in DOC_FILES:
        text = _read(doc)
        lines = [
            re.sub(r"^\$\s*", "", line.strip())
            for block in _FENCE.finditer(text)
            for line in block.group(0).splitlines()
        ]
        lines += [
            m.group(1)
            for s in _code_spans(text)
            for m in re.finditer(r"(?:^|[\s(])(conveyor .*)", s)
        ]
        for line in lines:
            if line.startswith("conveyor "):
                found.add((doc.name, re.split(r"\s[|;&#>]", line)[0].strip()))
    return sorted(found)


def command_problems(line: str) -> list[str]:
    """What is wrong with a cited command line: unknown (sub)commands and options."""
    words = line.split()[1:]
    group: click.Command = cli_main.cli
    path: list[str] = []
    known = {*_option_names(cli_main.cli), "-h", "--help", "--version"}
    while isinstance(group, click.Group) and words:
        word = words[0]
        if word.startswith("-"):
            if word not in known:
                return [f"conveyor has no option {word}"]
            words = words[1:]
            continue
        alternatives = word.split("/")  # ``conveyor data stats/infer-schema/validate``
        ctx = click.Context(group)
        missing = [w for w in alternatives if group.get_command(ctx, w) is None]
        if missing:
            return [f"no command 'conveyor {' '.join([*path, missing[0]])}'"]
        if len(alternatives) > 1:
            return []
        group = group.get_command(ctx, word)
        path.append(word)
        words = words[1:]
    if isinstance(group, click.Group):
        return []
    if path == ["exec"]:
        options = {o for action in build_parser()._actions for o in action.option_strings}
    else:
        options = {*_option_names(group), "-h", "--help"}
    return [
        f"'conveyor {' '.join(path)}' has no option {word.split('=')[0]}"
        for word in words
        if re.match(r"^--?[A-Za-z]", word) and word.split("=")[0] not in options
    ]


def test_the_docs_cite_command_lines():
    lines = {line for _, line in _cited_command_lines()}
    assert "conveyor runs list" in lines
    assert any(line.startswith("conveyor exec --ir") for line in lines)


@pytest.mark.parametrize(
    ("doc", "line"), _cited_command_lines(), ids=[f"{d}:{c}" for d, c in _cited_command_lines()]
)
def test_a_command_line_the_docs_cite_exists(doc, line):
    assert not command_problems(line), f"docs/{doc}: `{line}`: {command_problems(line)}"


def test_command_problems_sees_unknown_commands_and_options():
    assert command_problems("conveyor runs list --limit 3") == []
    assert command_problems("conveyor data stats/infer-schema/validate") == []
    assert command_problems("conveyor runs erase 3") == ["no command 'conveyor runs erase'"]
    assert command_problems("conveyor run p.py --fast") == ["'conveyor run' has no option --fast"]
    assert command_problems("conveyor exec --ir x.json --next") == []


# --- signatures the docs spell out --------------------------------------------------------


def _documented_callables() -> dict[str, Any]:
    """Names the docs give signatures for: the standard components, the task options, and
    the public functions as ``conveyor.NAME``."""
    import conveyor.components
    import conveyor.components.data
    import conveyor.components.model
    from conveyor.dsl.tasks import Task

    found: dict[str, Any] = {}
    for module in (conveyor.components, conveyor.components.data, conveyor.components.model):
        for name in module.__all__:
            found[name] = getattr(module, name).python_func
    for name in ("after", "set_retry", "set_timeout", "set_resources", "set_caching"):
        found[name] = getattr(Task, name)
    for name in conveyor.__all__:
        value = getattr(conveyor, name)
        if inspect.isfunction(value):
            found[f"conveyor.{name}"] = value
    return found


# **trainer**(`examples`, `label`, ...), `InfraCheck`(`num_requests=100`, ...): a signature
_SPLIT_SIGNATURE = re.compile(r"(?:\*\*|`)([\w.]+)(?:\*\*|`)\(((?:\s*`[^`]*`\s*,?)+)\)", re.DOTALL)
# `example_gen(input_pattern, format="auto", ...)`: a signature, or a call
_INLINE_CALL = re.compile(r"`@?([\w.]+)\(([^`]*)\)`")


def _cited_signatures() -> list[tuple[str, str, list[str], bool]]:
    """(doc, name, items, is_signature) for every spelled-out parameter list of a callable
    that `_documented_callables` knows, or that resolves from ``conveyor.model.*``."""
    found = []
    for doc in DOC_FILES:
        text = _FENCE.sub("", _read(doc))
        for m in _SPLIT_SIGNATURE.finditer(text):
            items = [i.strip() for i in re.findall(r"`([^`]*)`", m.group(2))]
            found.append((doc.name, m.group(1), items, True))
        for m in _INLINE_CALL.finditer(text):
            items = [i.strip() for i in _split_arguments(m.group(2)) if i.strip()]
            positional = [i for i in items if "=" not in i]
            signature = bool(positional) and all(re.fullmatch(r"\*{0,2}\w+", i) for i in positional)
            found.append((doc.name, m.group(1), items, signature))
    return found


def _split_arguments(text: str) -> list[str]:
    """Split on top-level commas (not inside brackets or quotes)."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    return [*parts, current]


def signature_problems(function: Any, items: list[str], is_signature: bool) -> list[str]:
    """Parameters the docs name that ``function`` lacks, and defaults that differ."""
    params = inspect.signature(function).parameters
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params.values())
    problems = []
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip().lstrip("*")
        if name in ("", "...") or not name.isidentifier():
            continue
        if not eq and (varargs or not is_signature):
            continue  # a value passed by position, or one of *args
        if name not in params:
            problems.append(f"no parameter {name!r}")
            continue
        default = params[name].default
        if not (is_signature and eq) or default is inspect.Parameter.empty:
            continue
        try:
            documented = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            continue
        plain = default is None or isinstance(default, bool | int | float | str | tuple | list)
        if plain and documented is not Ellipsis and documented != default:
            problems.append(f"{name} defaults to {default!r}, not {value.strip()}")
    return problems


def _checked_signatures() -> list[tuple[str, str, list[str], bool]]:
    known = _documented_callables()
    return [s for s in _cited_signatures() if s[1] in known or s[1].startswith("conveyor.")]


@pytest.mark.parametrize(
    ("doc", "name", "items", "is_signature"),
    _checked_signatures(),
    ids=[f"{d}:{n}({', '.join(i)[:40]})" for d, n, i, _ in _checked_signatures()],
)
def test_a_signature_the_docs_spell_out_matches_the_code(doc, name, items, is_signature):
    function = _documented_callables().get(name)
    if function is None:
        module, _, attr = name.rpartition(".")
        function = getattr(importlib.import_module(module), attr)
    problems = signature_problems(function, items, is_signature)
    assert not problems, f"docs/{doc}: {name}({', '.join(items)}): {problems}"


def test_signature_checks_see_wrong_names_and_defaults():
    def f(a: int, b: str = "x", *, c: float = 1.0) -> None: ...

    assert signature_problems(f, ["a", "b='x'", "c=1.0"], True) == []
    assert signature_problems(f, ["a", "b='y'"], True) == ["b defaults to 'x', not 'y'"]
    assert signature_problems(f, ["a", "d=2"], False) == ["no parameter 'd'"]
    assert signature_problems(f, ["b='other value in a call'"], False) == []
    sigs = {(n, tuple(i)) for _, n, i, _ in _checked_signatures()}
    assert any(n == "trainer" for n, _ in sigs) and any(n == "conveyor.run" for n, _ in sigs)


# --- facts the docs state about the code --------------------------------------------------


def _tree(text: str) -> list[tuple[int, str]]:
    """The error tree drawn in ``text``: (depth, class name) for the root and every branch."""
    start = text.index("ConveyorError")
    column = start - (text.rfind("\n", 0, start) + 1)
    tree = [(0, "ConveyorError")]
    for line in text[start:].splitlines()[1:]:
        m = re.match(r"^([\s│]*)[├└]── (\w+)", line)
        if m is None:
            break
        tree.append(((len(m.group(1)) - column) // 4 + 1, m.group(2)))
    return tree


def test_every_conveyor_error_is_defined_in_the_errors_module_and_drawn_in_its_tree():
    errors_tree = _tree(conveyor.errors.__doc__ or "")
    drawn = [name for _, name in errors_tree]
    defined_elsewhere = []
    for info in pkgutil.walk_packages(conveyor.__path__, "conveyor."):
        if info.name.endswith(("__main__", "_serve_probe")):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, conveyor.errors.ConveyorError)
                and value.__module__ != "conveyor.errors"
            ):
                defined_elsewhere.append(f"{value.__module__}.{value.__qualname__}")
    assert not defined_elsewhere, "errors outside src/conveyor/errors.py: " + str(
        sorted(set(defined_elsewhere))
    )
    classes = {
        n for n in conveyor.errors.__all__ if issubclass(getattr(conveyor.errors, n), Exception)
    }
    assert set(drawn) == classes - {"RunInterrupted"}
    # each class sits under its base in the drawing
    parents: dict[int, str] = {}
    for depth, name in errors_tree:
        parents[depth] = name
        if depth:
            base = getattr(conveyor.errors, parents[depth - 1])
            assert base in getattr(conveyor.errors, name).__bases__, (name, base)


def test_the_architecture_draws_the_error_tree_of_the_errors_module():
    errors_tree = _tree(conveyor.errors.__doc__ or "")
    section = _sections(_read(DOCS / "architecture.md"))["Errors"]
    assert _tree(section) == errors_tree


def test_the_architecture_lists_every_metadata_table_with_its_columns():
    from conveyor.metadata.sql import models

    section = _sections(_read(DOCS / "architecture.md"))["The metadata data model"]
    documented = {
        name: {re.sub(r"\(.*?\)", "", c).strip() for c in columns.split(";")[0].split(",")}
        for name, columns in re.findall(r"^\|\s*`(\w+)`\s*\|([^|]*)\|", section, re.MULTILINE)
    }
    actual = {t.name: {c.name for c in t.columns} for t in models.metadata.sorted_tables}
    assert documented == actual


def test_the_architecture_names_every_schema_revision():
    from conveyor.metadata.sql._migrate import REVISIONS

    section = _sections(_read(DOCS / "architecture.md"))["The metadata data model"]
    cited = set(re.findall(r"`(\d{4})`", section))
    assert cited == set(REVISIONS)
    user_guide = _read(USER_GUIDE)
    heads = re.findall(r"head '(\d{4})'", user_guide)
    assert heads and set(heads) == {REVISIONS[-1]}


def test_the_docs_give_the_ir_version_the_code_writes():
    from conveyor.ir import IR_VERSION

    patterns = [
        r'"ir_version": "(\d+\.\d+)"',  # JSON examples
        r"Wrote IR (\d+\.\d+) ",  # conveyor compile's output
        r'\| `ir_version` \| format version, `"(\d+\.\d+)"`',
        r'this release writes `"(\d+\.\d+)"`',
        r"`conveyor compile`, IR (\d+\.\d+)\)",  # the README's status table
    ]
    cited = [
        (doc.name, version)
        for doc in DOC_FILES
        for pattern in patterns
        for version in re.findall(pattern, _read(doc))
    ]
    assert len(cited) >= 5
    assert all(version == IR_VERSION for _, version in cited), cited


def test_concepts_name_every_state_an_execution_is_recorded_in():
    from conveyor.metadata.entities import ExecutionState

    text = _read(DOCS / "concepts.md")
    bullet = text[text.index("- An **execution**") :].split("\n- ")[0]
    recorded = set(ExecutionState) - {ExecutionState.UNKNOWN, ExecutionState.NEW}
    missing = [s.value for s in recorded if f"`{s.value}`" not in bullet]
    assert not missing, f"docs/concepts.md's execution bullet omits {missing}"


def test_make_test_runs_the_whole_test_folder_doctests_included():
    makefile = _read(ROOT / "Makefile")
    recipe = makefile[makefile.index("\ntest:") :].split("\n\n")[0]
    assert re.search(r"^\t\$\(BIN\)/pytest\b.* tests$", recipe, re.MULTILINE), recipe
    assert (ROOT / "tests" / "unit" / "test_doctests.py").is_file()


def test_the_install_table_lists_every_extra_with_what_it_installs():
    config = tomllib.loads(_read(ROOT / "pyproject.toml"))
    extras: dict[str, list[str]] = config["project"]["optional-dependencies"]
    table = _sections(_read(USER_GUIDE))["Install"]
    rows = re.findall(r"^\|([^|]*)\|([^|]*)\|[^|]*\|$", table, re.MULTILINE)
    documented: dict[str, str] = {}
    for names, installs in rows:
        for name in re.findall(r"`([\w-]+)`", names):
            documented[name] = installs
    assert set(documented) == set(extras)
    for extra, requirements in extras.items():
        for requirement in requirements:
            nested = re.match(r"conveyor-ml\[(.*)\]", requirement)
            wanted = (
                nested.group(1).split(",") if nested else [re.split(r"[\[<>=!~ ;]", requirement)[0]]
            )
            missing = [
                w
                for w in wanted
                if f"`{w}`" not in documented[extra] and f"`{w}[" not in documented[extra]
            ]
            assert not missing, f"the install table's row for {extra!r} does not name {missing}"


def test_the_architecture_states_each_import_contract_as_pyproject_defines_it():
    config = tomllib.loads(_read(ROOT / "pyproject.toml"))
    contracts = config["tool"]["importlinter"]["contracts"]
    rows = {
        name.strip(): rule
        for name, rule in re.findall(
            r"^\|([^|`]+)\|\s*`\w+`\s*\|(.*)\|$", _read(DOCS / "architecture.md"), re.MULTILINE
        )
    }

    def short(module: str) -> str:
        return module.removeprefix("conveyor.")

    for contract in contracts:
        assert contract["name"] in rows, (
            f"the architecture's contract table lacks {contract['name']!r}"
        )
        rule = rows[contract["name"]]
        if contract["type"] == "layers":
            documented = [
                {p.strip() for p in re.findall(r"[\w.]+", layer)}
                for layer in re.findall(r"`([^`]+)`", rule)
            ]
            actual = [{short(p.strip()) for p in re.split(r"[|:]", x)} for x in contract["layers"]]
            assert documented == actual
        else:
            named = set(re.findall(r"`([\w.]+)`", rule))
            wanted = {short(m) for m in contract["source_modules"]} | set(
                contract["forbidden_modules"]
            )
            assert wanted <= named, sorted(wanted - named)
