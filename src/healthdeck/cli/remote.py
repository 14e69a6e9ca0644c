"""Direct or through the server: where a CLI command's work on the store runs.

While `healthdeck serve` holds a store, DuckDB lets no other process open it. A command
then finds the server from the store's address file (api/local.py), and its work (a
function of the store, or an Engine method) runs inside the server, on the same store
with the same code: the command prints exactly what it would have printed directly.
The choice is made here once; commands call `on_store` or cli.engine_access's `engine`.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import orjson

from healthdeck import __version__
from healthdeck.api.local import (
    CALL_PATH,
    PICKLE_TYPE,
    SECRET_HEADER,
    UPLOAD_PATH,
    WHOAMI_PATH,
    Address,
    LocalCall,
    address_path,
    read_address,
)
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    import httpx

    from healthdeck.catalog.loader import Catalog
    from healthdeck.store.connection import Store
    from healthdeck.store.ingest import IngestReport, Reject

T = TypeVar("T")
# The server answers who it is at once; a slower answer is a server too busy to be used.
WHOAMI_TIMEOUT_S = 5.0


def on_store(db: Path | None, job: Callable[[Store], T], *, write: bool = False, create: bool = False) -> T:
    """Run `job(store)` on the store at `db`: opened here, or inside the server that holds it.

    `job` must be a module-level function (or a partial of one): it travels to the server by name.
    """
    server = find_server(db)
    if server is not None:
        return server.call(LocalCall(job, "write" if write else "read"))
    from healthdeck.store.connection import open_store  # DuckDB loads only when a command runs

    with open_store(db, read_only=not write, create=create) as store:
        return job(store)


def each_on_store(db: Path | None, jobs: Sequence[Callable[[Store], T]], *, write: bool = False) -> list[T]:
    """Run `jobs` one after another on the store at `db`: opened here once, or inside its server, where
    each is a call of its own, so that the server's writer serves ingest between two of them."""
    server = find_server(db)
    if server is not None:
        return [server.call(LocalCall(job, "write" if write else "read")) for job in jobs]
    from healthdeck.store.connection import open_store

    with open_store(db, read_only=not write) as store:
        return [job(store) for job in jobs]


def find_server(db: Path | None) -> Server | None:
    """The running server of the store at `db`, if one answers; a dead server's file is removed."""
    from healthdeck.store.connection import resolve_db_path

    store = resolve_db_path(db).resolve()
    path = address_path(store)
    if not path.exists():
        return None
    _check_private(path)
    address = read_address(path)
    if address is None:
        return None
    if not _alive(address.pid):
        path.unlink(missing_ok=True)  # its server was killed without stopping: the file is stale
        return None
    server = Server(address)
    # Not answering: starting, stopping, or the pid now belongs to another process; opening the
    # store directly then either works or says that the store is held.
    return server if server.holds(str(store)) else None


def _check_private(path: Path) -> None:
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise HealthdeckError(
            f"{path} (the address file of a server for this store) is not private to you "
            f"(owner uid {info.st_uid}, mode {info.st_mode & 0o777:o}); healthdeck only trusts its own "
            "user's file, readable by that user alone. Remove it if no server runs."
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class Server:
    """A running server reached through its address file."""

    def __init__(self, address: Address) -> None:
        import httpx  # the web client loads only when a server runs

        self.address = address
        # trust_env=False: a proxy set in the environment must not see the loopback traffic or the secret.
        self.http = httpx.Client(
            base_url=address.url, headers={SECRET_HEADER: address.secret}, timeout=None, trust_env=False
        )

    def holds(self, store: str) -> bool:
        """Whether this server answers, and for the store at `store`."""
        import httpx

        try:
            answer = self.http.get(WHOAMI_PATH, timeout=WHOAMI_TIMEOUT_S)
        except httpx.TransportError:
            return False
        if answer.status_code != 200 or answer.json().get("store") != store:
            return False
        if answer.json().get("version") != __version__:
            raise HealthdeckError(
                f"the server of {store} (pid {self.address.pid}) runs healthdeck {answer.json().get('version')} "
                f"and this is {__version__}; use the same version, or stop the server"
            )
        return True

    def call(self, work: LocalCall) -> Any:
        """Run `work` in the server; its HealthdeckError is raised here, as if it had run here."""
        answer = self._post(CALL_PATH, content=pickle.dumps(work), headers={"Content-Type": PICKLE_TYPE})
        outcome, value = pickle.loads(answer.content)
        if outcome == "error":
            raise value
        return value

    def upload(self, stream: BinaryIO, *, suffix: str) -> str:
        """Stream a file to the server's spool folder; its path there."""
        chunks = iter(partial(stream.read, 1 << 20), b"")
        return str(self._post(UPLOAD_PATH, params={"suffix": suffix}, content=chunks).json()["path"])

    def _post(self, route: str, **request: Any) -> httpx.Response:
        import httpx

        where = f"the healthdeck server of this store ({self.address.url}, pid {self.address.pid})"
        try:
            answer = self.http.post(route, **request)
        except httpx.TransportError as exc:
            raise HealthdeckError(f"lost {where} during the command ({exc}); run it again") from exc
        if answer.status_code != 200:
            raise HealthdeckError(f"{where} failed: {answer.text}")
        return answer


class RemoteEngine:
    """The Engine's methods, evaluated inside the server with this command's catalog."""

    def __init__(self, server: Server, catalog: Catalog) -> None:
        self.server, self.catalog = server, catalog

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):  # copy, pickle and other protocols are not the engine's
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> Any:
            job = partial(engine_method, name=name, args=args, kwargs=kwargs)
            return self.server.call(LocalCall(job, "engine", self.catalog))

        return method


