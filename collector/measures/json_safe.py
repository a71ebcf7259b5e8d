"""JSON has no NaN or infinity: report them as null (a relative change from a zero baseline
is infinite; a statistic over an empty sample is NaN)."""

from __future__ import annotations

import math
from typing import Any


def finite_or_null(value: Any) -> Any:
    """`value` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value
