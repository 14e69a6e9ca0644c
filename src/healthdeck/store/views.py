"""Views over the event tables that the specification's own SQL reads verbatim.

`customer_summary` is the input of the customer health score query; it is
relative to CURRENT_DATE because that query is. `churn_signals` holds the columns the churn-risk
indicators of §2.4 compare (`last_active < now() - 7 days`, …), relative to `now()`; the engine's
engine/measures/churn.py computes the same facts as of any moment.
"""

from __future__ import annotations

CUSTOMER_SUMMARY = """
CREATE OR REPLACE VIEW customer_summary AS
WITH calls AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE ts >= current_date - INTERVAL 30 DAY) AS api_calls_30d,
           max(ts)::DATE AS last_request_date
    FROM requests
    GROUP BY tenant_id
), actions AS (
    SELECT tenant_id,
           max(ts)::DATE AS last_activity_date,
           count(DISTINCT event) FILTER (WHERE ts >= current_date - INTERVAL 30 DAY) AS features_used
    FROM activity
    GROUP BY tenant_id
), open_tickets AS (
    SELECT tenant_id, count(*) AS open_tickets
    FROM tickets
    WHERE status IN ('open', 'pending')
    GROUP BY tenant_id
)
SELECT t.tenant_id,
       coalesce(c.api_calls_30d, 0) AS api_calls_30d,
       greatest(c.last_request_date, a.last_activity_date) AS last_active_date,
       coalesce(a.features_used, 0) AS features_used,
       coalesce(o.open_tickets, 0) AS open_tickets
FROM tenants t
LEFT JOIN calls c USING (tenant_id)
LEFT JOIN actions a USING (tenant_id)
LEFT JOIN open_tickets o USING (tenant_id)
"""

CHURN_SIGNALS = """
CREATE OR REPLACE VIEW churn_signals AS
WITH seen AS (
    SELECT tenant_id, max(ts) AS last_ts
    FROM (SELECT tenant_id, ts FROM requests WHERE ts < now()
          UNION ALL SELECT tenant_id, ts FROM activity WHERE ts < now())
    GROUP BY tenant_id
), calls AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE ts >= now() - INTERVAL 7 DAY) AS this_week,
           count(*) FILTER (WHERE ts < now() - INTERVAL 7 DAY) AS last_week
    FROM requests WHERE ts >= now() - INTERVAL 14 DAY AND ts < now()
    GROUP BY tenant_id
), opened AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE opened_at >= now() - INTERVAL 30 DAY) AS this_month,
           count(*) FILTER (WHERE opened_at < now() - INTERVAL 30 DAY) AS last_month
    FROM tickets WHERE opened_at >= now() - INTERVAL 60 DAY AND opened_at < now()
    GROUP BY tenant_id
), team AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE signup_at < now() AND (removed_at IS NULL OR removed_at >= now()))
         - count(*) FILTER (WHERE signup_at < now() - INTERVAL 30 DAY
                            AND (removed_at IS NULL OR removed_at >= now() - INTERVAL 30 DAY)) AS delta
    FROM users GROUP BY tenant_id
), payment AS (
    SELECT tenant_id, status FROM payments WHERE ts < now()
    QUALIFY row_number() OVER (PARTITION BY tenant_id ORDER BY ts DESC, status DESC) = 1
)
SELECT t.tenant_id,
       coalesce(s.last_ts, t.created_at) AS last_active,
       coalesce(c.this_week, 0) AS api_calls_this_week,
       coalesce(c.last_week, 0) AS api_calls_last_week,
       coalesce(o.this_month, 0) AS tickets_this_month,
       coalesce(o.last_month, 0) AS tickets_last_month,
       coalesce(m.delta, 0) AS team_size_delta,
       p.status AS payment_status
FROM tenants t
LEFT JOIN seen s USING (tenant_id) LEFT JOIN calls c USING (tenant_id) LEFT JOIN opened o USING (tenant_id)
LEFT JOIN team m USING (tenant_id) LEFT JOIN payment p USING (tenant_id)
"""

VIEWS: dict[str, str] = {"customer_summary": CUSTOMER_SUMMARY}
