SELECT
  source_tier,
  AVG(startup_duration_ms) as avg_cold_start_ms,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY startup_duration_ms) as p95_cold_start_ms
FROM tier_events
WHERE event_type = 'cold_start'
  AND timestamp > NOW() - INTERVAL '7 days'
GROUP BY source_tier;
