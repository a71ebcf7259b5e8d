"""The collector's HTTP layer: routes, auth and rate limits, body parsing, dependencies, time
parameters, /metrics and runbooks. `asrwatch.server` mounts it; other packages import only
the names below."""

from collector.api import api_docs, runbooks  # modules other packages use whole
from collector.api.body_limit import BodyLimit
from collector.api.dependencies import get_engine, get_settings, require_admin, require_read
from collector.api.metrics import DEFAULT_LABEL_VALUES_MAX, OTHER, CollectorMetrics
from collector.api.rate_limit import Limit, RateLimiter
from collector.api.routes import health, ingest, query
from collector.api.timeparams import at_or_collector_now, parse_time

__all__ = [
    "api_docs",
    "BodyLimit",
    "at_or_collector_now",
    "CollectorMetrics",
    "DEFAULT_LABEL_VALUES_MAX",
    "get_engine",
    "get_settings",
    "health",
    "ingest",
    "Limit",
    "OTHER",
    "parse_time",
    "query",
    "RateLimiter",
    "require_admin",
    "require_read",
    "runbooks",
]
