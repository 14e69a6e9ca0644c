"""A fresh clone tests itself: nothing in the repository reaches for files outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("src", "tests", "benchmarks", "Makefile", ".ci")
# The workspace keeps the specification in a sibling folder a user's clone does not have; spelled
# as patterns (the two folder names joined by a path operator too) so this file does not match itself.
OUTSIDE = re.compile(r"shared\W{1,6}seeds|\.\.[/\\]shared|/work/shared")


def _files() -> list[Path]:
    found: list[Path] = []
    for name in CHECKED:
        place = ROOT / name
        found.extend([place] if place.is_file() else (p for p in place.rglob("*") if p.is_file()))
    return [p for p in found if "__pycache__" not in p.parts]


def test_no_file_refers_to_the_specification_outside_the_repository() -> None:
    files = _files()
    assert any(p.name == "test_seed_sql.py" for p in files)
    offenders = [
        str(p.relative_to(ROOT))
        for p in files
        if p != Path(__file__).resolve() and OUTSIDE.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offenders, f"these files read outside the repository: {offenders}"
