SELECT * FROM tier_events
WHERE event_type = 'tier_transition'
  AND project_id = 'proj_abc123'
  AND timestamp > NOW() - INTERVAL '7 days'
ORDER BY timestamp DESC;
