"""Sparse log histograms with three significant digits.

A value falls in the bucket whose *upper* edge is the value rounded up to three significant
digits (Prometheus' `le` convention), so every bucket is at most 1% wide and any threshold
with three significant digits (300, 1500, 2000 ms...) is an exact edge: "good if at or
under 2000 ms" is an exact count, and quantiles are within 1%.

Bucket codes are integers that sort like their edges: `(exponent + 3) * 1000 + mantissa`,
with mantissa in [100, 999] and edge = mantissa * 10**(exponent - 2). Code 0 holds values <= 0.
Histograms are plain `dict[int, int]`; in JSON the keys are strings.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

ZERO_CODE = 0
_MIN_EXPONENT = -2  # 0.01 .. 0.0999 is the finest decade; smaller values go to its first bucket


_MAX_EXPONENT = 9


def upper_edge(code: int) -> float:
    if code == ZERO_CODE:
        return 0.0
    exponent, mantissa = divmod(code, 1000)
    return round(mantissa * 10.0 ** (exponent - 3 - 2), 12)


# Every edge from 0.0100 to 1.00e12, sorted, with its code: a value's bucket is the first edge
# at or above it, found by bisection (exact for edges, since both sides are the same floats).
_CODES = [
    (exponent + 3) * 1000 + mantissa
    for exponent in range(_MIN_EXPONENT, _MAX_EXPONENT + 1)
    for mantissa in range(100, 1000)
] + [(_MAX_EXPONENT + 4) * 1000 + 100]
_EDGES = [upper_edge(code) for code in _CODES]


def bucket_code(value: float) -> int:
    if not value > 0:  # also catches NaN
        return ZERO_CODE
    # The tolerance absorbs float noise such as 3 * 0.1 = 0.30000000000000004.
    return _CODES[min(bisect.bisect_left(_EDGES, value * (1 - 1e-12)), len(_CODES) - 1)]


def add(hist: dict[int, int], value: float, count: int = 1) -> None:
    code = bucket_code(value)
    hist[code] = hist.get(code, 0) + count


def merge(into: dict[int, int], other: Mapping[int | str, int]) -> dict[int, int]:
    for code, count in other.items():
        key = int(code)
        into[key] = into.get(key, 0) + int(count)
    return into


def merged(hists: Iterable[Mapping[int | str, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for hist in hists:
        merge(out, hist)
    return out


def total(hist: Mapping[int | str, int]) -> int:
    return sum(int(c) for c in hist.values())


def limit_code(threshold: float) -> int:
    """The highest bucket whose values are all <= threshold."""
    limit = bucket_code(threshold)
    if upper_edge(limit) > threshold * (1 + 1e-12):
        limit -= 1  # threshold is inside a bucket: only whole buckets below it count
    return limit


def count_at_or_below(hist: Mapping[int | str, int], threshold: float) -> int:
    """Values <= threshold; exact when the threshold has three significant digits."""
    limit = limit_code(threshold)
    return sum(int(c) for code, c in hist.items() if int(code) <= limit)


def quantile(hist: Mapping[int | str, int], q: float) -> float | None:
    """The q-quantile (0..1), reported as the upper edge of its bucket (<= 1% high)."""
    n = total(hist)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for code in sorted(int(k) for k in hist):
        seen += int(hist[code] if code in hist else hist[str(code)])  # type: ignore[index]
        if seen >= rank:
            return upper_edge(code)
    return upper_edge(max(int(k) for k in hist))


def to_json(hist: Mapping[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in hist.items()}


def from_json(data: Mapping[str, int] | None) -> dict[int, int]:
    return {int(k): int(v) for k, v in (data or {}).items()}
