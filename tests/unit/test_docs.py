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
from collections.abc import Iterator
from pathlib import Path

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
    for name, command in sorted(group.commands.items()):
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
