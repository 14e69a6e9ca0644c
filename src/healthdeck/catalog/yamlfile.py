"""Stage 1 of loading the catalog: YAML text to data plus the line of every value in it.

Kept apart from the loader so PyYAML is imported only when a file must be parsed: a run whose
shipped packs come from the cache and that has no catalog file of its own never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.reader import ReaderError

from healthdeck.catalog.loader import CatalogError, Path_, SourceFile

# libyaml's parser when PyYAML was built with it (the wheels are): several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Bounds on one catalog file, so a hostile or broken file fails fast instead of eating the machine:
# its size, the values it holds once YAML aliases are expanded (a "billion laughs" file is a few
# hundred bytes that expand to 10^9 values) and how deep it nests. The largest shipped pack is far below.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 100_000
MAX_DEPTH = 50


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


def read_catalog_file(path: Path) -> str:
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
