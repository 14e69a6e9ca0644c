"""Catalog loading: shipped packs, user overrides by id, and every problem reported with file and line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import healthdeck
from healthdeck.catalog import cache
from healthdeck.catalog.conditions import Condition
from healthdeck.catalog.loader import Catalog, CatalogError, load_catalog, shipped_pack_bytes
from healthdeck.catalog.models import Threshold
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


def _laughs(levels: int) -> str:
    """A "billion laughs" file: each level lists the previous one nine times (9^levels values)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9))
    # CPU time, not wall time: "at once" is about the work done (expanding would take minutes), and on a
    # loaded machine the wall clock also counts the other processes' turns (1.66 s under load, once).
    started = time.process_time()
    with pytest.raises(CatalogError) as caught:
        load_catalog([path])
    assert time.process_time() - started < 1.0
    # Level 6 is the first to pass 100,000 values (9^6 = 531,441).
    assert caught.value.problems == [f"{path}:6: YAML aliases here expand to over 100,000 values; write the values out"]


def test_a_self_referring_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text("kpis:\n  - &me [1, *me]\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("kpis:\n  - " + "[" * 60 + "]" * 60 + "\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog([loop, deep])
    assert caught.value.problems == [
        f"{loop}:2: a YAML alias refers to a value that contains it",
        f"{deep}:2: values nest more than 50 levels deep",
    ]


def test_a_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("kpis: []\n" + "#" * 1024 * 1024 + "\n")
    with pytest.raises(CatalogError, match=rf"{path}: larger than 1 MiB; split it"):
        load_catalog([path])


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kpis:\n  - id: api_latency_p95\n    title: Latenz für Kunden\n".encode("latin-1"))
    result = run_cli("catalog", "validate", str(path))
    assert result.returncode == 2
    assert f"{path}:3: not UTF-8 text (byte 0xfc); save the file as UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- id: api_latency_p95\n", "a list"),
        ("just some words\n", "a single value ('just some words')"),
        ("", "nothing (the file is empty)"),
        ("# only a comment\n", "nothing (the file is empty)"),
    ],
)
def test_a_file_whose_top_level_is_not_a_mapping_is_an_error(tmp_path: Path, text: str, found: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    result = run_cli("catalog", "validate", str(path))
    assert result.returncode == 2, result.stdout
    assert f"{path}:1: the top level must be a mapping with a `kpis:` list; found {found}" in result.stderr


OVERLAP = """\
kpis:
  - id: api_uptime_strict
    title: Uptime, strict
    area: service
    unit: percent
    measure: aggregate
    params: {table: requests}
    thresholds:
      good: "> 99.9"
      critical: "> 99.5"
"""


def test_good_and_critical_that_overlap_are_refused_at_the_critical_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(OVERLAP)
    result = run_cli("catalog", "validate", str(path))
    assert result.returncode == 2
    assert (
        f'{path}:10: thresholds.critical: good "> 99.9" and critical "> 99.5" overlap: a value > 99.9 would be both'
        in result.stderr
    )


@pytest.mark.parametrize(
    ("good", "critical", "common"),
    [
        ("> 99.9", "> 99.5", "> 99.9"),
        ("<= 0", ">= 0", "== 0"),
        ("0.1..10", "<= 1 or > 100", "from 0.1 to 1"),
        ("< 250", "> 200", "between 200 and 250"),
        ("< 200", "< 500", "< 200"),
        ("== 3", "2..4", "== 3"),
    ],
)
def test_overlapping_conditions_name_the_values_judged_both_ways(good: str, critical: str, common: str) -> None:
    with pytest.raises(ValueError, match=rf"a value {re.escape(common)} would be both"):
        Threshold(good=good, critical=critical)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("good", "critical"),
    [("> 99.9", "< 99.5"), ("< 0.1", ">= 0.1"), ("0.1..10", "< 0.01 or > 100"), ("== 0", "> 10"), ("< 200", "> 500")],
)
def test_conditions_on_either_side_are_accepted(good: str, critical: str) -> None:
    threshold = Threshold(good=good, critical=critical)  # type: ignore[arg-type]
    assert str(threshold.critical) == str(Condition.parse(critical))


