"""`healthdeck tokens`: create, list and revoke the bearer tokens of `healthdeck serve`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from healthdeck.api.tokens import Role
from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.options import DbOption, Output

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
    from healthdeck.api.tokens import create_token  # DuckDB loads only when a command runs
    from healthdeck.store.connection import open_store

    with open_store(db, create=True) as store:  # the first token comes before the first `serve`
        token, text = create_token(store.con, role=role, project=project, name=name)
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
    from healthdeck.api.tokens import list_tokens
    from healthdeck.store.connection import open_store

    with open_store(db, read_only=True) as store:
        tokens = list_tokens(store.con)
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
    from healthdeck.api.tokens import revoke_token
    from healthdeck.store.connection import open_store

    with open_store(db) as store:
        token = revoke_token(store.con, token_id)
    out.print(f"revoked {token.token_id}", markup=False)
