"""The kinds of event healthdeck stores, declared once.

Each `Kind` drives the DuckDB table, the ingest validation, the README's
schema table and the simulator's column layout, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal["VARCHAR", "TIMESTAMPTZ", "DOUBLE", "BIGINT", "INTEGER", "BOOLEAN", "JSON"]

PLAN_TIERS = ("FREE", "STARTER", "PRO", "BUSINESS", "ENTERPRISE")
LIFECYCLE_TIERS = ("COLD", "WARM", "HOT", "PERSISTENT")
PRIORITIES = ("P1", "P2", "P3", "P4")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Field:
    """One column of a kind: its type and the rules a value must meet."""

    name: str
    type: ColumnType
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    # Scheduled values (a plan change effective next month) may lie in the future.
    future_ok: bool = False
    # An id (a key or a reference to one): never empty, blank or padded with spaces, because
    # "" would merge every record without an id and " t1" would be another tenant than "t1".
    identifier: bool = False
    description: str = ""


@dataclass(frozen=True)
class Kind:
    """A kind of record: a table in the store and a schema for ingest."""

    name: str
    description: str
    fields: tuple[Field, ...]
    key: str
    example: Mapping[str, Any]
    # An entity (a tenant, a ticket) is re-sent when it changes: the newer
    # record replaces the stored one. An event is immutable: a re-sent key is a duplicate.
    entity: bool = False
    # Extra required fields, chosen by the value of a discriminator field.
    required_when: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def time_field(self) -> str:
        """The field that places a record in time: its required timestamp (`ts`, `timestamp`, `created_at`…)."""
        return next(f.name for f in self.fields if f.type == "TIMESTAMPTZ" and f.required)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _event_id() -> Field:
    return Field(
        "event_id",
        "VARCHAR",
        identifier=True,
        description="unique id; when absent, a hash of the record is used so re-sends deduplicate",
    )


def _ts(name: str = "ts", *, required: bool = True, future_ok: bool = False) -> Field:
    return Field(name, "TIMESTAMPTZ", required=required, future_ok=future_ok)


def _tenant(required: bool = True) -> Field:
    return Field("tenant_id", "VARCHAR", required=required, identifier=True)


TENANTS = Kind(
    name="tenants",
    description="one record per customer organisation; re-send it to update it",
    key="tenant_id",
    entity=True,
    fields=(
        _tenant(),
        Field("name", "VARCHAR", required=True),
        Field("tier", "VARCHAR", required=True, choices=PLAN_TIERS),
        Field("plan", "VARCHAR", required=True),
        _ts("created_at"),
        Field("enterprise", "BOOLEAN", required=True),
    ),
    example={
        "tenant_id": "t-0042",
        "name": "Acme Analytics",
        "tier": "PRO",
        "plan": "pro-monthly",
        "created_at": "2026-10-01T09:30:00Z",
        "enterprise": False,
    },
)

USERS = Kind(
    name="users",
    description="one record per user account of a tenant (team member)",
    key="user_id",
    entity=True,
    fields=(
        Field("user_id", "VARCHAR", required=True, identifier=True),
        _tenant(),
        _ts("signup_at"),
        _ts("removed_at", required=False),
    ),
    example={"user_id": "u-77", "tenant_id": "t-0042", "signup_at": "2026-10-01T09:31:00Z"},
)

REQUESTS = Kind(
    name="requests",
    description="one API request served",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        _tenant(),
        Field("endpoint", "VARCHAR", required=True),
        Field("method", "VARCHAR", required=True, choices=HTTP_METHODS),
        Field("status", "INTEGER", required=True, minimum=100, maximum=599),
        Field("latency_ms", "DOUBLE", required=True, minimum=0),
        Field("consumer", "VARCHAR"),
        Field("api_key", "VARCHAR"),
        Field("api_version", "VARCHAR"),
        Field("deprecated", "BOOLEAN"),
        Field("request_bytes", "BIGINT", minimum=0),
        Field("response_bytes", "BIGINT", minimum=0),
        Field("tier", "VARCHAR", choices=PLAN_TIERS),
    ),
    example={
        "event_id": "req-000001",
        "ts": "2026-11-25T10:00:00.120Z",
        "tenant_id": "t-0042",
        "endpoint": "/v1/train",
        "method": "POST",
        "status": 200,
        "latency_ms": 48.5,
        "api_version": "v1",
        "tier": "PRO",
    },
)

ACTIVITY = Kind(
    name="activity",
    description="one product action by a user (feature use, training run, login)",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        _tenant(),
        Field("user_id", "VARCHAR", required=True, identifier=True),
        Field("event", "VARCHAR", required=True, description="feature or action name"),
        Field("properties", "JSON"),
    ),
    example={
        "event_id": "act-9",
        "ts": "2026-11-25T10:02:00Z",
        "tenant_id": "t-0042",
        "user_id": "u-77",
        "event": "training_job_completed",
        "properties": {"model": "small"},
    },
)

SUBSCRIPTIONS = Kind(
    name="subscriptions",
    description="a subscription's new state from ts on (MRR movements are derived from these)",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        _tenant(),
        Field("subscription_id", "VARCHAR", required=True, identifier=True),
        Field("plan", "VARCHAR", required=True),
        Field("tier", "VARCHAR", required=True, choices=PLAN_TIERS),
        Field("interval", "VARCHAR", required=True, choices=("month", "quarter", "year")),
        Field("amount", "DOUBLE", required=True, minimum=0, description="price per interval"),
        Field("currency", "VARCHAR", required=True),
        Field("quantity", "INTEGER", minimum=1, description="seats; 1 when absent"),
        Field("discount_pct", "DOUBLE", minimum=0, maximum=100),
        Field(
            "discount_duration",
            "VARCHAR",
            choices=("forever", "once", "repeating"),
            description="how long discount_pct lasts (Stripe's coupon durations); forever when absent",
        ),
        Field(
            "status",
            "VARCHAR",
            required=True,
            choices=("trialing", "active", "past_due", "canceled", "unpaid"),
        ),
    ),
    example={
        "event_id": "sub-3-1",
        "ts": "2026-11-01T00:00:00Z",
        "tenant_id": "t-0042",
        "subscription_id": "s-3",
        "plan": "pro-monthly",
        "tier": "PRO",
        "interval": "month",
        "amount": 99.0,
        "currency": "USD",
        "quantity": 1,
        "discount_pct": 0,
        "status": "active",
    },
)

PAYMENTS = Kind(
    name="payments",
    description="one payment attempt",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        _tenant(),
        Field("amount", "DOUBLE", required=True, minimum=0),
        Field("currency", "VARCHAR", required=True),
        Field("status", "VARCHAR", required=True, choices=("succeeded", "failed")),
    ),
    example={
        "event_id": "pay-1",
        "ts": "2026-11-01T00:05:00Z",
        "tenant_id": "t-0042",
        "amount": 99.0,
        "currency": "USD",
        "status": "succeeded",
    },
)

TICKETS = Kind(
    name="tickets",
    description="a support ticket; re-send it as it is answered and resolved",
    key="ticket_id",
    entity=True,
    fields=(
        Field("ticket_id", "VARCHAR", required=True, identifier=True),
        _tenant(),
        Field("priority", "VARCHAR", required=True, choices=PRIORITIES),
        _ts("opened_at"),
        _ts("first_response_at", required=False),
        _ts("resolved_at", required=False),
        Field("status", "VARCHAR", required=True, choices=("open", "pending", "resolved", "closed")),
    ),
    example={
        "ticket_id": "T-100",
        "tenant_id": "t-0042",
        "priority": "P2",
        "opened_at": "2026-11-24T08:00:00Z",
        "first_response_at": "2026-11-24T09:10:00Z",
        "status": "pending",
    },
)

TIER_EVENT_TYPES = (
    "tier_transition",
    "limit_hit",
    "scale_to_zero",
    "cold_start",
    "plan_change",
    "tier_ceiling_hit",
    "circuit_breaker_event",
    "cache_efficiency_alert",
)

TIER_EVENTS = Kind(
    name="tier_events",
    description="the tier event log, exactly the JSON Lines schema of a tiered service",
    key="event_id",
    fields=(
        _event_id(),
        _ts("timestamp"),
        Field("event_type", "VARCHAR", required=True, choices=TIER_EVENT_TYPES),
        Field("project_id", "VARCHAR", required=True, identifier=True),
        _tenant(),
        Field("tier", "VARCHAR", choices=PLAN_TIERS, description="the tenant's plan tier"),
        Field("source_tier", "VARCHAR", choices=LIFECYCLE_TIERS),
        Field("target_tier", "VARCHAR", choices=LIFECYCLE_TIERS),
        Field(
            "reason",
            "VARCHAR",
            description="automatic_promotion, automatic_demotion, manual_upgrade, "
            "manual_downgrade, scale_to_zero, idle_timeout, manual, cost_optimization",
        ),
        Field("trigger_conditions", "JSON"),
        Field("metadata", "JSON"),
        Field(
            "limit_type",
            "VARCHAR",
            choices=("max_pool_size", "max_concurrent", "query_timeout", "connection_timeout"),
        ),
        Field("action", "VARCHAR", choices=("queued", "rejected", "throttled")),
        Field("queue_depth", "INTEGER", minimum=0),
        Field("rejection_count", "INTEGER", minimum=0),
        Field("idle_duration_sec", "DOUBLE", minimum=0),
        _ts("last_query_timestamp", required=False),
        Field("cache_level", "VARCHAR", choices=("L1_miss", "L2_hit", "L3_hit")),
        Field("startup_duration_ms", "DOUBLE", minimum=0),
        Field("first_query_latency_ms", "DOUBLE", minimum=0),
        Field("from_tier", "VARCHAR", choices=PLAN_TIERS),
        Field("to_tier", "VARCHAR", choices=PLAN_TIERS),
        Field(
            "change_type",
            "VARCHAR",
            choices=("upgrade", "downgrade", "trial_conversion", "cancellation"),
        ),
        _ts("effective_timestamp", required=False, future_ok=True),
        Field(
            "resource_type",
            "VARCHAR",
            choices=("connections", "query_rate", "storage", "compute_time"),
        ),
        Field("hit_count_24h", "INTEGER", minimum=0),
        Field("upgrade_suggested", "BOOLEAN"),
        Field("database_type", "VARCHAR"),
        Field("state", "VARCHAR", choices=("closed", "half_open", "open")),
        Field("error_threshold", "DOUBLE", minimum=0),
        Field("volume", "BIGINT", minimum=0),
        Field("hit_rate", "DOUBLE", minimum=0, maximum=1),
        Field("expected_rate", "DOUBLE", minimum=0, maximum=1),
        Field("deviation", "DOUBLE"),
    ),
    required_when={
        "event_type": {
            "tier_transition": ("source_tier", "target_tier", "reason"),
            "limit_hit": ("limit_type", "action", "queue_depth", "rejection_count"),
            "scale_to_zero": ("reason", "idle_duration_sec", "last_query_timestamp"),
            "cold_start": ("source_tier", "cache_level", "startup_duration_ms", "first_query_latency_ms"),
            "plan_change": ("from_tier", "to_tier", "change_type", "effective_timestamp"),
            "tier_ceiling_hit": ("resource_type", "hit_count_24h", "upgrade_suggested"),
            "circuit_breaker_event": ("database_type", "state", "error_threshold", "volume"),
            "cache_efficiency_alert": ("cache_level", "hit_rate", "expected_rate", "deviation"),
        }
    },
    example={
        "timestamp": "2025-11-21T20:45:32.123Z",
        "event_type": "tier_transition",
        "project_id": "proj_abc123",
        "tenant_id": "org_xyz789",
        "source_tier": "WARM",
        "target_tier": "HOT",
        "reason": "automatic_promotion",
        "trigger_conditions": {"query_count_4h": 145, "avg_query_rate": 0.6},
        "metadata": {"database_type": "postgres", "pool_size_before": 5, "pool_size_after": 10},
    },
)

JOBS = Kind(
    name="jobs",
    description="a queued background job (queue, ETL, training); re-send it as it progresses",
    key="job_id",
    entity=True,
    fields=(
        Field("job_id", "VARCHAR", required=True, identifier=True),
        Field("queue", "VARCHAR", required=True),
        Field("job_type", "VARCHAR", required=True),
        _tenant(required=False),
        _ts("enqueued_at"),
        _ts("started_at", required=False),
        _ts("finished_at", required=False),
        Field(
            "status",
            "VARCHAR",
            required=True,
            choices=("queued", "running", "succeeded", "failed", "canceled"),
        ),
        Field("retries", "INTEGER", minimum=0),
        Field("records", "BIGINT", minimum=0),
    ),
    example={
        "job_id": "job-5",
        "queue": "training",
        "job_type": "fine_tune",
        "tenant_id": "t-0042",
        "enqueued_at": "2026-11-25T09:00:00Z",
        "started_at": "2026-11-25T09:00:40Z",
        "finished_at": "2026-11-25T09:12:00Z",
        "status": "succeeded",
        "retries": 0,
        "records": 12000,
    },
)

SAMPLES = Kind(
    name="samples",
    description="one reading of a gauge or counter (CPU, memory, GPU, disk, pods, DB, Redis, privacy)",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        Field("metric", "VARCHAR", required=True),
        Field("labels", "JSON"),
        Field("value", "DOUBLE", required=True),
    ),
    example={
        "ts": "2026-11-25T10:00:00Z",
        "metric": "cpu_utilization_pct",
        "labels": {"service": "api"},
        "value": 45.2,
    },
)

WEBHOOK_DELIVERIES = Kind(
    name="webhook_deliveries",
    description="one attempt to deliver a webhook to a tenant's endpoint",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        _tenant(),
        Field("target", "VARCHAR", required=True),
        Field("status", "VARCHAR", required=True, choices=("delivered", "failed")),
        Field("attempt", "INTEGER", required=True, minimum=1),
        Field("latency_ms", "DOUBLE", minimum=0),
    ),
    example={
        "ts": "2026-11-25T10:00:01Z",
        "tenant_id": "t-0042",
        "target": "https://hooks.example/acme",
        "status": "delivered",
        "attempt": 1,
        "latency_ms": 120.0,
    },
)

SECURITY_EVENTS = Kind(
    name="security_events",
    description="an isolation, auth or rate-limit event",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        _tenant(),
        Field(
            "kind",
            "VARCHAR",
            required=True,
            choices=(
                "isolation_violation",
                "cross_tenant_query",
                "auth_failure",
                "rate_limit_violation",
            ),
        ),
        Field("details", "JSON"),
    ),
    example={
        "ts": "2026-11-25T10:03:00Z",
        "tenant_id": "t-0042",
        "kind": "rate_limit_violation",
        "details": {"limit_per_minute": 600},
    },
)

INCIDENTS = Kind(
    name="incidents",
    description="a service incident; re-send it when it is resolved",
    key="incident_id",
    entity=True,
    fields=(
        Field("incident_id", "VARCHAR", required=True, identifier=True),
        _ts("started_at"),
        _ts("resolved_at", required=False),
        Field("severity", "VARCHAR", required=True, choices=PRIORITIES),
        Field("title", "VARCHAR", required=True),
        Field("service", "VARCHAR"),
        _tenant(required=False),
    ),
    example={
        "incident_id": "INC-7",
        "started_at": "2026-11-25T02:10:00Z",
        "resolved_at": "2026-11-25T02:40:00Z",
        "severity": "P2",
        "title": "Elevated 5xx on /v1/train",
        "service": "api",
    },
)

SPEND = Kind(
    name="spend",
    description="money spent, by category (sales and marketing feed CAC; the rest feed cost)",
    key="event_id",
    fields=(
        _event_id(),
        _ts(),
        Field(
            "category",
            "VARCHAR",
            required=True,
            description="sales, marketing, compute, gpu, database, storage, network, …",
        ),
        Field("amount", "DOUBLE", required=True, minimum=0),
        Field("currency", "VARCHAR"),
    ),
    example={"ts": "2026-11-01T00:00:00Z", "category": "marketing", "amount": 4200.0},
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        TENANTS,
        USERS,
        REQUESTS,
        ACTIVITY,
        SUBSCRIPTIONS,
        PAYMENTS,
        TICKETS,
        TIER_EVENTS,
        JOBS,
        SAMPLES,
        WEBHOOK_DELIVERIES,
        SECURITY_EVENTS,
        INCIDENTS,
        SPEND,
    )
}


def create_table_sql(kind: Kind) -> str:
    """The CREATE TABLE statement for a kind; identifiers come from this module only."""
    columns = [f'"{f.name}" {f.type}' for f in kind.fields]
    if kind.key == "event_id":
        columns[0] = '"event_id" VARCHAR NOT NULL'
    if kind.entity:
        columns.append('"_record_hash" VARCHAR NOT NULL')
    columns.append('"_ingested_at" TIMESTAMPTZ NOT NULL')
    return f'CREATE TABLE IF NOT EXISTS "{kind.name}" (\n  ' + ",\n  ".join(columns) + "\n)"