def test_an_override_that_makes_good_overlap_the_shipped_critical_is_refused(tmp_path: Path) -> None:
    # The shipped p95 latency is critical above 200 ms: good below 250 would make 220 ms both.
    path = tmp_path / "mine.yaml"
    path.write_text("kpis:\n  - id: api_latency_p95\n    thresholds: {good: '< 250'}\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog([path])
    assert caught.value.problems == [
        f'{path}:3: thresholds.critical: good "< 250" and critical "> 200" overlap: a value between 200 and 250 '
        'would be both; critical must lie on the other side of good (e.g. good "> 99.9", critical "< 99.5")'
    ]


# ------------------------------------------------------------------------- the cache of the shipped packs


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own, used by every catalog load in it."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(folder))
    return folder


def _same(first: Catalog, second: Catalog) -> None:
    assert first.kpis == second.kpis and first.packs == second.packs and first.raw == second.raw
    assert {k: (s.name, s.lines, p) for k, (s, p) in first.origins.items()} == {
        k: (s.name, s.lines, p) for k, (s, p) in second.origins.items()
    }


def test_the_cached_catalog_equals_the_freshly_validated_one(cache_dir: Path, tmp_path: Path) -> None:
    fresh = load_checked_catalog()
    assert (cache_dir / cache.CACHE_FILE).is_file(), "the first load keeps the validated packs"
    cached = load_checked_catalog()
    assert cached.kpis["api_latency_p95"] is not fresh.kpis["api_latency_p95"], "read back, not shared"
    _same(fresh, cached)
    # A user's file merges onto the cached packs exactly as onto freshly parsed ones.
    mine = tmp_path / "mine.yaml"
    mine.write_text("kpis:\n  - id: api_latency_p95\n    thresholds: {good: '< 150'}\n    weight: 2\n")
    override = load_checked_catalog([mine])
    cache_dir.joinpath(cache.CACHE_FILE).unlink()
    _same(override, load_checked_catalog([mine]))
    assert override.kpis["api_latency_p95"].location == f"{mine}:2"


def test_a_warm_load_reads_the_cache_file(cache_dir: Path) -> None:
    load_catalog()
    # Same key, another catalog: a load that returns it has read the file instead of the packs.
    stamp = cache.key(shipped_pack_bytes())
    marked = load_catalog()
    marked.kpis.pop("api_latency_p95")
    cache.write(stamp, marked)
    assert "api_latency_p95" not in load_catalog().kpis


def test_the_key_changes_with_any_pack_byte() -> None:
    packs = shipped_pack_bytes()
    name, data = packs[0]
    assert cache.key(packs) == cache.key(list(packs))
    assert cache.key(packs) != cache.key([(name, data + b" "), *packs[1:]])
    assert cache.key(packs) != cache.key([(name + "x", data), *packs[1:]])
    assert cache.key(packs) != cache.key(packs[1:])


def test_a_changed_pack_is_read_again_not_taken_from_the_cache(tmp_path: Path) -> None:
    # A copy of the package with one pack edited shares the cache folder with the original.
    copy = tmp_path / "src"
    shutil.copytree(Path(healthdeck.__file__).parent, copy / "healthdeck", ignore=shutil.ignore_patterns("__pycache__"))
    pack = copy / "healthdeck" / "catalog" / "packs" / "product_health.yaml"
    pack.write_text(re.sub(r"(?m)^(    title: )P95 latency$", r"\1Edited latency", pack.read_text()), "utf-8")
    title = "from healthdeck.catalog.loader import load_catalog; print(load_catalog().kpis['api_latency_p95'].title)"
    original = str(Path(healthdeck.__file__).parent.parent)
    for source, expected in ((original, "P95 latency"), (str(copy), "Edited latency")):
        env = {**os.environ, cache.CACHE_DIR_ENV: str(tmp_path / "cache"), "PYTHONPATH": source}
        result = subprocess.run([sys.executable, "-c", title], env=env, capture_output=True, text=True, timeout=120)
        assert result.stdout.strip() == expected, result.stderr


@pytest.mark.parametrize("damage", [b"", b"not a key\n", b"KEY\n\x80\x05garbage", b"KEY\n"])
def test_a_damaged_cache_file_is_ignored_and_rebuilt(cache_dir: Path, damage: bytes) -> None:
    fresh = load_catalog()
    stamp = cache.key(shipped_pack_bytes())
    (cache_dir / cache.CACHE_FILE).write_bytes(damage.replace(b"KEY", stamp.encode()))
    _same(fresh, load_catalog())
    assert isinstance(cache.read(stamp), Catalog), "rebuilt"


def test_a_cache_folder_that_cannot_be_written_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "a-file" / "cache"))
    assert "api_latency_p95" in load_checked_catalog().kpis
    assert list(tmp_path.iterdir()) == [tmp_path / "a-file"]
