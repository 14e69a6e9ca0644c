"""The settings of one running server, declared once with their defaults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from healthdeck.errors import HealthdeckError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
# Measured after decompression: what the server holds is what counts, not what travelled.
DEFAULT_MAX_BODY_MB = 64
# Ingest batches admitted at once (being received, waiting for the writer, or being written).
DEFAULT_INGEST_QUEUE = 16
RETRY_AFTER_SECONDS = 1
# On SIGTERM, requests in flight get this long to finish; a client stalled mid-upload cannot hold the store.
SHUTDOWN_GRACE_SECONDS = 30
# /metrics evaluates the scored KPIs at most this often; scrapes in between read the last result.
METRICS_MAX_AGE_SECONDS = 15.0
# /health (open to anyone) evaluates the morning panels at most this often.
HEALTH_MAX_AGE_SECONDS = 5.0
# Seed 003 §2.7: the dashboard's metrics are cached 5 s.
DASHBOARD_MAX_AGE_SECONDS = 5.0
# A view of seed 004 as of now is kept this long per view, filters and scope: an open page's refreshes,
# and its readers, share one set of queries (a month of requests takes seconds to read).
VIEW_MAX_AGE_SECONDS = 15.0
VIEWS_KEPT = 64
# After each scheduled evaluation, at most this many streamed tenants are evaluated for their live
# streams; with more, they take turns (the least recently evaluated first) on the following ones.
STREAMED_TENANTS_PER_EVALUATION = 8


@dataclass(frozen=True)
class ServeSettings:
    """What `healthdeck serve` was started with."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    auth: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_MB << 20
    ingest_queue: int = DEFAULT_INGEST_QUEUE
    catalog_files: list[Path] = field(default_factory=list)
    # None: no scheduled evaluation (and no history kept).
    evaluate_every: timedelta | None = timedelta(minutes=1)
    history_retention: timedelta = timedelta(days=30)
    # How often the store's retention is applied (store/retention.py); None: never.
    expire_every: timedelta | None = timedelta(hours=1)

    def check(self) -> None:
        """Refuse what would expose the store: no authentication beyond this machine."""
        if not self.auth and not is_loopback(self.host):
            raise HealthdeckError(
                f"--no-auth serves only on this machine; --host {self.host} is not a loopback address. "
                "Drop --no-auth (and use tokens) or serve on 127.0.0.1."
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
