"""The README and docs describe what the code does: every kind, every command, every option."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
import typer.main

from healthdeck.cli.app import app
from healthdeck.store.reference import render
from healthdeck.store.schema import KINDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_schema_reference_is_regenerated() -> None:
    assert (ROOT / "docs" / "schema.md").read_text() == render(), (
        "docs/schema.md is stale: python -m healthdeck.store.reference > docs/schema.md"
    )


@pytest.mark.parametrize("name", list(KINDS))
def test_readme_shows_each_kind_with_its_example(name: str) -> None:
    assert f"**`{name}`**" in README
    assert orjson.dumps(dict(KINDS[name].example)).decode() in README


def _commands(group: typer.main.TyperGroup, prefix: str = "") -> list[tuple[str, list[str]]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found.extend(_commands(command, f"{path} "))
        else:
            options = [opt for p in command.params for opt in p.opts if opt.startswith("--")]
            found.append((path, options))
    return found


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


@pytest.mark.parametrize(("command", "options"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_documents_every_command_and_option(command: str, options: list[str]) -> None:
    assert f"healthdeck {command}" in README, f"README does not show `healthdeck {command}`"
    missing = [opt for opt in options if opt not in README]
    assert not missing, f"README does not document {missing} of `healthdeck {command}`"


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    import re

    source = "".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    variables = set(re.findall(r"HEALTHDECK_[A-Z_]+", source))
    assert variables >= {"HEALTHDECK_DB", "HEALTHDECK_CATALOG", "HEALTHDECK_MEMORY_LIMIT"}
    assert not [v for v in variables if f"`{v}`" not in README]


def _api_routes() -> list[str]:
    """Every route of the HTTP API and every console page, as its decorator names it."""
    import re

    found = []
    for module in sorted((ROOT / "src" / "healthdeck").rglob("*.py")):
        text = module.read_text()
        prefix = re.search(r'APIRouter\(prefix=([A-Z_]+|"[^"]*")', text)
        base = "/ui" if prefix and prefix.group(1) == "CONSOLE" else (prefix.group(1).strip('"') if prefix else "")
        found += [
            f"{method.upper()} {base}{path}"
            for method, path in re.findall(r'@router\.(get|post|delete|put)\(\s*"([^"]*)"', text)
        ]
    return found


@pytest.mark.parametrize("route", _api_routes())
def test_readme_documents_every_route(route: str) -> None:
    method, path = route.split(" ", 1)
    pattern = re.sub(r"\\\{[^}]*\\\}", r"\\{[^}]+\\}", re.escape(path))  # {kpi_id} may read {id}
    assert re.search(rf"`{method} {pattern}[`?]", README), f"README does not document `{route}`"
