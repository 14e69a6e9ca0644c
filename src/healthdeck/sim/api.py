"""The simulated product's public API: its routes and how each one behaves.

Latency per route is lognormal (sigma 0.41) around the route's median, plus a
2.5% slow path ~3.8x slower; with medians of 37-43 ms that gives p50 35-45 ms,
p95 80-95 ms and p99 150-190 ms per route, before the tenant's tier scales
it (plans.LATENCY_FACTOR: ENTERPRISE fastest, FREE slowest). Paths are stable across API
versions (the version is a header), and the two deprecated routes are only
called by v1 clients; v2 clients call their successors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Route:
    """One endpoint + method with its share of calls and its performance."""

    endpoint: str
    method: str
    share: float
    median_ms: float
    success: int  # the usual 2xx status
    request_bytes: float  # median body sizes
    response_bytes: float
    deprecated: bool = False
    successor: int = -1  # the route v2 clients use instead (index)


ROUTES = (
    Route("/v1/infer", "POST", 0.30, 41.0, 200, 2_400, 1_800),
    Route("/v1/embeddings", "POST", 0.10, 43.0, 200, 3_000, 12_000),
    Route("/v1/jobs", "GET", 0.13, 37.0, 200, 200, 900),
    Route("/v1/datasets", "GET", 0.07, 38.0, 200, 200, 4_000),
    Route("/v1/datasets", "POST", 0.025, 43.0, 201, 250_000, 600),
    Route("/v1/datasets", "DELETE", 0.005, 39.0, 204, 150, 0),
    Route("/v1/models", "GET", 0.07, 38.0, 200, 200, 2_500),
    Route("/v1/train", "POST", 0.04, 42.0, 202, 1_500, 700),
    Route("/v1/deployments", "POST", 0.015, 43.0, 201, 800, 900),
    Route("/v1/metrics", "GET", 0.06, 40.0, 200, 200, 6_000),
    Route("/v1/auth/token", "POST", 0.08, 37.0, 200, 300, 500),
    Route("/v1/privacy/budget", "GET", 0.03, 39.0, 200, 200, 400),
    Route("/v1/predict", "POST", 0.04, 42.0, 200, 2_400, 1_800, deprecated=True, successor=0),
    Route("/v1/files/upload", "PUT", 0.015, 43.0, 200, 180_000, 500, deprecated=True, successor=4),
)
ENDPOINTS = tuple(r.endpoint for r in ROUTES)
METHODS = tuple(r.method for r in ROUTES)
SHARE = np.array([r.share for r in ROUTES]) / sum(r.share for r in ROUTES)
MEDIAN_MS = np.array([r.median_ms for r in ROUTES])
SUCCESS = np.array([r.success for r in ROUTES], dtype=np.int32)
REQUEST_BYTES = np.array([r.request_bytes for r in ROUTES])
RESPONSE_BYTES = np.array([r.response_bytes for r in ROUTES])
DEPRECATED = np.array([r.deprecated for r in ROUTES])
SUCCESSOR = np.array([r.successor if r.deprecated else i for i, r in enumerate(ROUTES)])

LATENCY_SIGMA, SLOW_SHARE, SLOW_FACTOR = 0.41, 0.025, 3.8
CONSUMERS = ("python-sdk", "node-sdk", "cli", "web-console", "airflow-provider", "zapier", "curl")
CONSUMER_SHARE = np.array([0.38, 0.22, 0.08, 0.14, 0.08, 0.04, 0.06])
CLIENT_ERRORS = np.array([400, 401, 403, 404, 409, 422], dtype=np.int32)
CLIENT_ERROR_SHARE = np.array([0.30, 0.15, 0.07, 0.28, 0.05, 0.15])
SERVER_ERRORS = np.array([500, 502, 503, 504], dtype=np.int32)
SERVER_ERROR_SHARE = np.array([0.45, 0.2, 0.25, 0.1])
# 0.02% of requests fail outside incidents: a 5-minute window (~2,500 requests at 500 tenants)
# seldom reaches the specification's 0.1% WARNING by chance alone.
BASE_SERVER_ERROR_RATE = 0.0002
