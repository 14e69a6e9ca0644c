"""Opening a store never damages someone else's file and never invents one."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthdeck.errors import NotAStoreError, StoreMissingError
from healthdeck.store.connection import open_store

from .conftest import run_cli, write_jsonl

SPEND = {"kind": "spend", "ts": "2026-11-01T00:00:00Z", "category": "marketing", "amount": 10}
READ_COMMANDS = [
    ["health"],
    ["status"],
    ["sql", "SELECT 1"],
    ["store", "info"],
    ["store", "upgrade"],
    ["metrics", "get", "--name", "api_latency_p95"],
    ["metrics", "watch", "--count", "1"],
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _csv(path: Path) -> None:
    path.write_text("kind,ts,category,amount\nspend,2026-11-01T00:00:00Z,marketing,10\n")


def _jsonl(path: Path) -> None:
    write_jsonl(path, [SPEND])


def _parquet(path: Path) -> None:
    pq.write_table(pa.table({"kind": ["spend"], "amount": [10]}), path)


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE requests (event_id TEXT)")
    con.commit()
    con.close()


def _duckdb_with_requests(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE requests AS SELECT 'e1' AS event_id, 200 AS status")
    con.close()


def _duckdb_empty(path: Path) -> None:
    duckdb.connect(str(path)).close()


FOREIGN: dict[str, tuple[Callable[[Path], None], str]] = {
    "x.csv": (_csv, "is not a DuckDB database"),
    "x.jsonl": (_jsonl, "is not a DuckDB database"),
    "x.parquet": (_parquet, "is a Parquet file"),
    "x.sqlite": (_sqlite, "is a SQLite database"),
    "theirs.duckdb": (_duckdb_with_requests, "is a DuckDB database that healthdeck did not create"),
    "blank.duckdb": (_duckdb_empty, "is a DuckDB database that healthdeck did not create"),
}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "good.jsonl", [SPEND, {**SPEND, "amount": 20}])


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_a_file_that_is_not_a_store_is_refused_by_every_open_and_left_untouched(tmp_path: Path, name: str) -> None:
    make, kind = FOREIGN[name]
    path = tmp_path / name
    make(path)
    before, siblings = _sha256(path), sorted(tmp_path.iterdir())
    for options in ({"create": True}, {}, {"read_only": True}):
        with pytest.raises(NotAStoreError, match=f"{kind}.*not a healthdeck store; healthdeck leaves it untouched"):
            open_store(path, **options)
    assert _sha256(path) == before
    assert sorted(tmp_path.iterdir()) == siblings  # no journal, no draft left beside it


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("x.csv", ["ingest", "GOOD"]),
        ("x.jsonl", ["ingest", "GOOD"]),
        ("x.parquet", ["simulate", "--tenants", "2", "--days", "1"]),
        ("x.sqlite", ["health"]),
        ("theirs.duckdb", ["ingest", "GOOD"]),
        ("theirs.duckdb", ["sql", "SELECT count(*) FROM requests"]),
        ("blank.duckdb", ["store", "info"]),
    ],
)
def test_commands_refuse_a_foreign_file_with_one_clear_line(
    tmp_path: Path, good: Path, name: str, command: list[str]
) -> None:
    make, kind = FOREIGN[name]
    path = tmp_path / name
    make(path)
    before = _sha256(path)
    result = run_cli(*[str(good) if arg == "GOOD" else arg for arg in command], "--db", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path} {kind}" in result.stderr and "Traceback" not in result.stderr
    assert "accepted" not in result.stdout
    assert _sha256(path) == before


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_on_a_mistyped_path_say_no_store_and_create_nothing(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "typo" / "store.duckdb"
    result = run_cli(*command, "--db", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no store at {path}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "typo").exists()


def test_an_empty_file_is_no_store_for_readers_and_becomes_one_for_writers(tmp_path: Path, good: Path) -> None:
    path = tmp_path / "empty.duckdb"
    path.touch()
    with pytest.raises(StoreMissingError, match="the file is empty"):
        open_store(path, read_only=True)
    assert path.stat().st_size == 0
    result = run_cli("ingest", str(good), "--db", str(path))
    assert result.returncode == 0, result.stderr
    with open_store(path, read_only=True) as store:
        assert store.count("spend") == 2


def test_writers_create_a_store_and_its_directories_where_nothing_is(tmp_path: Path, good: Path) -> None:
    path = tmp_path / "new" / "dir" / "store.duckdb"
    result = run_cli("ingest", str(good), "--db", str(path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.duckdb"]  # no draft left behind
    assert run_cli("sql", "SELECT sum(amount) FROM spend", "-o", "json", "--db", str(path)).stdout.split() == [
        "[",
        "{",
        '"sum(amount)":',
        "30.0",
        "}",
        "]",
    ]


def test_a_schema_version_that_is_not_a_number_is_a_clear_error(tmp_path: Path, good: Path) -> None:
    path = tmp_path / "edited.duckdb"
    with open_store(path, create=True) as store:
        store.con.execute("UPDATE _healthdeck_meta SET value = 'two' WHERE key = 'schema_version'")
    for command in (["store", "info"], ["ingest", str(good)]):
        result = run_cli(*command, "--db", str(path))
        assert result.returncode == 2, result.stderr
        assert f"the store {path} has a schema version that is not a number ('two')" in result.stderr
        assert "Traceback" not in result.stderr


def test_rejects_pointing_at_a_directory_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "mixed.jsonl", [SPEND, {**SPEND, "amount": "lots"}])
    path = tmp_path / "store.duckdb"
    result = run_cli("ingest", str(data), "--rejects", str(tmp_path), "--db", str(path))
    assert result.returncode == 2, result.stderr
    assert f"--rejects {tmp_path} is a directory" in result.stderr and "Traceback" not in result.stderr
    assert not path.exists()


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make a folder unwritable for this user, root included (CI runs as root, which modes don't stop).

    For root the folder is made immutable (chattr +i): not even root may create a file in it.
    """
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_a_store_in_a_read_only_directory_reads_and_refuses_writes_clearly(tmp_path: Path) -> None:
    store_dir = tmp_path / "ro"
    path = store_dir / "store.duckdb"
    data = write_jsonl(tmp_path / "good.jsonl", [SPEND])
    with open_store(path, create=True):
        pass
    before = _sha256(path)
    with read_only(store_dir):
        reader = run_cli("sql", "SELECT count(*) AS n FROM spend", "--db", str(path))
        assert reader.returncode == 0, reader.stderr
        for target in (path, store_dir / "new.db"):
            writer = run_cli("ingest", str(data), "--db", str(target))
            assert writer.returncode == 2, writer.stderr
            assert "Traceback" not in writer.stderr
            assert "no write permission on" in writer.stderr, writer.stderr
    assert _sha256(path) == before
    assert sorted(p.name for p in store_dir.iterdir()) == ["store.duckdb"]
