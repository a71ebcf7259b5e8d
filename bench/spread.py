"""The min/median/max every benchmark reports for its rounds (imported as `spread` by the scripts
beside it: a script's own folder is first on its import path)."""

from __future__ import annotations

import statistics


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": float(statistics.median(values)), "max": max(values)}
