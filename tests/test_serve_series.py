"""`GET /v1/metrics/export|compare` and a KPI's history, against a real server on a store the CLI read first.

Each answer must equal what `healthdeck metrics export|compare` print on the same store at
the same fixed times (the CLI runs directly, before the server holds the store).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthdeck.api.tokens import Role
from healthdeck.store.connection import open_store
from tests.conftest import run_cli, write_jsonl
from tests.test_serve_cli import AT, KPI, records
from tests.test_serve_server import Server, make_tokens, tenant

START, END = (AT - timedelta(hours=3)).isoformat(), AT.isoformat()
EXPORT = {"start": START, "end": END, "step": "1h", "name": [KPI, "request_rate"]}
COMPARE = {"period1": "2026-11-19", "period2": "2026-11-20", "name": [KPI, "error_rate_5xx"]}


def cli_args(params: dict[str, Any]) -> list[str]:
    return [
        arg
        for key, value in params.items()
        for v in ([value] if isinstance(value, str) else value)
        for arg in (f"--{key}", v)
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("series")
    db = folder / "store.duckdb"
    assert (
        run_cli(
            "ingest", str(write_jsonl(folder / "data.jsonl", [tenant("t1"), *records()])), "--db", str(db)
        ).returncode
        == 0
    )
    backfill = run_cli("history", "backfill", "--since", "2h", "--step", "1h", "--db", str(db))
    assert backfill.returncode == 0, backfill.stderr
    direct: dict[str, Any] = {
        "json": _cli(db, "metrics", "export", *cli_args(EXPORT), "--format", "json"),
        "csv": _cli(db, "metrics", "export", *cli_args(EXPORT)),
        "compare": _cli(db, "metrics", "compare", *cli_args(COMPARE), "-o", "json"),
        "t1": _cli(db, "metrics", "export", *cli_args(EXPORT), "--tenant", "t1", "--format", "json"),
    }
    with open_store(db, read_only=True) as store:
        direct["kept"] = store.con.execute(
            "SELECT evaluated_at, value, status FROM health_history WHERE level = 'kpi' AND name = ? "
            "ORDER BY evaluated_at",
            [KPI],
        ).fetchall()
    viewer, direct["viewer@t1"] = make_tokens(db, (Role.viewer, None), (Role.viewer, "t1"))
    server = Server(db).start()
    try:
        yield server, viewer, direct
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0 and "Traceback" not in stderr, stderr


def _cli(db: Path, *args: str) -> str:
    result = run_cli(*args, "--db", str(db))
    assert result.returncode == 0, result.stderr
    return result.stdout


def _get(served: tuple[Server, str, dict[str, Any]], path: str, params: dict[str, Any]) -> httpx.Response:
    server, viewer, _ = served
    with server.client(viewer) as http:
        return http.get(path, params=params)


def test_export_answers_the_rows_the_cli_prints(served: tuple[Server, str, dict[str, Any]]) -> None:
    _, _, direct = served
    answer = _get(served, "/v1/metrics/export", EXPORT)
    assert answer.status_code == 200, answer.text
    assert answer.json() == orjson.loads(direct["json"])
    assert [r["at"] for r in answer.json()][::2] == [(AT - timedelta(hours=h)).isoformat() for h in (3, 2, 1, 0)]
    assert answer.json()[-2]["value"] is not None  # the data is there: not a comparison of empty rows
    as_csv = _get(served, "/v1/metrics/export", {**EXPORT, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.replace("\r\n", "\n") == direct["csv"]  # run_cli reads text: the CSV's CRLF become \n


def test_compare_answers_what_the_cli_prints(served: tuple[Server, str, dict[str, Any]]) -> None:
    _, _, direct = served
    answer = _get(served, "/v1/metrics/compare", COMPARE)
    assert answer.status_code == 200, answer.text
    assert answer.json() == orjson.loads(direct["compare"])
    assert set(answer.json()[0]) >= {"window1", "window2", "cut"}


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"start": END, "end": START}, "the export's end must be after its start"),
        ({"start": "2026-01-01T00:00:00Z", "end": END, "step": "1m"}, "over 10,000 steps per KPI"),
        ({"end": "2999-01-01T00:00:00Z"}, "end '2999-01-01T00:00:00Z' is 2999-01-01 00:00:00 UTC, in the future"),
        ({"step": "soon"}, "step: cannot read duration 'soon'"),
        ({"step": "99999999999d"}, "step: duration '99999999999d' is too long"),
        ({"start": "whenever"}, "cannot read start 'whenever'"),
        ({"name": "no_such_kpi"}, "no KPI with id 'no_such_kpi'"),
        ({"name": [], "pack": "nope"}, "no pack named 'nope'"),  # a name would win over the pack
        ({"format": "parquet"}, "format"),
    ],
)
def test_a_bad_export_parameter_is_400_naming_it(
    served: tuple[Server, str, dict[str, Any]], params: dict[str, Any], problem: str
) -> None:
    answer = _get(served, "/v1/metrics/export", {"name": KPI, **params})
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error"} and problem in answer.json()["error"]


def test_the_cli_refuses_the_same_exports_with_the_same_lines(served: tuple[Server, str, dict[str, Any]]) -> None:
    server, _, _ = served
    for params, api_label in (({"start": END, "end": START}, None), ({"end": "2999-01-01T00:00:00Z"}, "end")):
        answer = _get(served, "/v1/metrics/export", {"name": KPI, **params}).json()["error"]
        cli = run_cli("metrics", "export", "--name", KPI, *cli_args(params), "--db", str(server.db))
        assert cli.returncode == 2 and "Traceback" not in cli.stderr
        line = cli.stderr.strip().removeprefix("error: ")
        if api_label:  # the CLI names its option, the API its parameter; the clock moves between the two
            line, answer = line.split(" (now is")[0].replace(f"--{api_label}", api_label), answer.split(" (now is")[0]
        assert line == answer


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"period1": "someday"}, "cannot read period1 'someday'"),
        ({"period2": "2999-01-01"}, "a period to compare begins after now"),
        ({"name": "no_such_kpi"}, "no KPI with id 'no_such_kpi'"),
    ],
)
def test_a_bad_compare_parameter_is_400_naming_it(
    served: tuple[Server, str, dict[str, Any]], params: dict[str, Any], problem: str
) -> None:
    answer = _get(served, "/v1/metrics/compare", {**COMPARE, **params})
    assert answer.status_code == 400 and problem in answer.json()["error"], answer.text


def test_a_kpis_history_is_what_the_store_kept(served: tuple[Server, str, dict[str, Any]]) -> None:
    answer = _get(served, f"/v1/kpis/{KPI}/history", {"since": "3h"})
    assert answer.status_code == 200, answer.text
    kept = served[2]["kept"]
    assert len(kept) == 2  # backfilled: the last two whole hours
    assert [(p["at"], p["value"], p["status"]) for p in answer.json()["points"]] == [
        (at.isoformat(), value, status) for at, value, status in kept
    ]
    same = _get(served, "/v1/history", {"since": "3h", "kpi": KPI}).json()["kpi"]["points"]
    assert answer.json()["points"] == same
    assert _get(served, "/v1/kpis/nope/history", {}).status_code == 404
    bad = _get(served, f"/v1/kpis/{KPI}/history", {"since": "forever"})
    assert bad.status_code == 400 and "since: cannot read duration 'forever'" in bad.json()["error"]


def test_export_for_one_tenant_is_the_clis_tenant_export(served: tuple[Server, str, dict[str, Any]]) -> None:
    server, _, direct = served
    with server.client(direct["viewer@t1"]) as http:
        own = http.get("/v1/metrics/export", params={**EXPORT, "project": "t1"})
        assert own.status_code == 200, own.text
        assert own.json() == orjson.loads(direct["t1"])
        assert http.get("/v1/metrics/export", params={**EXPORT, "project": "t2"}).status_code == 404
        assert http.get("/v1/metrics/export", params=EXPORT).status_code == 403  # every tenant: not for this token
        assert http.get("/v1/metrics/compare", params={**COMPARE, "project": "t1"}).status_code == 200
        assert http.get(f"/v1/kpis/{KPI}/history").status_code == 403
