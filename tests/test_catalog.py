"""Catalog loading: shipped packs, user overrides by id, and every problem reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthdeck.catalog.loader import CatalogError
from healthdeck.engine.session import load_checked_catalog

from .conftest import run_cli

BAD = """\
kpis:
  - id: ok_kpi
    title: Fine
    area: service
    measure: aggregate
    params: {table: requests}
  - id: bad_condition
    title: Bad threshold
    area: service
    measure: aggregate
    params: {table: requests}
    thresholds: {good: "about 5"}
  - id: bad_measure
    title: Unknown measure
    area: service
    measure: nonsense
  - id: bad_param
    title: Bad parameter
    area: customer
    measure: aggregate
    params:
      table: requests
      agg: quantile
      column: latency_ms
      q: 1.5
  - id: bad_area
    title: Bad area
    area: vibes
    measure: mrr
  - id: ok_kpi
    title: Twice
    area: service
    measure: mrr
"""


def test_shipped_packs_load_and_check() -> None:
    catalog = load_checked_catalog()
    assert {"product_health", "daily_ops_morning"} <= set(catalog.packs)
    assert len(catalog.scored()) >= 60
    assert all(k.pack == "product_health" for k in catalog.scored())


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BAD)
    with pytest.raises(CatalogError) as caught:
        load_checked_catalog([path])
    problems = caught.value.problems
    expected = [
        (12, "cannot read condition 'about 5'"),
        (28, "area: Input should be 'service', 'customer', 'business' or 'capacity'"),
        (30, "KPI id 'ok_kpi' is defined twice"),
        (16, "unknown measure 'nonsense'"),
        (21, "quantile needs q between 0 and 1"),
    ]
    for line, message in expected:
        assert any(p.startswith(f"{path}:{line}:") and message in p for p in problems), (line, message, problems)
    assert len(problems) == len(expected)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kpis:\n  - id: a\n    title: [unclosed\n")
    with pytest.raises(CatalogError, match=rf"{path}:4: YAML syntax error"):
        load_checked_catalog([path])


def test_user_file_overrides_a_kpi_by_id_and_adds_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "kpis:\n"
        "  - id: api_latency_p95\n"
        "    thresholds: {good: '< 150'}\n"
        "  - id: checkout_errors\n"
        "    title: Checkout errors\n"
        "    area: service\n"
        "    measure: aggregate\n"
        "    params: {table: requests, where: {endpoint: /v1/checkout, status: {gte: 500}}}\n"
        "    window: 1h\n"
        "    thresholds: {good: '<= 0', critical: '> 10'}\n"
    )
    catalog = load_checked_catalog([path])
    p95 = catalog.get("api_latency_p95")
    assert p95.thresholds is not None and str(p95.thresholds.good) == "< 150"
    assert str(p95.thresholds.critical) == "> 200", "fields not given keep their shipped value"
    assert p95.location == f"{path}:2"
    assert catalog.is_scored(catalog.get("checkout_errors"))


def test_unknown_kpi_suggests_near_names() -> None:
    with pytest.raises(Exception, match=r"did you mean .*api_latency_p95"):
        load_checked_catalog().get("api_latency_p96")


def test_cli_validate_prints_all_problems(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BAD)
    result = run_cli("catalog", "validate", str(path))
    assert result.returncode == 2
    assert "5 problem(s) in the catalog" in result.stderr
    assert f"{path}:16:" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text("kpis:\n  - id: api_latency_p95\n    weight: 5\n")
    result = run_cli("catalog", "validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "1 KPI(s) defined or overridden" in result.stdout
