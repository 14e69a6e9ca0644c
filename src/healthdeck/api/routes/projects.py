"""`GET /v1/projects/{project}`: one tenant's records; `_all` is every tenant, for operators.

The first tenant-scoped route: a token limited to a project sees that project and
nothing else, and any other project answers 404 whether it exists or not.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from healthdeck.api.auth import Caller, check_project, needs, no_such_project
from healthdeck.api.errors import documented
from healthdeck.api.owner import StoreOwner
from healthdeck.api.tokens import ALL_PROJECTS, Role
from healthdeck.store.connection import Store
from healthdeck.store.schema import KINDS

router = APIRouter(tags=["projects"], responses=documented(400, 401, 403, 404))
TENANT_TABLES = [name for name, kind in KINDS.items() if "tenant_id" in kind.columns]


@router.get("/v1/projects/{project}")
def project_records(
    request: Request, project: str, caller: Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
) -> dict[str, Any]:
    """A tenant's name and tier and how many records of each kind it has."""
    check_project(caller, project)
    owner: StoreOwner = request.app.state.owner
    with owner.reader() as store:
        if project == ALL_PROJECTS:
            return {"project": project, "records": {name: store.count(name) for name in TENANT_TABLES}}
        tenant = store.con.execute("SELECT name, tier FROM tenants WHERE tenant_id = ?", [project]).fetchone()
        if tenant is None:
            raise no_such_project(project)
        return {"project": project, "name": tenant[0], "tier": tenant[1], "records": _counts(store, project)}


def _counts(store: Store, tenant: str) -> dict[str, int]:
    union = " UNION ALL ".join(
        f"SELECT '{name}' AS kind, count(*) AS n FROM \"{name}\" WHERE tenant_id = $tenant" for name in TENANT_TABLES
    )
    return {kind: int(n) for kind, n in store.con.execute(union, {"tenant": tenant}).fetchall()}
