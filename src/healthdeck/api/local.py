"""The running server's address file, and the calls the local CLI makes through it.

`healthdeck serve` writes `<store>.serve.json` beside the store once it listens (host, port,
pid, the store's path and a secret drawn for this run) and removes it when it stops. A CLI
command on that store reads it and runs its work inside the server, which holds the store.

Trust: the file is readable by the server's user only (0600), and so is, in practice, the
store itself; whoever can read the file can already read every record in the store and run
code as that user. The secret therefore admits only that user's own CLI, and the calls it
carries (pickled Python, the same healthdeck version on both ends) grant nothing more.
Nothing here imports the web stack: the CLI reads this module on every command.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from healthdeck import __version__

ADDRESS_SUFFIX = ".serve.json"
SECRET_HEADER = "X-Healthdeck-Local"
CALL_PATH = "/v1/local/call"
UPLOAD_PATH = "/v1/local/upload"
WHOAMI_PATH = "/v1/local/whoami"
PICKLE_TYPE = "application/x-healthdeck-pickle"

# read: a read cursor; write: the single writer thread; engine: an Engine over a read cursor.
Mode = Literal["read", "write", "engine"]


@dataclass(frozen=True)
class Address:
    """Where the server of one store listens, and the secret its local CLI presents."""

    host: str
    port: int
    pid: int
    store: str
    secret: str
    version: str

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # a wildcard is reached locally
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


@dataclass(frozen=True)
class LocalCall:
    """One piece of a CLI command's work, run by the server on the store it holds."""

    job: Callable[..., Any]
    mode: Mode = "read"
    catalog: Any = None  # the CLI's own catalog (its --catalog files), for mode "engine"


def address_path(db: Path) -> Path:
    """The address file of the store at `db`: beside it, named after it."""
    resolved = db.resolve()
    return resolved.with_name(resolved.name + ADDRESS_SUFFIX)


def new_address(db: Path, *, host: str, port: int) -> Address:
    """The address of a server starting in this process, with a secret of its own."""
    return Address(
        host=host,
        port=port,
        pid=os.getpid(),
        store=str(db.resolve()),
        secret=secrets.token_urlsafe(32),
        version=__version__,
    )


def write_address(address: Address) -> None:
    """Write the address file, readable by this user only, in one step (a reader sees all of it or none)."""
    path = address_path(Path(address.store))
    draft = path.with_name(f"{path.name}.{address.pid}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(address), f)
    os.replace(draft, path)


def remove_address(address: Address) -> None:
    """Remove the address file, if it is still this run's."""
    path = address_path(Path(address.store))
    if read_address(path) == address:
        path.unlink(missing_ok=True)


def read_address(path: Path) -> Address | None:
    """The address in `path`, or None when there is no (complete) file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Address(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None
