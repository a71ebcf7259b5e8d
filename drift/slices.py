"""Slices (the fleet, each value of a dimension, pairs of dimensions) and their histograms.

A grouping assigns every row one integer group; `np.bincount` over
`(group, window, bin)` then yields the reference and current histogram of every slice
of that grouping in one pass, which is what makes a scan over a million sessions cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from drift.features import Encoded


@dataclass(frozen=True)
class Slice:
    """A set of `dimension=value` labels; no labels is the whole fleet."""

    labels: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels) or "all"

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.labels)

    def as_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def parents(self) -> list["Slice"]:
        """The slices one label coarser (the fleet for single-dimension slices)."""
        if not self.labels:
            return []
        return [Slice(tuple(l for l in self.labels if l != drop)) for drop in self.labels]

    @classmethod
    def parse(cls, key: str) -> "Slice":
        if key in ("", "all"):
            return cls()
        labels = []
        for part in key.split(","):
            name, sep, value = part.partition("=")
            if not sep or not name:
                raise ValueError(f"slice: expected 'dimension=value' pairs, got {part!r}")
            labels.append((name, value))
        return cls(tuple(labels))


GLOBAL = Slice()


@dataclass
class Grouping:
    dimensions: tuple[str, ...]
    codes: np.ndarray  # group per row
    slices: list[Slice]  # slice of each group code

    @property
    def n_groups(self) -> int:
        return len(self.slices)


def groupings(
    categorical: dict[str, Encoded], dimensions: tuple[str, ...], pairs: bool = True
) -> list[Grouping]:
    """The fleet, each dimension, and (optionally) each pair of dimensions."""
    for dim in dimensions:
        if dim not in categorical:
            raise ValueError(f"slice dimension '{dim}' is not a known column")
    n = len(next(iter(categorical.values())).codes) if categorical else 0
    out = [Grouping((), np.zeros(n, dtype=np.int64), [GLOBAL])]
    for dim in dimensions:
        enc = categorical[dim]
        out.append(Grouping((dim,), enc.codes.astype(np.int64), [Slice(((dim, v),)) for v in enc.levels]))
    if pairs:
        for a, b in combinations(dimensions, 2):
            ea, eb = categorical[a], categorical[b]
            codes = ea.codes.astype(np.int64) * len(eb.levels) + eb.codes
            slices = [Slice(((a, va), (b, vb))) for va in ea.levels for vb in eb.levels]
            out.append(Grouping((a, b), codes, slices))
    return out


def window_keys(grouping: Grouping, is_current: np.ndarray) -> np.ndarray:
    """Per row: group * 2 + window (0 reference, 1 current); computed once per grouping."""
    return grouping.codes * 2 + is_current


def grouped_counts(keys: np.ndarray, n_groups: int, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Counts of shape (groups, 2, n_bins): axis 1 is reference (0) and current (1).

    `keys` come from `window_keys`; rows with a negative bin (missing value) are left out.
    """
    valid = bins >= 0
    key = keys[valid] * n_bins + bins[valid] if not valid.all() else keys * n_bins + bins
    return np.bincount(key, minlength=n_groups * 2 * n_bins).reshape(n_groups, 2, n_bins)


def histogram_moments(counts: np.ndarray, support: np.ndarray) -> np.ndarray:
    """(count, mean, std) per leading index of binned counts (..., n_bins), from bin means."""
    n = counts.sum(axis=-1).astype(np.float64)
    safe = np.maximum(n, 1.0)
    mean = (counts @ support) / safe
    var = (counts @ (support**2)) / safe - mean**2
    mean = np.where(n > 0, mean, np.nan)
    return np.stack([n, mean, np.sqrt(np.maximum(var, 0.0))], axis=-1)

