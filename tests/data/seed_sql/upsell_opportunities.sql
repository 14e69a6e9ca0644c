SELECT project_id, COUNT(*) as ceiling_hits
FROM tier_events
WHERE event_type = 'tier_ceiling_hit'
  AND timestamp > NOW() - INTERVAL '30 days'
GROUP BY project_id
HAVING COUNT(*) > 5
ORDER BY ceiling_hits DESC;
