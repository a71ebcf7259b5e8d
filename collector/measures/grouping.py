"""Grouping rows by key with numpy: each row's group index, and per-group counts and sums.

Ingest folds a batch into rollups and metrics this way, and queries and the SLO series number
their groups the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def groups_of(keys: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """The distinct keys in first-seen order, and each item's index into them."""
    index: dict[Any, int] = {}
    group = [index.setdefault(key, len(index)) for key in keys]
    return list(index), np.array(group, dtype=np.int64)


def sums(group: np.ndarray, n_groups: int, weights: np.ndarray | None = None,
         where: np.ndarray | None = None) -> np.ndarray:
    """Per group: how many rows (`where` true), or the sum of `weights` over them (NaN as 0)."""
    if where is not None:
        group = group[where]
        weights = None if weights is None else weights[where]
    if weights is not None:
        weights = np.nan_to_num(weights, nan=0.0)
    return np.bincount(group, weights=weights, minlength=n_groups)

