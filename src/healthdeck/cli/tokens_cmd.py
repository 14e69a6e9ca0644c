"""`healthdeck tokens`: create, list and revoke the bearer tokens of `healthdeck serve`."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from healthdeck.api.tokens import Role
from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.options import DbOption, Output
from healthdeck.cli.remote import on_store

if TYPE_CHECKING:
    from healthdeck.api.tokens import Token
    from healthdeck.store.connection import Store

tokens_app = typer.Typer(
    help="Bearer tokens for `healthdeck serve`: viewer reads, operator also ingests, admin also manages tokens.",
    no_args_is_help=True,
)


@tokens_app.command("create")
def create(
    role: Annotated[Role, typer.Option("--role", help="viewer, operator or admin.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Limit the token to this tenant id (default: every tenant).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label to recognise the token by.")] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Create a token and print it once; only its hash is kept, so copy it now."""
    # The first token comes before the first `serve`: a new store is made; a running server makes it itself.
    token, text = on_store(db, partial(_create, role=role, project=project, name=name), write=True, create=True)
    if output is Output.json:
        print_json({"token": text, **token.as_json()})
        return
    out.print(text, markup=False)
    err.print(f"token {token.token_id} ({token.role.value}); shown once, only its hash is stored")


@tokens_app.command("list")
def list_(
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Every token with its id, role, project and dates (never the secret)."""
    tokens = on_store(db, _list)
    if output is Output.json:
        print_json([t.as_json() for t in tokens])
        return
    table = Table("id", "name", "role", "project", "created", "revoked")
    for t in tokens:
        revoked = f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else ""
        table.add_row(
            t.token_id, t.name or "", t.role.value, t.project or "(all)", f"{t.created_at:%Y-%m-%d %H:%M}", revoked
        )
    out.print(table)


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, as `tokens list` shows it.")],
    db: DbOption = None,
) -> None:
    """Revoke a token: every request with it is refused from now on."""
    token = on_store(db, partial(_revoke, token_id=token_id), write=True)
    out.print(f"revoked {token.token_id}", markup=False)


# The work on the store, done here or inside a running server (cli/remote.py); DuckDB loads only then.
def _create(store: Store, *, role: Role, project: str | None, name: str | None) -> tuple[Token, str]:
    from healthdeck.api.tokens import create_token

    return create_token(store.con, role=role, project=project, name=name)


def _list(store: Store) -> list[Token]:
    from healthdeck.api.tokens import list_tokens

    return list_tokens(store.con)


def _revoke(store: Store, *, token_id: str) -> Token:
    from healthdeck.api.tokens import revoke_token

    return revoke_token(store.con, token_id)
