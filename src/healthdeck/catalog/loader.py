"""Loading the catalog in named stages: YAML with line numbers -> typed models -> cross checks.

Every problem is collected with its file and line and reported together, so a user
fixes a whole file in one pass. The shipped packs, once through the first two stages, are kept
in the user's cache folder (see catalog/cache.py), so most runs parse no YAML at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from healthdeck.catalog import cache
from healthdeck.catalog.models import KpiSpec, PackSpec
from healthdeck.errors import HealthdeckError

Path_ = tuple[str | int, ...]


class CatalogError(HealthdeckError):
    """One or more problems in catalog files, each as `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the catalog:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass
class SourceFile:
    """A parsed YAML document and the line of every value in it."""

    name: str
    data: Any
    lines: dict[Path_, int]

    def line_of(self, path: Path_) -> int:
        """The line of `path`, or of its nearest enclosing value that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def where(self, path: Path_) -> str:
        return f"{self.name}:{self.line_of(path)}"


def _pydantic_problems(source: SourceFile, base: Path_, exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field_name = ".".join(str(part) for part in loc) or "(entry)"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{source.where((*base, *loc))}: {field_name}: {message}")
    return problems


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class Catalog:
    """Every KPI known to this run: the shipped packs plus the user's files."""

    kpis: dict[str, KpiSpec] = field(default_factory=dict)
    packs: dict[str, PackSpec] = field(default_factory=dict)
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Where each KPI was (last) defined, so later checks can name the exact line of a bad value.
    origins: dict[str, tuple[SourceFile, Path_]] = field(default_factory=dict)

    def where(self, kpi_id: str, loc: Path_ = ()) -> str:
        """file:line of a value inside a KPI's definition."""
        source, base = self.origins[kpi_id]
        return source.where((*base, *loc))

    def get(self, kpi_id: str) -> KpiSpec:
        """The KPI with this id, or an error that suggests near names."""
        if kpi_id in self.kpis:
            return self.kpis[kpi_id]
        near = difflib.get_close_matches(kpi_id, self.kpis, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else "; `healthdeck catalog list` shows them all"
        raise HealthdeckError(f"no KPI with id {kpi_id!r}{hint}")

    def is_scored(self, kpi: KpiSpec) -> bool:
        return kpi.scored if kpi.scored is not None else self.packs[kpi.pack].scored

    def scored(self) -> list[KpiSpec]:
        """The KPIs that make up the overall health score."""
        return [k for k in self.kpis.values() if self.is_scored(k)]

    def in_pack(self, pack: str) -> list[KpiSpec]:
        if pack not in self.packs:
            raise HealthdeckError(f"no pack named {pack!r}; packs: {', '.join(self.packs)}")
        return [k for k in self.kpis.values() if k.pack == pack]

    def add_source(self, source: SourceFile, *, user: bool) -> list[str]:
        """Stage 2: validate one file's pack and KPIs into the catalog; return its problems."""
        data = source.data
        if user:
            data = {"pack": "custom", "title": "Your KPIs", "scored": True, **data}
        try:
            pack = PackSpec.model_validate(data)
        except ValidationError as exc:
            return _pydantic_problems(source, (), exc)
        self.packs.setdefault(pack.pack, pack)
        problems: list[str] = []
        for index, entry in enumerate(pack.kpis):
            problems.extend(self._add_kpi(source, pack.pack, index, entry, user=user))
        return problems

    def _add_kpi(self, source: SourceFile, pack: str, index: int, entry: Any, *, user: bool) -> list[str]:
        path: Path_ = ("kpis", index)
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            return [f"{source.where(path)}: each KPI needs an id"]
        kpi_id = entry["id"]
        merged = _deep_merge(self.raw[kpi_id], entry) if kpi_id in self.raw else {"pack": pack, **entry}
        # Only a user's file may override by id; twice in one file, or in two shipped packs, is a mistake.
        if kpi_id in self.raw and (not user or self.kpis[kpi_id].location.startswith(source.name + ":")):
            return [f"{source.where(path)}: KPI id {kpi_id!r} is defined twice (first at {self.kpis[kpi_id].location})"]
        try:
            kpi = KpiSpec.model_validate({**merged, "location": source.where(path)})
        except ValidationError as exc:
            return _pydantic_problems(source, path, exc)
        self.raw[kpi_id], self.kpis[kpi_id] = merged, kpi
        self.origins[kpi_id] = (source, path)
        return []


def shipped_pack_files() -> list[tuple[str, str]]:
    """(name, text) of every pack that ships inside the package, in a stable order."""
    folder = resources.files("healthdeck.catalog") / "packs"
    return sorted((f"packs/{p.name}", p.read_text("utf-8")) for p in folder.iterdir() if p.name.endswith(".yaml"))


def parse_yaml(text: str, name: str) -> SourceFile:
    """Stage 1: YAML text to data plus a line map; a syntax error names its line."""
    from healthdeck.catalog.yamlfile import parse_yaml as parse  # PyYAML: only when a file is parsed

    return parse(text, name)


def shipped_catalog() -> tuple[Catalog, list[str]]:
    """The shipped packs through stages 1 and 2, and their problems (none but while a pack is edited).

    From the cache when neither the packs nor the code that reads them changed; a catalog with
    problems is never kept.
    """
    key = cache.key(shipped_pack_bytes())
    cached = cache.read(key)
    if isinstance(cached, Catalog):
        return cached, []
    catalog, problems = Catalog(), []
    for name, text in shipped_pack_files():
        problems.extend(catalog.add_source(parse_yaml(text, name), user=False))
    if not problems:
        cache.write(key, catalog)
    return catalog, problems


def shipped_pack_bytes() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every shipped pack: what the cache's key digests."""
    folder = resources.files("healthdeck.catalog") / "packs"
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir() if p.name.endswith(".yaml"))


def _user_source(path: Path) -> SourceFile:
    from healthdeck.catalog.yamlfile import read_catalog_file

    return parse_yaml(read_catalog_file(path), str(path))


def load_catalog(user_files: Sequence[Path] = (), *, extra_checks: Iterable[Any] = ()) -> Catalog:
    """The shipped packs, then the user's files on top (adding KPIs or overriding them by id)."""
    catalog, problems = shipped_catalog()
    for path in user_files:
        try:
            problems.extend(catalog.add_source(_user_source(path), user=True))
        except CatalogError as exc:
            problems.extend(exc.problems)
    for check in extra_checks:
        problems.extend(check(catalog))
    if problems:
        raise CatalogError(problems)
    return catalog
