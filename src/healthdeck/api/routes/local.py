"""The local CLI's own routes: the work of a CLI command, run on the store the server holds.

Reached only with the secret of the address file (see api/local.py for why that is safe),
whatever the token settings, and left out of the OpenAPI schema: they are not a public API.
"""

from __future__ import annotations

import asyncio
import hmac
import pickle
import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from healthdeck.api.errors import ApiError
from healthdeck.api.local import CALL_PATH, PICKLE_TYPE, SECRET_HEADER, UPLOAD_PATH, WHOAMI_PATH, Address, LocalCall
from healthdeck.api.owner import StoreOwner
from healthdeck.errors import HealthdeckError

router = APIRouter(include_in_schema=False)


def install(app: FastAPI, address: Address) -> None:
    """Answer the local CLI of this run (the one that can read `address`'s file)."""
    app.state.local_address = address
    app.include_router(router)


def _check_secret(request: Request) -> Address:
    address: Address = request.app.state.local_address
    presented = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(presented.encode(), address.secret.encode()):
        raise ApiError(401, "this route is for the healthdeck CLI on this machine (the store's address file)")
    return address


@router.get(WHOAMI_PATH)
def whoami(request: Request) -> dict[str, Any]:
    """Which store this server holds, so the CLI knows the address file is not stale."""
    address = _check_secret(request)
    return {"store": address.store, "pid": address.pid, "version": address.version}


@router.post(UPLOAD_PATH)
async def upload(request: Request, suffix: str = ".jsonl") -> dict[str, str]:
    """Keep a file streamed by the CLI (an `ingest` input) in the spool folder; answers its path there."""
    _check_secret(request)
    if not suffix.startswith(".") or "/" in suffix or "\\" in suffix:
        raise ApiError(400, f"suffix {suffix!r} is not a file name ending")
    path = request.app.state.spool_dir / f"cli-{uuid.uuid4().hex}{suffix}"
    with open(path, "wb") as target:
        async for chunk in request.stream():
            target.write(chunk)
    return {"path": str(path)}


@router.post(CALL_PATH)
async def call(request: Request) -> Response:
    """Run one LocalCall and answer its pickled outcome: ("ok", value) or ("error", HealthdeckError)."""
    _check_secret(request)
    work: LocalCall = pickle.loads(await request.body())
    owner: StoreOwner = request.app.state.owner
    try:
        if work.mode == "write":
            outcome: tuple[str, Any] = ("ok", await owner.write(work.job))
        else:
            outcome = ("ok", await asyncio.to_thread(partial(_read, owner, work)))
    except HealthdeckError as exc:  # the CLI prints it as it would have directly, with its exit code
        outcome = ("error", exc)
    return Response(pickle.dumps(outcome), media_type=PICKLE_TYPE)


def _read(owner: StoreOwner, work: LocalCall) -> Any:
    if work.mode == "engine":
        with owner.engine(work.catalog) as hd:
            return work.job(hd)
    with owner.reader() as store:
        return work.job(store)
