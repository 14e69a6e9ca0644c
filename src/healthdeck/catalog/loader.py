"""Loading the catalog in named stages: YAML with line numbers -> typed models -> cross checks.

Every problem is collected with its file and line and reported together, so a user
fixes a whole file in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.reader import ReaderError

from healthdeck.catalog.models import KpiSpec, PackSpec
from healthdeck.errors import HealthdeckError

Path_ = tuple[str | int, ...]
# libyaml's parser when PyYAML was built with it (the wheels are): several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Bounds on one catalog file, so a hostile or broken file fails fast instead of eating the machine:
# its size, the values it holds once YAML aliases are expanded (a "billion laughs" file is a few
# hundred bytes that expand to 10^9 values) and how deep it nests. The largest shipped pack is far below.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 100_000
MAX_DEPTH = 50


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


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _walk(value, (*path, str(key.value)), lines)
            lines[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a document whose aliases expand past MAX_VALUES, that contains itself, or nests past MAX_DEPTH.

    Aliases share one node, so the composed document stays small; its expanded size is counted
    once per node, before anything walks or copies it.
    """
    _Expansion(name).measure(root, depth=1)


class _Expansion:
    """The expanded size and height of each collection node, counted once however often it is aliased."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.known: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels)
        self.open: set[int] = set()  # the nodes being measured: meeting one again means a cycle

    def measure(self, node: yaml.Node, *, depth: int) -> tuple[int, int]:
        if isinstance(node, yaml.ScalarNode):
            return 1, 1
        key = id(node)
        if key in self.open:
            raise CatalogError([f"{self.name}:{_line(node)}: a YAML alias refers to a value that contains it"])
        if key not in self.known:
            self.known[key] = self._measure_children(node, depth)
        values, levels = self.known[key]
        if depth + levels - 1 > MAX_DEPTH:
            raise self._too_deep(node)
        return values, levels

    def _measure_children(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:  # checked before descending, so the recursion stays shallow
            raise self._too_deep(node)
        self.open.add(id(node))
        values, levels = 1, 1
        for child in _children(node):
            child_values, child_levels = self.measure(child, depth=depth + 1)
            values, levels = values + child_values, max(levels, child_levels + 1)
        self.open.discard(id(node))
        if values > MAX_VALUES:
            expands = f"YAML aliases here expand to over {MAX_VALUES:,} values; write the values out"
            raise CatalogError([f"{self.name}:{_line(node)}: {expands}"])
        return values, levels

    def _too_deep(self, node: yaml.Node) -> CatalogError:
        return CatalogError([f"{self.name}:{_line(node)}: values nest more than {MAX_DEPTH} levels deep"])


def _yaml_problem(exc: yaml.YAMLError, text: str, name: str) -> str:
    """`file:line: message` for any YAML error (a reader error has a character position, not a mark)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        return f"{name}:{line}: YAML syntax error: {exc.problem}"
    if isinstance(exc, ReaderError):
        line = text[: exc.position].count("\n") + 1
        return f"{name}:{line}: YAML cannot read character #x{exc.character:04x}: {exc.reason}"
    return f"{name}:1: YAML error: {exc}"


def _top_level_problem(data: Any, name: str) -> str | None:
    if isinstance(data, dict):
        return None
    found = "nothing (the file is empty)" if data is None else f"a {_yaml_kind(data)}"
    return f"{name}:1: the top level must be a mapping with a `kpis:` list; found {found}"


def _yaml_kind(data: Any) -> str:
    return "list" if isinstance(data, list) else f"single value ({data!r:.40})"


def parse_yaml(text: str, name: str) -> SourceFile:
    """Stage 1: YAML text to data plus a line map; a syntax error names its line."""
    try:
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                check_expansion(node, name)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise CatalogError([_yaml_problem(exc, text, name)]) from exc
    if (problem := _top_level_problem(data, name)) is not None:
        raise CatalogError([problem])
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return SourceFile(name, data, lines)


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


def _read(path: Path) -> str:
    """A catalog file's text: at most MAX_FILE_BYTES, UTF-8 (a byte-order mark is allowed)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # never more, even from a device or a pipe
    except OSError as exc:
        raise CatalogError([f"{path}: cannot read: {exc.strerror}"]) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise CatalogError([f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; split it into several catalog files"])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        raise CatalogError([f"{path}:{line}: not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8"]) from exc


def load_catalog(user_files: Sequence[Path] = (), *, extra_checks: Iterable[Any] = ()) -> Catalog:
    """The shipped packs, then the user's files on top (adding KPIs or overriding them by id)."""
    catalog, problems = Catalog(), []
    for name, text in shipped_pack_files():
        problems.extend(catalog.add_source(parse_yaml(text, name), user=False))
    for path in user_files:
        try:
            problems.extend(catalog.add_source(parse_yaml(_read(path), str(path)), user=True))
        except CatalogError as exc:
            problems.extend(exc.problems)
    for check in extra_checks:
        problems.extend(check(catalog))
    if problems:
        raise CatalogError(problems)
    return catalog
