"""Per-token rate limits: a token bucket per (scope, token hash).

`take` is the whole rule, pure and given `now` explicitly so it is tested without a clock.
`RateLimiter` holds the buckets for a running collector. Buckets are keyed by the token's
SHA-256 digest, never the token, and exist only for tokens that passed authentication, so
their number is bounded by the configured tokens times three scopes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Float refills land a hair under a whole request after waiting exactly the advertised time.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Limit:
    rate: float  # requests per second, > 0
    burst: float  # bucket capacity, >= 1


@dataclass(frozen=True)
class Bucket:
    level: float  # requests available now
    at: float  # when `level` was computed (seconds, any monotonic origin)


def take(bucket: Bucket | None, limit: Limit, now: float, cost: float = 1.0) -> tuple[Bucket, float]:
    """Refill `bucket` up to `now`, then spend `cost` if it is there.

    Returns the new bucket and the wait in seconds before `cost` will be there (0.0 when the
    request is allowed). A new bucket starts full. A clock that steps back refills nothing.
    """
    if bucket is None:
        level, at = limit.burst, now
    else:
        at = max(now, bucket.at)
        level = min(limit.burst, bucket.level + (at - bucket.at) * limit.rate)
    if level + _EPSILON >= cost:
        return Bucket(max(0.0, level - cost), at), 0.0
    return Bucket(level, at), (cost - level) / limit.rate


def retry_after(wait_s: float) -> str:
    """The Retry-After header: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))


class RateLimiter:
    """Thread-safe buckets for a collector (auth dependencies run in the thread pool)."""

    def __init__(self, limits: Mapping[str, Limit], clock: Callable[[], float] = time.monotonic):
        self.limits = dict(limits)
        self._clock = clock
        self._buckets: dict[tuple[str, bytes], Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, scope: str, token_digest: bytes) -> float:
        """0.0 when the request may go ahead, else the seconds to wait. Unlimited scopes: 0.0."""
        limit = self.limits.get(scope)
        if limit is None:
            return 0.0
        key = (scope, token_digest)
        with self._lock:
            bucket, wait = take(self._buckets.get(key), limit, self._clock())
            self._buckets[key] = bucket
        return wait
