"""The command line starts without loading the engine's heavy libraries; they load when a command needs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

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
    assert printed_by(RUN_HEALTH, on_a_new_store(tmp_path)) == []


def on_a_new_store(folder: Path) -> Path:
    with open_store(folder / "store.duckdb", create=True):
        pass
    return folder / "store.duckdb"


def printed_by(script: str, store: Path) -> Any:
    """The JSON a script run in a fresh interpreter printed last, given the store's path."""
    result = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout.splitlines()[-1])


# Which command modules a real `healthdeck health` run imported.
COMMAND_MODULES_LOADED = """
import json, pkgutil, sys
import healthdeck.cli
from healthdeck.cli.app import main
sys.argv = ["healthdeck", "health", "--db", sys.argv[1]]
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
modules = [f"healthdeck.cli.{module.name}" for module in pkgutil.iter_modules(healthdeck.cli.__path__)]
print(json.dumps(sorted(name for name in modules if name.endswith("_cmd") and name in sys.modules)))
"""


def test_a_command_imports_no_other_command(tmp_path: Path) -> None:
    assert printed_by(COMMAND_MODULES_LOADED, on_a_new_store(tmp_path)) == ["healthdeck.cli.health_cmd"]


# A health check whose SQL templates are cached runs its queries on DuckDB directly.
COMPILERS = ("ibis", "sqlglot", "numpy")


@pytest.fixture(scope="module")
def young_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A simulated store 10 days old (its 30-day windows are cut to the data) and an instant to judge it at."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    db = tmp_path_factory.mktemp("young") / "store.duckdb"
    simulated = run_cli(
        "simulate", "--tenants", "20", "--days", "10", "--seed", "1", "--end", end.isoformat(), "--db", str(db)
    )
    assert simulated.returncode == 0, simulated.stderr
    # Microseconds that no window length divides, so every instant of every query is irregular.
    return db, (end - timedelta(minutes=3, microseconds=123457)).isoformat()


def _health(
    db: Path, at: str, *, env: dict[str, str] | None = None, python: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    args = ["-m", "healthdeck", "health", "--full", "-o", "json", "--at", at, "--db", str(db)]
    result = subprocess.run(
        [sys.executable, *python, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result


def _imported(importtime: str) -> set[str]:
    """The top-level packages a `python -X importtime` run imported, from its report on stderr."""
    lines = [line for line in importtime.splitlines() if line.startswith("import time:") and "|" in line]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines[1:]}  # the first line is the header


def test_a_warm_health_check_does_not_import_ibis(young_store: tuple[Path, str]) -> None:
    db, at = young_store
    shutil.rmtree(db.parent / "cache", ignore_errors=True)
    cold = _imported(_health(db, at, python=("-X", "importtime")).stderr)
    assert {"ibis", "sqlglot"} <= cold, "the first run compiles its queries with Ibis (or this test reads nothing)"
    warm = _imported(_health(db, at, python=("-X", "importtime")).stderr)
    assert "duckdb" in warm and "healthdeck" in warm
    assert not warm & set(COMPILERS), f"a run with every template cached imported {sorted(warm & set(COMPILERS))}"


def test_a_health_check_printing_json_does_not_import_rich(young_store: tuple[Path, str]) -> None:
    db, at = young_store
    imported = _imported(_health(db, at, python=("-X", "importtime")).stderr)
    assert "healthdeck" in imported and "rich" not in imported, "Rich formats tables, not JSON: import it there"


def test_a_window_cut_at_the_newest_event_needs_no_compiler(young_store: tuple[Path, str]) -> None:
    """As in a live store, judged seconds after its newest event: windows end at that event, every time
    at another length, and the templates still serve them (a rate divides its count outside SQL)."""
    db, at = young_store
    _health(db, at)  # every template learnt
    after_the_data = datetime.fromisoformat(at) + timedelta(minutes=3, seconds=10)
    for later in (after_the_data, after_the_data + timedelta(seconds=7, microseconds=5)):
        report = orjson.loads(_health(db, later.isoformat()).stdout)
        rate = next(k for k in report["areas"]["service"]["kpis"] if k["id"] == "request_rate")
        assert rate["value"] is not None and rate["window"]["end"] < later.isoformat()  # cut at the newest event
        imported = _imported(_health(db, later.isoformat(), python=("-X", "importtime")).stderr)
        assert not imported & set(COMPILERS), f"a cut window compiled a query: {sorted(imported & set(COMPILERS))}"


def test_cold_warm_and_untemplated_runs_give_the_same_report(young_store: tuple[Path, str]) -> None:
    db, at = young_store
    shutil.rmtree(db.parent / "cache", ignore_errors=True)
    # Every query compiled by Ibis for its own window, as if there were no templates at all.
    untemplated = _health(db, at, env={"HEALTHDECK_SQL_TEMPLATES": "off"}).stdout
    assert not (db.parent / "cache").exists(), "without templates, none is written"
    cold = _health(db, at).stdout
    warm = _health(db, at).stdout
    report = orjson.loads(warm)
    assert sum(k["value"] is not None for area in report["areas"].values() for k in area["kpis"]) > 30
    assert warm == cold
    assert warm == untemplated


def test_a_warm_run_takes_the_shipped_packs_from_the_cache_without_yaml(tmp_path: Path) -> None:
    # The packs are parsed (PyYAML) on the first run only; the next finds them validated in the cache.
    env = {**os.environ, "HEALTHDECK_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "300"}
    runs = [
        subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "healthdeck", "catalog", "list"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[1].stderr
    assert runs[0].stdout == runs[1].stdout and "api_latency_p95" in runs[1].stdout
    assert "yaml" in _imported(runs[0].stderr), "the first run parses the packs (or this test reads nothing)"
    assert (tmp_path / "cache" / "shipped-catalog.pickle").is_file()
    assert "yaml" not in _imported(runs[1].stderr), "a warm run parsed the shipped packs again"
