"""Views over the event tables that the specification's own SQL reads verbatim.

`customer_summary` is the input of the customer health score query; it is
relative to CURRENT_DATE because that query is.
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

VIEWS: dict[str, str] = {"customer_summary": CUSTOMER_SUMMARY}
