-- Customer Health Score Calculation
WITH customer_metrics AS (
  SELECT
    tenant_id,
    -- Usage score (0-30)
    LEAST(30, (api_calls_30d / 10000.0) * 30) as usage_score,
    -- Engagement score (0-25)
    CASE
      WHEN last_active_date = CURRENT_DATE THEN 25
      WHEN last_active_date > CURRENT_DATE - 7 THEN 20
      WHEN last_active_date > CURRENT_DATE - 14 THEN 15
      WHEN last_active_date > CURRENT_DATE - 30 THEN 10
      ELSE 0
    END as engagement_score,
    -- Feature adoption score (0-25)
    LEAST(25, features_used * 5) as adoption_score,
    -- Support score (0-20)
    CASE
      WHEN open_tickets = 0 THEN 20
      WHEN open_tickets = 1 THEN 15
      WHEN open_tickets <= 3 THEN 10
      ELSE 0
    END as support_score
  FROM customer_summary
)
SELECT
  tenant_id,
  (usage_score + engagement_score + adoption_score + support_score) as health_score,
  CASE
    WHEN (usage_score + engagement_score + adoption_score + support_score) >= 70 THEN 'HEALTHY'
    WHEN (usage_score + engagement_score + adoption_score + support_score) >= 40 THEN 'AT_RISK'
    ELSE 'CRITICAL'
  END as health_status
FROM customer_metrics;
