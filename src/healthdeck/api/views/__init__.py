"""Seed 004's three views (API analytics, data pipeline, tenant analytics) as the console shows them."""

from __future__ import annotations

from healthdeck.api.views import api, pipeline, tenants
from healthdeck.api.views.base import View

VIEWS: dict[str, View] = {view.name: view for view in (api.VIEW, pipeline.VIEW, tenants.VIEW)}
