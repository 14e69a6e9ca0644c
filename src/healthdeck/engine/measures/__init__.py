"""The measure library: importing it registers every measure in MEASURES."""

from healthdeck.engine.measures import analytics, capacity, churn, customers, generic, revenue
from healthdeck.engine.measures.base import MEASURES, MeasureContext, Window

__all__ = ["MEASURES", "MeasureContext", "Window", "analytics", "capacity", "churn", "customers", "generic", "revenue"]
