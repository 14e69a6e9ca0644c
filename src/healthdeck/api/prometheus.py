"""`GET /metrics`: healthdeck's own results for Prometheus, with bounded cardinality.

Series: the overall and area scores, each scored KPI's value and status, records
ingested / rejected / duplicate per kind, evaluation durations, and the writer's hashes of
recent ids with how they answered. No tenant labels:
the series count is fixed by the catalog and the schema, whatever the data.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthdeck.api.group_commit import GroupCommit
from healthdeck.api.owner import StoreOwner
from healthdeck.api.recent import Recent
from healthdeck.api.settings import METRICS_MAX_AGE_SECONDS
from healthdeck.engine.health import HealthReport
from healthdeck.engine.scoring import Status
from healthdeck.store.ingest import IngestReport

# A `_created` series per counter only doubles the output; Prometheus does not need it.
disable_created_metrics()


class ServerMetrics:
    """The server's registry: ingest counters, evaluation timings, and the latest health results."""

    def __init__(self, owner: StoreOwner) -> None:
        self.owner = owner
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "healthdeck_records_ingested", "Records stored over HTTP.", ["kind"], registry=self.registry
        )
        self.duplicates = Counter(
            "healthdeck_records_duplicate",
            "Records received over HTTP, already stored.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "healthdeck_records_rejected", "Records received over HTTP and rejected.", registry=self.registry
        )
        self.evaluation = Histogram(
            "healthdeck_evaluation_seconds", "Time to evaluate the scored KPIs.", registry=self.registry
        )
        self.registry.register(_HealthCollector(self))
        self.registry.register(_RecentIdsCollector(owner))
        self.latest_health = Recent(self.evaluate, max_age=METRICS_MAX_AGE_SECONDS)

    def watch(self, group_commit: GroupCommit) -> None:
        """Count how the server's bodies are stored (`healthdeck_ingest_bodies_total`)."""
        self.registry.register(_GroupCommitCollector(group_commit))

    def count_ingest(self, report: IngestReport) -> None:
        for kind, stored in report.by_kind.items():
            self.ingested.labels(kind=kind).inc(stored)
        self.duplicates.inc(report.duplicates)
        self.rejected.inc(report.rejected)

    def evaluate(self) -> HealthReport:
        """The scored KPIs evaluated now, timed into `healthdeck_evaluation_seconds`."""
        with self.evaluation.time(), self.owner.engine() as hd:
            return hd.health()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HealthCollector(Collector):
    """Gauges read from the latest health report at scrape time."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        report = self.metrics.latest_health.get()
        score = GaugeMetricFamily("healthdeck_score", "The overall health score (0-100).")
        if report.score is not None:
            score.add_metric([], report.score)
        yield score
        areas = GaugeMetricFamily("healthdeck_area_score", "Each area's health score (0-100).", labels=["area"])
        for name, area in report.areas.items():
            if area.score is not None:
                areas.add_metric([name], area.score)
        yield areas
        yield from _kpi_families(report)


class _GroupCommitCollector(Collector):
    """How the bodies of `POST /v1/events` were stored: alone, or together with others (group_commit.py)."""

    def __init__(self, group_commit: GroupCommit) -> None:
        self.group_commit = group_commit

    def collect(self) -> Iterator[Metric]:
        bodies = CounterMetricFamily(
            "healthdeck_ingest_bodies",
            "Bodies of POST /v1/events stored, alone or together with others waiting for the writer.",
            labels=["stored"],
        )
        for how, count in dict(self.group_commit.stored).items():
            bodies.add_metric([how], count)
        yield bodies


class _RecentIdsCollector(Collector):
    """What the writer's hashes of recent ids (store/recent_ids.py) hold, and how they answered."""

    def __init__(self, owner: StoreOwner) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        recent = self.owner.store.recent_ids
        if recent is None:
            return
        held = "Hashes of recently stored ids the writer holds (8 bytes each)."
        yield GaugeMetricFamily("healthdeck_recent_id_hashes", held, recent.hashes)
        answers = CounterMetricFamily(
            "healthdeck_id_lookups",
            "Ingest batches by how the recent ids answered: new (not looked up in the store), maybe or not_kept.",
            labels=["answer"],
        )
        for answer, count in dict(recent.answers).items():
            answers.add_metric([answer], count)
        yield answers


def _kpi_families(report: HealthReport) -> Iterator[Metric]:
    values = GaugeMetricFamily("healthdeck_kpi_value", "Each scored KPI's value, in its unit.", labels=["kpi", "area"])
    statuses = GaugeMetricFamily(
        "healthdeck_kpi_status", "1 for each scored KPI's current status, 0 for the others.", labels=["kpi", "status"]
    )
    for result in report.results():
        if result.value is not None:
            values.add_metric([result.kpi.id, result.kpi.area], result.value)
        for status in Status:
            statuses.add_metric([result.kpi.id, status.value], 1.0 if result.status is status else 0.0)
    yield values
    yield statuses
