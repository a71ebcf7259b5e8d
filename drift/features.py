"""Session and sample rows as numpy columns, with the drift features derived from them.

Rows from the reference and current windows live in one table with an `is_current`
flag, so categorical codes and numeric bins are shared and a single pass serves both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

NUMERIC_FEATURES = (
    "confidence",
    "snr_db",
    "audio_seconds",
    "words_per_second",
    "final_latency_ms",
    "first_partial_ms",
    "partial_rewrite_rate",
)
# hallucination: "flagged" or "clean" per session checked at ingest (`collector.measures.hallucination`),
# sessions not checked left out: the test compares the flagged share of a slice.
CATEGORICAL_FEATURES = ("status", "channel", "language", "hallucination")
SLICE_DIMENSIONS = ("region", "channel", "model_version", "tenant")  # the default slices (`DriftConfig.dimensions`)
MAX_BINS = 512
QUANTILE_SAMPLE = 65_536
MISSING = "unknown"


def slice_columns(dimensions: Sequence[str]) -> tuple[str, ...]:
    """The slice columns a scan reads for its `dimensions`: those, and model_version whatever they
    are (label-free WER and pinned baselines are per version). SLICE_DIMENSIONS for the default."""
    return tuple(dict.fromkeys((*dimensions, "model_version")))


@dataclass
class Encoded:
    """A categorical column as integer codes into `levels`."""

    codes: np.ndarray
    levels: list[str]

    def code_of(self, level: str) -> int:
        return self.levels.index(level)

    def __len__(self) -> int:
        return len(self.codes)


def encode(values: Sequence[str | None], levels: list[str] | None = None) -> Encoded:
    """Integer codes by hashing (the distinct values, then one lookup per row). New levels come in
    order of first appearance, not a set's order: that varies with Python's hash seed, and the
    order of levels is the order versions draw from the scan's one seeded generator, so reports
    differed from process to process."""
    names = list(levels or [])
    lookup = {v: i for i, v in enumerate(names)}
    for value in dict.fromkeys(values):
        name = MISSING if value is None or value == "" else str(value)
        if name not in lookup:
            lookup[name] = len(names)
            names.append(name)
        lookup[value] = lookup[name]
    codes = np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))
    return Encoded(codes, names)


def as_float(values: Iterable[float | None]) -> np.ndarray:
    """Floats with NaN for None (numpy converts None to NaN for float arrays)."""
    return np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is missing or not positive."""
    out = np.full(numerator.shape, np.nan)
    ok = np.isfinite(numerator) & np.isfinite(denominator) & (denominator > 0)
    np.divide(numerator, denominator, out=out, where=ok)
    return out


HALLUCINATION_LEVELS = ["clean", "flagged"]


def hallucination_levels(reasons: np.ndarray) -> Encoded:
    """Each session's hallucination bitmask as a level, "flagged" (any reason) or "clean", and
    code -1 where it was not checked (no transcript): counting leaves those rows out, so the
    share compared is the flagged share of the sessions checked, whoever sent text or not."""
    codes = np.where(np.isnan(reasons), -1, np.nan_to_num(reasons) > 0).astype(np.int32)
    return Encoded(codes, list(HALLUCINATION_LEVELS))


@dataclass
class SessionTable:
    """Sessions of both windows. `numeric` values are NaN where missing."""

    session_id: np.ndarray  # object array of str
    is_current: np.ndarray  # bool: current window (else reference)
    numeric: dict[str, np.ndarray]
    categorical: dict[str, Encoded]
    hypothesis_words: np.ndarray  # NaN where the transcript is missing (retention)

    def __len__(self) -> int:
        return len(self.is_current)

    def select(self, keep: np.ndarray) -> "SessionTable":
        """The rows where `keep` is true, in order; each categorical column keeps its levels, so
        codes mean what they meant (the samples' table is encoded against them)."""
        return SessionTable(
            session_id=self.session_id[keep], is_current=self.is_current[keep],
            numeric={name: values[keep] for name, values in self.numeric.items()},
            categorical={name: Encoded(enc.codes[keep], enc.levels) for name, enc in self.categorical.items()},
            hypothesis_words=self.hypothesis_words[keep])


