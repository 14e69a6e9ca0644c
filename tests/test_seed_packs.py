"""The packs of seeds 001–004: they load, stay out of the score, and never reuse another pack's KPI id."""

from __future__ import annotations

from collections import Counter

import pytest

from healthdeck.catalog.loader import load_catalog, parse_yaml, shipped_pack_files

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
