"""The packs of seeds 001–004: they load, stay out of the score, and never reuse another pack's KPI id."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from healthdeck.catalog.loader import load_catalog, parse_yaml, shipped_pack_files

from .conftest import run_cli

SEED_PACKS = ("daily_ops", "tiers", "agent_platform", "api_pipeline_tenants")


def test_no_kpi_id_is_defined_in_two_shipped_packs() -> None:
    # A second definition in another shipped file would silently override the first one.
    ids = Counter(kpi["id"] for name, text in shipped_pack_files() for kpi in parse_yaml(text, name).data["kpis"])
    assert [kpi_id for kpi_id, count in ids.items() if count > 1] == []


@pytest.mark.parametrize("pack", SEED_PACKS)
def test_seed_pack_loads_unscored_with_sources(pack: str) -> None:
    catalog = load_catalog()
    kpis = catalog.in_pack(pack)
    assert len(kpis) >= 20
    assert not catalog.packs[pack].scored and not any(catalog.is_scored(k) for k in kpis)
    assert all(k.source.startswith("seed 00") for k in kpis), [k.id for k in kpis if not k.source]


def test_every_shipped_pack_passes_catalog_validate() -> None:
    # The same checks a user's file meets (size, aliases, good and critical apart), through the CLI.
    folder = Path(str(resources.files("healthdeck.catalog") / "packs"))
    packs = sorted(str(path) for path in folder.glob("*.yaml"))
    result = run_cli("catalog", "validate", *packs)
    assert result.returncode == 0, result.stderr
    assert f"ok: {len(packs)} file(s)" in result.stdout
