"""Two-sample drift tests on binned counts, chosen by feature type and reference size.

The choice mirrors Evidently's default data-drift preset (written here with scipy):
a reference of at most 1000 observations gets a p-value test (two-sample KS for numeric
features, chi-square for categorical ones, a two-proportion z-test for binary ones); a
larger reference gets a distance (Wasserstein normalized by the reference standard
deviation for numeric features, Jensen-Shannon for categorical ones, threshold 0.1);
numeric features with at most 5 distinct values are treated as categorical. PSI is
reported alongside.

Unlike Evidently, every comparison also carries a p-value (KS or chi-square) so that
Benjamini-Hochberg can control the false discovery rate across the hundreds of
slice x feature tests, and a verdict needs both significance and an effect size at or
above a floor: with a million rows every tiny shift is "significant". With a few hundred
rows the distance itself is noisy (two samples of one distribution are about
1.25 * sqrt(1/n + 1/m) reference stds apart in Wasserstein), so the floor is raised by
the 99.9th percentile of that null distance (`noise`): a ticket means the shift exceeds
the floor by more than chance could.

Everything works on counts over shared bins so that one `np.bincount` pass over a
million sessions yields the histograms of every slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

LARGE_REFERENCE = 1000  # Evidently: above this reference size, distances replace p-values
NUMERIC_NOISE_Q999 = 4.0  # 99.9th pct of W/std / sqrt(1/n+1/m) between same-distribution samples
FEW_VALUES = 5  # Evidently: numeric features with at most this many values are categorical
PSI_FILL = 1e-4  # Evidently's fill for empty PSI bins
STD_FLOOR = 1e-3  # Evidently's floor on the reference std when normalizing Wasserstein


@dataclass(frozen=True)
class Comparison:
    """One feature compared between a reference and a current sample."""

    test: str  # ks | wasserstein_norm | chisquare | z | jensenshannon
    statistic: float  # the chosen test's statistic (D, normalized W, chi2, z or JS distance)
    p_value: float  # KS or chi-square/z p-value, also for distance tests (for FDR control)
    effect: float  # normalized Wasserstein (numeric) or Jensen-Shannon distance (categorical)
    noise: float  # 99.9th percentile of `effect` between two samples of one distribution
    psi: float
    n_reference: int
    n_current: int
    kind: str  # numeric | categorical


def _as_counts(counts: np.ndarray) -> np.ndarray:
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got shape {arr.shape}")
    if np.any(arr < 0):
        raise ValueError("counts must be non-negative")
    return arr


def ks_from_counts(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and p-value from counts over shared, ordered bins.

    D is the largest CDF gap at bin edges (the exact D when values within a bin are equal,
    a lower bound otherwise). The p-value is scipy's asymptotic one,
    `kstwo.sf(D, round(n*m/(n+m)))`, as `ks_2samp(method="asymp")` computes it.
    """
    ref, cur = _as_counts(reference), _as_counts(current)
    n, m = ref.sum(), cur.sum()
    if n == 0 or m == 0:
        raise ValueError("KS needs a non-empty reference and current sample")
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    return d, float(ks_p_value(np.array([d]), np.array([n]), np.array([m]))[0])


