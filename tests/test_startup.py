"""The command line starts without loading the engine's heavy libraries; they load when a command needs them."""

from __future__ import annotations

import subprocess
import sys

import orjson

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
