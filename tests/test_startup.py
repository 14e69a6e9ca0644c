"""The command line starts without loading the engine's heavy libraries; they load when a command needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from healthdeck.store.connection import open_store
from healthdeck.store.ingest import BATCH_ROWS

from .conftest import run_cli

HEAVY = ("ibis", "pandas", "pyarrow", "dateparser", "duckdb", "sqlglot", "numpy")
# What `healthdeck --help` does: import the app and build every command from its signature.
BUILD_THE_CLI = """
import json, sys
import typer.main
from healthdeck.cli.app import app
typer.main.get_command(app)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in json.loads(sys.argv[1]))))
"""


def test_building_the_cli_imports_none_of_the_heavy_libraries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BUILD_THE_CLI, orjson.dumps(HEAVY).decode()],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = orjson.loads(result.stdout)
    assert loaded == [], f"the CLI imports {loaded} at start-up: import them inside the commands that use them"


def test_ingest_help_states_the_batch_size_the_ingester_uses() -> None:
    # The default is stated in the help text, so the help need not import the ingester to show it.
    result = run_cli("ingest", "--help", env={"COLUMNS": "200"})
    assert f"{BATCH_ROWS:,} by default" in result.stdout


# A health check in-process, then which of the libraries it should not need were loaded.
RUN_HEALTH = """
import json, sys
from healthdeck.cli.app import app
try:
    app(["health", "--db", sys.argv[1]])
except SystemExit as done:
    assert not done.code, done.code
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("pyarrow", "pandas", "dateparser"))))
"""


def test_a_health_check_needs_neither_pyarrow_nor_pandas(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb", create=True):
        pass
    result = subprocess.run(
        [sys.executable, "-c", RUN_HEALTH, str(tmp_path / "store.duckdb")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout.splitlines()[-1]) == []