def session_table(columns: dict[str, Sequence], dimensions: Sequence[str] = SLICE_DIMENSIONS) -> SessionTable:
    """Build the table from raw columns (as `drift.source` reads them).

    `columns` holds session_id, is_current (truthy for the current window), the slice
    columns of `dimensions` (`slice_columns`), status, language, the numeric session fields, hypothesis_words
    (whitespace word count of the transcript, None when absent) and hallucination (the reason
    bitmask stored at ingest, None where not checked).
    """
    slices = slice_columns(dimensions)
    required = ("session_id", "is_current", "status", "audio_seconds") + slices
    for name in required:
        if name not in columns:
            raise ValueError(f"session columns: missing '{name}'")
    is_current = np.asarray(columns["is_current"]).astype(bool)
    n = len(is_current)
    for name, col in columns.items():
        if len(col) != n:
            raise ValueError(f"session columns: '{name}' has {len(col)} rows, expected {n}")

    def numeric(name: str) -> np.ndarray:
        col = columns.get(name)
        if col is None:
            return np.full(n, np.nan)
        return col if isinstance(col, np.ndarray) and col.dtype == np.float64 else as_float(col)

    audio = numeric("audio_seconds")
    words = numeric("hypothesis_words")
    values = {
        "confidence": numeric("confidence"),
        "snr_db": numeric("snr_db"),
        "audio_seconds": audio,
        "words_per_second": ratio(words, audio),
        "final_latency_ms": numeric("final_latency_ms"),
        "first_partial_ms": numeric("first_partial_ms"),
        "partial_rewrite_rate": ratio(numeric("partial_rewrites"), audio),
    }
    cats = {}
    for name in dict.fromkeys(slices + CATEGORICAL_FEATURES):
        col = columns.get(name)
        if name == "hallucination":
            cats[name] = col if isinstance(col, Encoded) else hallucination_levels(numeric(name))
            continue
        cats[name] = col if isinstance(col, Encoded) else encode(col if col is not None else [None] * n)
    return SessionTable(
        session_id=np.asarray(columns["session_id"], dtype=object),
        is_current=is_current,
        numeric=values,
        categorical=cats,
        hypothesis_words=words,
    )


@dataclass
class Binning:
    """Shared bins of one numeric feature: `index` per row (-1 where missing)."""

    index: np.ndarray
    support: np.ndarray  # per-bin mean of the pooled values, sorted
    n_bins: int
    edges: np.ndarray  # n_bins + 1 edges, for charts


def bin_numeric(values: np.ndarray, max_bins: int = MAX_BINS) -> Binning:
    """Quantile bins over the pooled values, so every bin holds about 1/max_bins of the mass.

    Each bin is represented by the mean of its values, which keeps the binned Wasserstein
    distance close to the exact one even in long latency tails.
    """
    finite = np.isfinite(values)
    index = np.full(values.shape, -1, dtype=np.int32)
    if not finite.any():
        return Binning(index, np.zeros(0), 0, np.zeros(0))
    present = values[finite]
    # Edges from an evenly strided subsample (bins only discretize; bin means use every row).
    stride = max(len(present) // QUANTILE_SAMPLE, 1)
    sample = present[::stride]
    edges = np.unique(np.concatenate([[present.min()], np.quantile(sample, np.linspace(0.0, 1.0, max_bins + 1))[1:-1],
                                      [present.max()]]))
    if len(edges) == 1:
        index[finite] = 0
        return Binning(index, edges.copy(), 1, np.array([edges[0], edges[0]]))
    # Right-closed bins (a, b]; the minimum joins the first bin.
    inner = np.searchsorted(edges[1:-1], present, side="left").astype(np.int32)
    index[finite] = inner
    n_bins = len(edges) - 1
    sums = np.bincount(inner, weights=present, minlength=n_bins)
    counts = np.bincount(inner, minlength=n_bins)
    occupied = counts > 0
    # Empty bins keep their midpoint so the support stays sorted.
    support = np.where(occupied, sums / np.maximum(counts, 1), (edges[:-1] + edges[1:]) / 2)
    return Binning(index, support, n_bins, edges)


@dataclass
class SampleTable:
    """Labeled samples joined to their sessions (dimensions and confidence)."""

    session_id: np.ndarray
    ts: np.ndarray  # epoch seconds of the session
    window: np.ndarray  # 1 current, 0 reference, -1 neither (calibration and trend only)
    errors: np.ndarray  # substitutions + deletions + insertions
    ref_words: np.ndarray
    confidence: np.ndarray
    categorical: dict[str, Encoded]
    reference: list[str | None]
    hypothesis: list[str | None]

    def __len__(self) -> int:
        return len(self.ts)


def sample_table(columns: dict[str, Sequence], levels: dict[str, list[str]] | None = None,
                 dimensions: Sequence[str] = SLICE_DIMENSIONS) -> SampleTable:
    """Samples with the session's slice columns (`slice_columns(dimensions)`), encoded with the
    session table's levels."""
    for name in ("session_id", "ts", "substitutions", "deletions", "insertions", "ref_words"):
        if name not in columns:
            raise ValueError(f"sample columns: missing '{name}'")
    n = len(columns["ts"])
    levels = levels or {}
    errors = (
        np.asarray(columns["substitutions"], dtype=np.float64)
        + np.asarray(columns["deletions"], dtype=np.float64)
        + np.asarray(columns["insertions"], dtype=np.float64)
    )
    cats = {}
    for name in slice_columns(dimensions):
        known = list(levels.get(name, []))
        cats[name] = encode(columns.get(name, [None] * n), known)
    return SampleTable(
        session_id=np.asarray(columns["session_id"], dtype=object),
        ts=np.asarray(columns["ts"], dtype=np.float64),
        window=np.asarray(columns.get("window", np.full(n, -1)), dtype=np.int8),
        errors=errors,
        ref_words=np.asarray(columns["ref_words"], dtype=np.float64),
        confidence=as_float(columns.get("confidence", [None] * n)),
        categorical=cats,
        reference=list(columns.get("reference", [None] * n)),
        hypothesis=list(columns.get("hypothesis", [None] * n)),
    )