def ks_p_value(d: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Asymptotic two-sided KS p-value with Stephens' small-sample correction,
    Q_KS((sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D), en = n*m/(n+m) (Numerical Recipes 14.3).
    Vectorized and fast; within ~1e-3 of scipy's exact p-values at the sizes the scan tests."""
    en = np.sqrt(n * m / (n + m))
    return np.clip(stats.kstwobign.sf((en + 0.12 + 0.11 / en) * d), 0.0, 1.0)


def wasserstein_from_counts(reference: np.ndarray, current: np.ndarray, support: np.ndarray) -> float:
    """First Wasserstein distance between two weighted samples on the same sorted support."""
    ref, cur = _as_counts(reference), _as_counts(current)
    support = np.asarray(support, dtype=np.float64)
    if not (len(support) == len(ref) == len(cur)):
        raise ValueError("support and counts must have the same length")
    if len(support) < 2:
        return 0.0
    gap = np.abs(np.cumsum(ref)[:-1] / ref.sum() - np.cumsum(cur)[:-1] / cur.sum())
    return float(np.sum(gap * np.diff(support)))


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index over the given bins (empty bins filled as Evidently does)."""
    ref, cur = _as_counts(reference), _as_counts(current)
    p = np.where(ref > 0, ref / ref.sum(), PSI_FILL)
    q = np.where(cur > 0, cur / cur.sum(), PSI_FILL)
    return float(np.sum((p - q) * np.log(p / q)))


def decile_groups(reference: np.ndarray, groups: int = 10) -> np.ndarray:
    """Map fine bins to about `groups` coarse bins of equal reference mass (for PSI)."""
    ref = _as_counts(reference)
    cdf = np.cumsum(ref) / max(ref.sum(), 1.0)
    # A bin belongs to the decile its left edge falls in, so coarse groups never split bins.
    left = np.concatenate(([0.0], cdf[:-1]))
    return np.minimum((left * groups).astype(np.int64), groups - 1)


def coarsen(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return np.bincount(groups, weights=_as_counts(counts), minlength=int(groups.max()) + 1)


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between two count vectors."""
    ref, cur = _as_counts(reference), _as_counts(current)
    value = distance.jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2)
    return 0.0 if math.isnan(value) else float(value)


def chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of a 2 x K contingency table (empty columns dropped)."""
    table = np.vstack([_as_counts(reference), _as_counts(current)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def z_proportions(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-proportion z-test for a binary feature (the first of the two categories)."""
    ref, cur = _as_counts(reference), _as_counts(current)
    present = (ref + cur) > 0
    if present.sum() < 2:
        return 0.0, 1.0
    first = int(np.flatnonzero(present)[0])
    n1, n2 = ref.sum(), cur.sum()
    p1, p2 = ref[first] / n1, cur[first] / n2
    pooled = (ref[first] + cur[first]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se if se > 0 else 0.0
    return float(z), float(2 * stats.norm.sf(abs(z)))


def compare_categorical_batch(reference: np.ndarray, current: np.ndarray) -> list[Comparison]:
    """`compare_categorical` for many slices at once: counts of shape (slices, categories).

    The chi-square statistic is computed directly (the same homogeneity test as
    `chi_square`, vectorized); binary slices use the z-test.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    n_ref, n_cur = ref.sum(axis=1), cur.sum(axis=1)
    if np.any(n_ref == 0) or np.any(n_cur == 0):
        raise ValueError("a comparison needs a non-empty reference and current sample")
    total = ref + cur
    k = np.count_nonzero(total, axis=1)
    n = n_ref + n_cur
    exp_ref = total * (n_ref / n)[:, None]
    exp_cur = total * (n_cur / n)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(total > 0, (ref - exp_ref) ** 2 / exp_ref + (cur - exp_cur) ** 2 / exp_cur, 0.0)
        pr, pc = ref / n_ref[:, None], cur / n_cur[:, None]
        m = (pr + pc) / 2
        kl = lambda a: np.where(a > 0, a * np.log2(a / m), 0.0).sum(axis=1)  # noqa: E731
        js = np.sqrt(np.maximum((kl(pr) + kl(pc)) / 2, 0.0))
    chi2 = terms.sum(axis=1)
    p = stats.chi2.sf(chi2, np.maximum(k - 1, 1))
    noise = np.sqrt(stats.chi2.ppf(0.999, np.maximum(k - 1, 1)) / (8 * math.log(2)) * (1 / n_ref + 1 / n_cur))
    fr = np.where(ref > 0, pr, PSI_FILL)
    fc = np.where(cur > 0, pc, PSI_FILL)
    index = np.where(total > 0, (fr - fc) * np.log(fr / fc), 0.0).sum(axis=1)
    out = []
    for i in range(len(ref)):
        if k[i] <= 2:
            out.append(compare_categorical(ref[i], cur[i]))
            continue
        test, statistic = ("jensenshannon", js[i]) if n_ref[i] > LARGE_REFERENCE else ("chisquare", chi2[i])
        out.append(Comparison(test, float(statistic), float(p[i]), float(js[i]), float(noise[i]), float(index[i]),
                              int(n_ref[i]), int(n_cur[i]), "categorical"))
    return out


def compare_categorical(reference: np.ndarray, current: np.ndarray) -> Comparison:
    ref, cur = _as_counts(reference), _as_counts(current)
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    if n_ref == 0 or n_cur == 0:
        raise ValueError("a comparison needs a non-empty reference and current sample")
    n_values = int(np.count_nonzero(ref + cur))
    js = jensen_shannon(ref, cur)
    if n_values <= 2:
        z, p = z_proportions(ref, cur)
        test, statistic = "z", z
    else:
        chi2, p = chi_square(ref, cur)
        test, statistic = "chisquare", chi2
    if n_ref > LARGE_REFERENCE:
        test, statistic = "jensenshannon", js
    # Under H0, JS divergence ~ chi2(K-1) / (8 ln2 n_eff): the distance's 99.9th percentile.
    noise = math.sqrt(stats.chi2.ppf(0.999, max(n_values - 1, 1)) / (8 * math.log(2)) * (1 / n_ref + 1 / n_cur))
    return Comparison(test, float(statistic), p, js, noise, psi(ref, cur), n_ref, n_cur, "categorical")


def compare_numeric(
    reference: np.ndarray, current: np.ndarray, support: np.ndarray, reference_std: float
) -> Comparison:
    """Compare a numeric feature binned on `support` (sorted bin representatives)."""
    ref, cur = _as_counts(reference), _as_counts(current)
    if len(ref) != len(cur) or len(ref) != len(support):
        raise ValueError("support and counts must have the same length")
    return compare_numeric_batch(ref[None, :], cur[None, :], np.asarray(support, dtype=np.float64),
                                 np.array([reference_std]))[0]


def compare_numeric_batch(
    reference: np.ndarray, current: np.ndarray, support: np.ndarray, reference_std: np.ndarray
) -> list[Comparison]:
    """`compare_numeric` for many slices at once: counts of shape (slices, bins)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    n_ref, n_cur = ref.sum(axis=1), cur.sum(axis=1)
    if np.any(n_ref == 0) or np.any(n_cur == 0):
        raise ValueError("a comparison needs a non-empty reference and current sample")
    cdf_ref = np.cumsum(ref, axis=1) / n_ref[:, None]
    cdf_cur = np.cumsum(cur, axis=1) / n_cur[:, None]
    gap = np.abs(cdf_ref - cdf_cur)
    d = gap.max(axis=1)
    p = ks_p_value(d, n_ref, n_cur)
    w = (gap[:, :-1] * np.diff(support)).sum(axis=1) if ref.shape[1] > 1 else np.zeros(len(ref))
    w_norm = w / np.maximum(reference_std, STD_FLOOR)
    # PSI over about ten bins of equal reference mass per slice.
    left = np.concatenate([np.zeros((len(ref), 1)), cdf_ref[:, :-1]], axis=1)
    decile = np.minimum((left * 10).astype(np.int64), 9) + 10 * np.arange(len(ref))[:, None]
    coarse_ref = np.bincount(decile.ravel(), weights=ref.ravel(), minlength=10 * len(ref)).reshape(-1, 10)
    coarse_cur = np.bincount(decile.ravel(), weights=cur.ravel(), minlength=10 * len(ref)).reshape(-1, 10)
    used = coarse_ref + coarse_cur > 0
    pr = np.where(coarse_ref > 0, coarse_ref / n_ref[:, None], PSI_FILL)
    pc = np.where(coarse_cur > 0, coarse_cur / n_cur[:, None], PSI_FILL)
    index = np.where(used, (pr - pc) * np.log(pr / pc), 0.0).sum(axis=1)
    noise = NUMERIC_NOISE_Q999 * np.sqrt(1 / n_ref + 1 / n_cur)
    few = np.count_nonzero(ref + cur, axis=1) <= FEW_VALUES
    few_results = iter(compare_categorical_batch(ref[few], cur[few]) if few.any() else [])
    out = []
    for i in range(len(ref)):
        if few[i]:
            out.append(next(few_results))
        elif n_ref[i] > LARGE_REFERENCE:
            out.append(Comparison("wasserstein_norm", float(w_norm[i]), float(p[i]), float(w_norm[i]),
                                  float(noise[i]), float(index[i]), int(n_ref[i]), int(n_cur[i]), "numeric"))
        else:
            out.append(Comparison("ks", float(d[i]), float(p[i]), float(w_norm[i]), float(noise[i]),
                                  float(index[i]), int(n_ref[i]), int(n_cur[i]), "numeric"))
    return out


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values): reject where adjusted < alpha controls the FDR."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    if np.any((p < 0) | (p > 1) | np.isnan(p)):
        raise ValueError("p-values must be in [0, 1]")
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted = np.empty_like(p)
    adjusted[order] = adjusted_sorted
    return adjusted


def severity_for(p_adjusted: float, effect: float, floor: float, alpha: float, noise: float = 0.0) -> str | None:
    """`ticket` when significant after FDR control and the effect exceeds its floor by more
    than the noise; `info` when it exceeds half the floor; otherwise no finding."""
    if p_adjusted >= alpha:
        return None
    if effect >= floor + noise:
        return "ticket"
    if effect >= floor / 2 + noise:
        return "info"
    return None
