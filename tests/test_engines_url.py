"""`--engine` and $HEALTHDECK_ENGINE_URL: what they accept, and one clear line for what they do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthdeck.engines.url import ENGINE_ENV, EngineUrl, parse_engine_url, resolve_engine
from healthdeck.errors import HealthdeckError
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql://hd@127.0.0.1:5433/health",
            EngineUrl("postgres", "postgresql", "postgresql://hd@127.0.0.1:5433/health"),
        ),
        ("postgres://u:pw@db/h", EngineUrl("postgres", "postgres", "postgres://u:pw@db/h")),
        ("chdb:///var/lib/hd", EngineUrl("clickhouse", "chdb", "/var/lib/hd")),
        ("duckdb:///tmp/store.duckdb", EngineUrl("duckdb", "duckdb", "/tmp/store.duckdb")),
    ],
)
def test_urls_healthdeck_reads(text: str, expected: EngineUrl) -> None:
    assert parse_engine_url(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mysql://db/x", "is not one healthdeck reads"),
        ("postgresql://hd@db:5432", "names no database"),
        ("chdb://relative/dir", "has no absolute path"),
        ("/just/a/path", "is not one healthdeck reads"),
        # chdb would read what follows "?" as its settings; the URL is shown as written
        ("chdb:///var/ch?readonly=1", "'chdb:///var/ch[?]readonly=1': a folder path may not contain"),
        ("duckdb:///data/x%00.duckdb", "may not contain"),
    ],
)
def test_urls_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(HealthdeckError, match=problem):
        parse_engine_url(text)


def test_a_password_is_never_shown() -> None:
    assert parse_engine_url("postgresql://hd:s3cret@db:5432/h").shown == "postgresql://hd:***@db:5432/h"
    assert parse_engine_url("postgresql://hd@db/h?password=s3cret&sslmode=require").shown == (
        "postgresql://hd@db/h?password=***&sslmode=require"
    )


@pytest.mark.parametrize(
    "text", ["postgresql://hd:s3cret@db:5432", "postgress://hd:s3cret@db/h", "pg://h/?password=s3cret"]
)
def test_a_refused_url_is_named_without_its_password(text: str) -> None:
    with pytest.raises(HealthdeckError) as refused:
        parse_engine_url(text)
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)


def test_engine_name_takes_its_connection_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV, "chdb:///srv/ch")
    assert resolve_engine("clickhouse") == EngineUrl("clickhouse", "chdb", "/srv/ch")
    assert resolve_engine(None) == EngineUrl("clickhouse", "chdb", "/srv/ch")
    with pytest.raises(HealthdeckError, match="--engine postgres but \\$HEALTHDECK_ENGINE_URL is a clickhouse URL"):
        resolve_engine("postgres")
    monkeypatch.delenv(ENGINE_ENV)
    assert resolve_engine(None) is None
    assert resolve_engine("duckdb") is None
    with pytest.raises(HealthdeckError, match="needs its connection: set \\$HEALTHDECK_ENGINE_URL"):
        resolve_engine("postgres")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--engine", "oracle"], {}, "--engine 'oracle' is not an engine; choose duckdb, postgres, clickhouse"),
        (["--engine", "postgres"], {ENGINE_ENV: ""}, "--engine postgres needs its connection"),
        ([], {ENGINE_ENV: "mysql://x/y"}, "engine URL 'mysql://x/y' is not one healthdeck reads"),
        (
            ["--engine", "postgresql://hd@127.0.0.1:9/none"],
            {},
            "cannot connect to PostgreSQL at postgresql://hd@127.0.0.1:9",
        ),
    ],
)
def test_cli_says_what_is_wrong_in_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_cli("health", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_clickhouse_folder_without_healthdeck_tables_is_named(tmp_path: Path) -> None:
    missing = run_cli("health", "--engine", f"chdb://{tmp_path}/none")
    assert missing.returncode == 2, missing.stderr
    assert f"no ClickHouse data at {tmp_path}/none (no such folder)" in missing.stderr
    assert not (tmp_path / "none").exists()  # a read never makes one
    (tmp_path / "empty").mkdir()
    empty = run_cli("health", "--engine", f"chdb://{tmp_path}/empty")
    assert empty.returncode == 2, empty.stderr
    assert "holds no healthdeck tables" in empty.stderr
    assert "Traceback" not in missing.stderr + empty.stderr
