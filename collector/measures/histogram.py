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
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import orjson

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


_EDGE_ARRAY = np.array(_EDGES)
_CODE_ARRAY = np.array(_CODES, dtype=np.int64)


def bucket_codes(values: np.ndarray) -> np.ndarray:
    """`bucket_code` of each value, in one pass (the same float arithmetic, so the same codes)."""
    found = np.searchsorted(_EDGE_ARRAY, values * (1 - 1e-12), side="left")
    return np.where(values > 0, _CODE_ARRAY[np.minimum(found, len(_CODES) - 1)], ZERO_CODE)


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


_JSON_PUNCTUATION = str.maketrans({"{": None, "}": None, '"': None, ":": ","})


def parse_json_texts(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Many stored histograms (JSON text, `{"code": count}`) as three arrays of their entries:
    the row each came from, its code and its count; None for text not in the shape we write.
    A day's window holds about a million entries: numpy parses them in one pass, about 10x
    faster than dict by dict."""
    texts = [t if t and t != "{}" else "" for t in texts]
    entries = np.array([t.count(":") for t in texts], dtype=np.int64)
    joined = ",".join(t for t in texts if t).translate(_JSON_PUNCTUATION)
    try:
        numbers = np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.zeros(0, np.int64)
    except ValueError:
        return None
    codes, counts = numbers[0::2], numbers[1::2]
    if codes.size != entries.sum() or counts.size != codes.size or (codes.size and int(codes.min()) < 0):
        return None
    return np.repeat(np.arange(len(texts)), entries), codes, counts


def merged_json_texts(texts: Sequence[str | None], groups: Sequence[int], n_groups: int) -> list[dict[int, int]]:
    """Stored histograms added up per group, where row i belongs to group `groups[i]`."""
    parsed = parse_json_texts(texts)
    if parsed is None:
        return _merged_slowly(texts, groups, n_groups)
    rows, codes, counts = parsed
    out: list[dict[int, int]] = [{} for _ in range(n_groups)]
    if not codes.size:
        return out
    owner = np.asarray(groups, dtype=np.int64)[rows]
    span = int(codes.max()) + 1
    keys, inverse = np.unique(owner * span + codes, return_inverse=True)
    sums = np.bincount(inverse, weights=counts).astype(np.int64)
    for key, n in zip(keys.tolist(), sums.tolist()):
        group, code = divmod(key, span)
        out[group][code] = n
    return out


def _merged_slowly(texts: Sequence[str | None], groups: Sequence[int], n_groups: int) -> list[dict[int, int]]:
    out: list[dict[int, int]] = [{} for _ in range(n_groups)]
    for text, group in zip(texts, groups):
        if text:
            merge(out[group], orjson.loads(text))
    return out
