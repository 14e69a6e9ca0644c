"""Seed 004's data pipeline view (7-data-pipeline): queues and background jobs.

Filters: `queue` (jobs.queue, and the queue label of the queue_depth samples) and `etl_job`
(jobs.job_type). A job is processed when it finishes (succeeded or failed) in the span; it waits
from enqueued to started.
"""

from __future__ import annotations

from healthdeck.api.views.base import BUCKET, Filter, Panel, Query, View, series, table

_KEPT = "($queue IS NULL OR queue = $queue) AND ($etl_job IS NULL OR job_type = $etl_job)"
# Jobs processed in the span: finished, succeeded or failed.
PROCESSED = f"""jobs WHERE finished_at >= $start AND finished_at < $end
    AND status IN ('succeeded', 'failed') AND {_KEPT}"""
BY = ["queue", "etl_job"]
TOP = 10


def processing_rate(q: Query) -> Panel:
    sql = f"""SELECT queue, {BUCKET.format(column="finished_at")} AS i, count(*) / $step
        FROM {PROCESSED} GROUP BY ALL ORDER BY min(finished_at)"""
    return Panel(
        id="processing_rate",
        title="Queue job processing rate",
        kind="timeseries",
        unit="per_s",
        filtered_by=BY,
        series=series(q, sql, empty=0.0),
    )


def queue_depth(q: Query) -> Panel:
    sql = f"""SELECT labels->>'queue' AS queue, {BUCKET.format(column="ts")} AS i, max(value)
        FROM samples WHERE metric = 'queue_depth' AND ts >= $start AND ts < $end
            AND ($queue IS NULL OR labels->>'queue' = $queue)
        GROUP BY ALL ORDER BY min(ts)"""
    return Panel(
        id="queue_depth",
        title="Queue depth (pending jobs, the step's peak)",
        kind="timeseries",
        unit="jobs",
        filtered_by=["queue"],
        series=series(q, sql, empty=None),
    )


def success_failure(q: Query) -> Panel:
    sql = f"""SELECT job_type, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
            count(*) FILTER (WHERE status = 'failed') AS failed,
            100.0 * count(*) FILTER (WHERE status = 'failed') / count(*) AS failure_pct
        FROM {PROCESSED} GROUP BY job_type ORDER BY job_type"""
    return Panel(
        id="success_failure",
        title="Background job success/failure by job type",
        kind="table",
        unit="percent",
        filtered_by=BY,
        columns=["job_type", "succeeded", "failed", "failure_pct"],
        rows=table(q, sql),
    )


def top_failed(q: Query) -> Panel:
    sql = f"""SELECT job_type, queue, count(*) AS failed FROM {PROCESSED} AND status = 'failed'
        GROUP BY ALL ORDER BY failed DESC, job_type, queue LIMIT {TOP}"""
    return Panel(
        id="top_failed",
        title=f"Top failed jobs (top {TOP})",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["job_type", "queue", "failed"],
        rows=table(q, sql),
    )


def queue_wait(q: Query) -> Panel:
    wait = "epoch(started_at) - epoch(enqueued_at)"
    sql = f"""SELECT queue, count(*) AS jobs, quantile_cont({wait}, 0.5), quantile_cont({wait}, 0.95)
        FROM jobs WHERE started_at >= $start AND started_at < $end AND {_KEPT}
        GROUP BY queue ORDER BY queue"""
    return Panel(
        id="queue_wait",
        title="Queue wait time (jobs started in the span)",
        kind="table",
        unit="s",
        filtered_by=BY,
        columns=["queue", "jobs", "p50_s", "p95_s"],
        rows=table(q, sql),
    )


def retries(q: Query) -> Panel:
    sql = f"""SELECT coalesce(retries, 0) AS retries, count(*) AS jobs FROM {PROCESSED}
        GROUP BY ALL ORDER BY retries"""
    return Panel(
        id="retries",
        title="Job retry distribution",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["retries", "jobs"],
        rows=table(q, sql),
    )


def records_per_batch(q: Query) -> Panel:
    sql = f"""SELECT job_type, count(*) AS jobs, sum(records) AS records, avg(records) AS records_per_job
        FROM {PROCESSED} AND records IS NOT NULL GROUP BY job_type ORDER BY job_type"""
    return Panel(
        id="records_per_batch",
        title="Batch processing throughput (records per job)",
        kind="table",
        unit="records",
        filtered_by=BY,
        columns=["job_type", "jobs", "records", "records_per_job"],
        rows=table(q, sql),
    )


VIEW = View(
    name="pipeline",
    title="Data pipeline",
    filters=(
        Filter("queue", "SELECT DISTINCT queue FROM jobs ORDER BY 1"),
        Filter("etl_job", "SELECT DISTINCT job_type FROM jobs ORDER BY 1"),
    ),
    panels=(processing_rate, queue_depth, success_failure, top_failed, queue_wait, retries, records_per_batch),
    kpi_source="seed 004 data pipeline",
)
