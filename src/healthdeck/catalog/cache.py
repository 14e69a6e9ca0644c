"""The shipped packs, parsed and validated once, kept in the user's cache folder.

Parsing the shipped YAML with the line of every value and validating each KPI is most of what
loading the catalog costs, and its result changes only when the packs or the code that reads them
change. So the validated packs are kept in one file, under a key that digests the pack files'
bytes, the catalog package's source and the healthdeck, Python and pydantic versions: any change
discards it. The folder is the user's own ($HEALTHDECK_CACHE_DIR, else $XDG_CACHE_HOME/healthdeck,
else ~/.cache/healthdeck), never the store's, which others may write to: the file is a pickle, so
one that belongs to another user is not read. A file that cannot be read or does not hold a
catalog is ignored and rebuilt; one that cannot be written is simply not kept.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import pydantic_core
from pydantic.version import VERSION as PYDANTIC_VERSION

from healthdeck import __version__

CACHE_DIR_ENV = "HEALTHDECK_CACHE_DIR"
CACHE_FILE = "shipped-catalog.pickle"


def cache_file() -> Path | None:
    """Where the cached catalog lives, or None when there is no home folder to keep it in."""
    if configured := os.environ.get(CACHE_DIR_ENV):
        return Path(configured) / CACHE_FILE
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "healthdeck" / CACHE_FILE
    try:
        return Path.home() / ".cache" / "healthdeck" / CACHE_FILE
    except RuntimeError:  # no home folder (a service account without one): nothing is kept
        return None


def key(packs: Iterable[tuple[str, bytes]]) -> str:
    """A digest of everything the validated packs depend on: their bytes, this code and the versions."""
    digest = hashlib.sha256()
    versions = (__version__, sys.version, PYDANTIC_VERSION, pydantic_core.__version__)
    parts = [("versions", "\n".join(versions).encode())]
    parts += [(path.name, path.read_bytes()) for path in sorted(Path(__file__).parent.glob("*.py"))]
    for name, data in [*parts, *packs]:  # each part framed by its name and length: no two inputs digest alike
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def read(stamp: str) -> object | None:
    """The value kept under `stamp`, or None when there is none (or it cannot be trusted or read)."""
    path = cache_file()
    if path is None:
        return None
    try:
        with path.open("rb") as file:
            if not _ours(file.fileno()) or file.readline() != stamp.encode() + b"\n":
                return None
            return _unpickle(file)
    except Exception:  # a damaged pickle can fail in almost any way (EOF, bad opcode, missing class): rebuild
        return None


def _unpickle(file: BinaryIO) -> object:
    """The pickled value, read with the garbage collector paused."""
    # Otherwise it walks the growing graph again and again while its objects are created: a third of the load.
    running = gc.isenabled()
    gc.disable()
    try:
        return pickle.load(file)
    finally:
        if running:
            gc.enable()


def _ours(fd: int) -> bool:
    """Whether this user owns the file: unpickling runs code, so another user's file is never read."""
    return not hasattr(os, "getuid") or os.fstat(fd).st_uid == os.getuid()


def write(stamp: str, value: object) -> None:
    """Keep `value` under `stamp`, atomically (a reader never sees half a file); failures are ignored."""
    path = cache_file()
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(stamp.encode() + b"\n")
            pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