def engine_method(hd: Any, *, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Runs in the server: one Engine method."""
    return getattr(hd, name)(*args, **kwargs)


def ingest_through(
    server: Server, files: list[str], *, kind: str | None, rejects: Path | None, batch_rows: int, shown_db: Path
) -> IngestReport:
    """`healthdeck ingest` inside the server: the files are streamed to it, then ingested there as given.

    The report and the rejects file name each file as the user did (not by its copy in the server).
    """
    job = partial(
        ingest_uploaded,
        uploads=_upload(server, files),
        kind=kind,
        rejects_path=None if rejects is None else rejects.absolute(),
        batch_rows=batch_rows,
    )
    report: IngestReport = server.call(LocalCall(job, "write"))
    if report.rejects_file is not None:  # where the user's own `ingest` would have put it
        written = Path(report.rejects_file)
        report.rejects_file = str(rejects if rejects is not None else shown_db.parent / "rejects" / written.name)
    return report


def _upload(server: Server, files: list[str]) -> list[tuple[str, str]]:
    """(path in the server, name as given) for each file; a file that cannot be opened here gets a path
    that does not exist there, so the server rejects it as the direct command would have."""
    uploads = []
    for i, name in enumerate(files):
        suffix = ".jsonl" if name == "-" else Path(name).suffix
        try:
            stream = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115 - closed below
        except OSError:
            missing = f"healthdeck-missing-{os.getpid()}-{i}{suffix}"  # one per file: they are told apart by it
            uploads.append((os.path.join(tempfile.gettempdir(), missing), name))
            continue
        try:
            uploads.append((server.upload(stream, suffix=suffix), name))
        finally:
            if name != "-":
                stream.close()
    return uploads


def ingest_uploaded(
    store: Store, *, uploads: list[tuple[str, str]], kind: str | None, rejects_path: Path | None, batch_rows: int
) -> IngestReport:
    """Runs in the server, on the writer thread: `healthdeck ingest` of the streamed copies."""
    from healthdeck.store.ingest import default_rejects_path, ingest_files

    names = dict(uploads)
    with tempfile.TemporaryDirectory(prefix="healthdeck-cli-ingest-") as spool:
        written = Path(spool) / "rejects.jsonl"
        try:
            report = ingest_files(store, list(names), kind=kind, rejects_path=written, batch_rows=batch_rows)
        finally:
            for copy in names:
                Path(copy).unlink(missing_ok=True)
        if report.rejects_file is not None:
            target = rejects_path or default_rejects_path(store)
            _append_renamed(written, target, names)
            report.rejects_file = str(target)
    report.first_rejects = [_renamed(r, names) for r in report.first_rejects]
    return report


def _renamed(reject: Reject, names: dict[str, str]) -> Reject:
    name = names.get(reject.source, reject.source)
    return replace(reject, source=name, error=reject.error.replace(reject.source, name))


def _append_renamed(written: Path, target: Path, names: dict[str, str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(written, "rb") as source, open(target, "ab") as sink:
        for line in source:
            entry = orjson.loads(line)
            copy = entry["source"]
            entry["source"] = names.get(copy, copy)
            entry["error"] = entry["error"].replace(copy, entry["source"])
            sink.write(orjson.dumps(entry, default=str) + b"\n")
