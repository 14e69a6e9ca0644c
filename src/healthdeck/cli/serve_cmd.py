"""`healthdeck serve`: one process owns the store, ingests over HTTP and answers the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthdeck.catalog.durations import format_duration, parse_duration
from healthdeck.cli.console import err
from healthdeck.cli.options import CatalogOption, DbOption
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    from healthdeck.api.demo_feed import DemoFeed
    from healthdeck.api.settings import ServeSettings


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8787,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No tokens: anyone who reaches the port may do anything (local demos).")
    ] = False,
    max_body_mb: Annotated[
        int, typer.Option("--max-body-mb", min=1, help="Largest ingest body, in MiB after decompression.")
    ] = 64,
    ingest_queue: Annotated[
        int, typer.Option("--ingest-queue", min=1, help="Ingest batches admitted at once; more get 429.")
    ] = 16,
    evaluate_every: Annotated[
        str,
        typer.Option("--evaluate-every", help="Evaluate the scored KPIs and keep the result this often; off: never."),
    ] = "1m",
    history_retention: Annotated[
        str, typer.Option("--history-retention", help="Keep evaluations this long, e.g. 30d.")
    ] = "30d",
    expire_every: Annotated[
        str,
        typer.Option("--expire-every", help="Apply the store's retention (`store retention`) this often; off: never."),
    ] = "1h",
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Simulate the demo SaaS into an empty store, then keep it going live through HTTP ingest "
            "(this machine only; prints a viewer token).",
        ),
    ] = False,
    demo_interval: Annotated[
        str, typer.Option("--demo-interval", help="With --demo: send the events of the time passed this often.")
    ] = "5s",
    demo_tenants: Annotated[int, typer.Option("--demo-tenants", min=1, help="With --demo: tenants to simulate.")] = 500,
    demo_days: Annotated[int, typer.Option("--demo-days", min=1, help="With --demo: days to simulate up to now.")] = 30,
    demo_seed: Annotated[int, typer.Option("--demo-seed", help="With --demo: random seed of the simulation.")] = 7,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Serve the store over HTTP: ingest, health, KPIs, Prometheus metrics (the only writer while it runs)."""
    # The web stack is imported here so that every other command starts without it.
    from healthdeck.api.server import serve as run
    from healthdeck.api.settings import ServeSettings, is_loopback

    settings = ServeSettings(
        host=host,
        port=port,
        auth=not no_auth,
        max_body_bytes=max_body_mb << 20,
        ingest_queue=ingest_queue,
        catalog_files=catalog or [],
        evaluate_every=None if evaluate_every == "off" else _duration("--evaluate-every", evaluate_every),
        history_retention=_duration("--history-retention", history_retention),
        expire_every=None if expire_every == "off" else _duration("--expire-every", expire_every),
    )
    feed = None
    if demo:
        if not is_loopback(host):
            raise HealthdeckError(
                f"--demo serves only on this machine; --host {host} is not a loopback address. "
                "Drop --host (127.0.0.1 is the default) or serve without --demo."
            )
        every = _duration("--demo-interval", demo_interval)
        feed = _demo_feed(db, settings, every=every, tenants=demo_tenants, days=demo_days, seed=demo_seed)
    run(db, settings, announce=lambda line: err.print(line, markup=False), demo=feed)


def _demo_feed(
    db: Path | None, settings: ServeSettings, *, every: timedelta, tenants: int, days: int, seed: int
) -> DemoFeed:
    """Prepare the store for `--demo` and the live feed that keeps it going once the server listens."""
    from healthdeck.api.demo_feed import DemoFeed
    from healthdeck.cli.demo_cmd import prepare_live_demo
    from healthdeck.sim.live import LiveSimulation

    prepared = prepare_live_demo(db, tenants=tenants, days=days, seed=seed, quiet=False)
    url = f"http://{settings.host}:{settings.port}"
    return DemoFeed(
        live=LiveSimulation(prepared.cfg),
        token=prepared.feed_token,
        every_s=every.total_seconds(),
        cursor_us=prepared.resume_us,
        intro=demo_intro(url, prepared.viewer_token, every=every),
    )


def demo_intro(url: str, token: str, *, every: timedelta) -> list[str]:
    """What `serve --demo` says once it listens: what runs, the token, and what to try."""
    return [
        f"demo: the simulated SaaS goes on live: every {format_duration(every)} the events of the time "
        f"that passed are POSTed to {url}/v1/events (scenario demo, a 12-minute API incident every 6 hours)",
        "demo: serving on this machine only (loopback); Ctrl-C stops the feed and the server",
        f"demo token (viewer: reads every route, may not ingest or manage tokens): {token}",
        f"the console, signed in as that viewer: {url}/ui/login#token={token}",
        "try:",
        f"  curl -s {url}/health | jq",
        f"  curl -s -H 'Authorization: Bearer {token}' {url}/v1/health | jq .score",
        "  healthdeck health        # in another terminal: the CLI goes through this server",
        f"  open {url}/docs           # the API, interactive",
    ]


def _duration(option: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"{option}: {exc}") from exc
