"""Calibration health: does a predicted word accuracy match the labelled utterances' correctness?

Per-utterance correctness is the utterance's word accuracy, c = 1 - min((S+D+I)/N, 1): the
share of its reference words recognised, clipped at 0 so that insertions beyond N do not make it
negative. Not "utterance correct = WER 0": engine confidences (and the label-free estimate built
on them) speak about words, and a long utterance is rarely perfect even when each word is likely
right, so a 0/1 outcome would read a well-calibrated word confidence as overconfident by a
margin that depends on utterance length.

For predictions q in [0, 1] (raw confidence, or the calibration's out-of-fold prediction) of n
utterances, each utterance counting once:

- reliability slope: the least-squares slope of c on q, cov(q, c) / var(q). 1 when the
  predictions spread as much as the outcomes do; under 1, the predictions are too extreme (the
  classic sign of a calibration fitted to too few labels); over 1, too timid. Undefined (None)
  when the predictions do not vary.
- reliability intercept: mean(c) - mean(q), the fit with the slope held at 1, i.e.
  calibration-in-the-large (Van Calster et al. 2016, "A calibration hierarchy for risk models",
  J Clin Epidemiol 74:167-176; computed the same way, mean(y) - mean(p), in
  tuur/CalibrationSlopeInterceptPython). It is read where the data are: the free regression
  line's value at q = 0, far from any utterance, would mostly echo the slope.
- ECE: sum over bins of n_b / n * |mean(c) - mean(q)| in the bin (Naeini et al. 2015; Guo et
  al. 2017), with `bins` equal-width bins over [0, 1], right-closed, (k/B, (k+1)/B], 0 in the
  first: the edges and `searchsorted` binning of scikit-learn's `calibration_curve(strategy=
  "uniform")` (scikit-learn/scikit-learn sklearn/calibration.py), whose per-bin means the tests
  check this against; torchmetrics' `binary_calibration_error` (Lightning-AI/torchmetrics
  src/torchmetrics/functional/classification/calibration_error.py) sums the same gaps.

All three come from sufficient statistics per group (`np.bincount`), so every slice of a model
version is judged in one pass over its labelled utterances.

The rule judges the evidence, not the point estimates. Near `min_samples` the point estimates are
noisy (perfectly calibrated word accuracies on 50 utterances give slopes of 0.67..1.34 and ECEs
biased upward by a few items per bin), so a point-estimate gate would withhold a sound estimate
at random. A group is unhealthy only when, at the rule's `level` (95%):

- the slope's interval lies entirely outside [slope_min, slope_max]: slope ± t(n-2) · SE, with
  the heteroscedasticity-robust HC1 standard error (White's sandwich times n/(n-2), as
  statsmodels' `cov_HC1`, statsmodels/regression/linear_model.py), since the noise of a word
  accuracy depends on its level and the utterance's length;
- the intercept's interval, mean(c - q) ± t(n-1) · sd(c - q)/√n, lies entirely beyond
  ±max_intercept;
- the ECE's lower bound, ECE minus the noise a perfectly calibrated sample of this size would
  show, exceeds max_ece. Each bin's |mean gap| is at least its noise-free gap less the noise's
  |mean|; summed over bins, that noise is a sum of half-normals, mean √(2/π) Σ n_b/n · s_b/√n_b
  and variance (1 - 2/π) Σ (n_b/n)² s_b²/n_b (s_b: the bin's sd of c - q; the group's where a
  bin holds one utterance), bounded at its mean + z · sd.

So a sound calibration is withheld rarely at any n (the tests simulate under 10% at n = 50),
while a clearly broken one (slope 0.5, or ECE 0.15) is withheld from a few hundred labels on.
The intervals are reported beside the point estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

DEFAULT_BINS = 10


@dataclass(frozen=True)
class HealthRule:
    """What "healthy" means: enough utterances, and slope, intercept and ECE not shown (at
    `level`) to lie outside their bands."""

    min_samples: int = 50
    slope_min: float = 0.8
    slope_max: float = 1.2
    max_intercept: float = 0.03  # |mean(c) - mean(q)|, in word-accuracy units (= WER points)
    max_ece: float = 0.05
    bins: int = DEFAULT_BINS
    level: float = 0.95  # of the intervals the rule judges by (module docstring)


@dataclass
class CalibrationHealth:
    n: int
    slope: float | None
    intercept: float | None
    ece: float | None
    mean_predicted: float | None
    mean_observed: float | None
    problems: list[str] = field(default_factory=list)
    slope_ci: tuple[float, float] | None = None
    intercept_ci: tuple[float, float] | None = None
    ece_low: float | None = None  # ECE less the noise of a calibrated sample this size, at least 0

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"n": self.n, "slope": _finite(self.slope), "intercept": _finite(self.intercept),
                "ece": _finite(self.ece), "mean_predicted": _finite(self.mean_predicted),
                "mean_observed": _finite(self.mean_observed), "healthy": self.healthy,
                "problems": list(self.problems), "slope_ci": _interval(self.slope_ci),
                "intercept_ci": _interval(self.intercept_ci), "ece_low": _finite(self.ece_low)}


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _interval(ci: tuple[float, float] | None) -> list[float] | None:
    return [float(ci[0]), float(ci[1])] if ci is not None and all(map(math.isfinite, ci)) else None


def correctness(errors: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Per-utterance word accuracy, 1 - min(errors / words, 1); NaN where words <= 0."""
    out = np.full(np.shape(errors), np.nan)
    ok = words > 0
    out[ok] = 1.0 - np.minimum(errors[ok] / words[ok], 1.0)
    return out


def bin_index(predicted: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width, right-closed bins over [0, 1] as `calibration_curve(strategy="uniform")`."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.searchsorted(edges[1:-1], np.clip(predicted, 0.0, 1.0))


def grouped_health(predicted: np.ndarray, observed: np.ndarray, groups: np.ndarray, n_groups: int,
                   rule: HealthRule) -> list[CalibrationHealth]:
    """Calibration health of each group 0..n_groups-1 (rows with a NaN are left out)."""
    keep = np.isfinite(predicted) & np.isfinite(observed) & (groups >= 0)
    q, c, g = np.clip(predicted[keep], 0.0, 1.0), observed[keep], groups[keep].astype(np.int64)
    n = np.bincount(g, minlength=n_groups).astype(np.float64)
    safe = np.maximum(n, 1)
    q_mean = np.bincount(g, weights=q, minlength=n_groups) / safe
    c_mean = np.bincount(g, weights=c, minlength=n_groups) / safe
    # Centred sums (each row minus its group's mean): no cancellation when q sits near 0.9.
    dq, dc = q - q_mean[g], c - c_mean[g]
    sqq = np.bincount(g, weights=dq * dq, minlength=n_groups)
    sqc = np.bincount(g, weights=dq * dc, minlength=n_groups)
    sdd = np.bincount(g, weights=(dc - dq) ** 2, minlength=n_groups)  # spread of the gap c - q
    slopes = sqc / np.where(sqq > 0, sqq, 1.0)
    resid = dc - slopes[g] * dq
    meat = np.bincount(g, weights=dq * dq * resid * resid, minlength=n_groups)  # HC0's sandwich filling
    cell = g * rule.bins + bin_index(q, rule.bins)
    size = n_groups * rule.bins
    cell_n = np.bincount(cell, minlength=size)
    cell_sum = np.bincount(cell, weights=c - q, minlength=size)
    cell_dev = (c - q) - (cell_sum / np.maximum(cell_n, 1))[cell]
    cell_ss = np.bincount(cell, weights=cell_dev * cell_dev, minlength=size)
    cell_gap = np.abs(cell_sum).reshape(n_groups, rule.bins)
    cell_n, cell_ss = cell_n.reshape(n_groups, rule.bins), cell_ss.reshape(n_groups, rule.bins)
    out = []
    for k in range(n_groups):
        count = int(n[k])
        if count == 0:
            out.append(CalibrationHealth(0, None, None, None, None, None,
                                         [f"too few labelled samples: 0 < {rule.min_samples}"]))
            continue
        # A spread below float noise around the mean is no spread: the slope is undefined.
        varies = sqq[k] > count * 1e-12
        slope = float(slopes[k]) if varies else None
        # |sum of gaps| per bin / n = sum over bins of n_b / n * |mean gap in the bin|.
        health = CalibrationHealth(count, slope, float(c_mean[k] - q_mean[k]), float(cell_gap[k].sum() / count),
                                   float(q_mean[k]), float(c_mean[k]))
        if count >= 3:  # an interval needs a residual degree of freedom
            _intervals(health, rule, sqq[k] if varies else None, meat[k], sdd[k], cell_n[k], cell_ss[k])
        health.problems = _problems(health, rule)
        out.append(health)
    return out


def _intervals(h: CalibrationHealth, rule: HealthRule, sqq: float | None, meat: float, sdd: float,
               cell_n: np.ndarray, cell_ss: np.ndarray) -> None:
    """Fill the slope and intercept intervals and the ECE's lower bound (module docstring)."""
    n, tail = h.n, 1 - (1 - rule.level) / 2
    if sqq is not None:
        se = math.sqrt(meat * n / (n - 2)) / sqq  # HC1: sqrt(sum dq² e² · n/(n-2)) / sum dq²
        half = float(stats.t.ppf(tail, n - 2)) * se
        h.slope_ci = (h.slope - half, h.slope + half)
    sd_gap = math.sqrt(sdd / (n - 1))
    half = float(stats.t.ppf(tail, n - 1)) * sd_gap / math.sqrt(n)
    h.intercept_ci = (h.intercept - half, h.intercept + half)
    # Per bin the sd of c - q; a bin of one utterance has none of its own: the group's stands in.
    used = cell_n > 0
    nb = cell_n[used].astype(np.float64)
    sd_b = np.where(nb >= 2, np.sqrt(cell_ss[used] / np.maximum(nb - 1, 1)), sd_gap)
    noise_mean = math.sqrt(2 / math.pi) * float(np.sum(np.sqrt(nb) * sd_b)) / n
    noise_sd = math.sqrt((1 - 2 / math.pi) * float(np.sum(nb * sd_b * sd_b))) / n
    h.ece_low = max(h.ece - noise_mean - float(stats.norm.ppf(tail)) * noise_sd, 0.0)


def calibration_health(predicted: np.ndarray, observed: np.ndarray, rule: HealthRule) -> CalibrationHealth:
    return grouped_health(predicted, observed, np.zeros(len(predicted), dtype=np.int64), 1, rule)[0]


def _problems(h: CalibrationHealth, rule: HealthRule) -> list[str]:
    if h.n < rule.min_samples:  # thresholds on a handful of utterances would judge noise
        return [f"too few labelled samples: {h.n} < {rule.min_samples}"]
    problems = []
    pct = f"{rule.level:.0%}"
    if h.slope is None:
        problems.append("slope undefined: the predictions do not vary")
    elif h.slope_ci is not None and (h.slope_ci[1] < rule.slope_min or h.slope_ci[0] > rule.slope_max):
        problems.append(f"slope {h.slope:.2f} outside {rule.slope_min:g}..{rule.slope_max:g} "
                        f"({pct} interval {h.slope_ci[0]:.2f}..{h.slope_ci[1]:.2f})")
    if h.intercept_ci is not None and (h.intercept_ci[0] > rule.max_intercept
                                       or h.intercept_ci[1] < -rule.max_intercept):
        problems.append(f"intercept {h.intercept:+.3f} beyond ±{rule.max_intercept:g} "
                        f"({pct} interval {h.intercept_ci[0]:+.3f}..{h.intercept_ci[1]:+.3f})")
    if h.ece_low is not None and h.ece_low > rule.max_ece:
        problems.append(f"ECE {h.ece:.3f} over {rule.max_ece:g} (at least {h.ece_low:.3f} beyond sampling noise)")
    return problems


def reliability_points(predicted: np.ndarray, observed: np.ndarray, bins: int = DEFAULT_BINS) -> list[dict]:
    """The reliability diagram: per non-empty bin, mean prediction, mean correctness, count."""
    keep = np.isfinite(predicted) & np.isfinite(observed)
    q, c = np.clip(predicted[keep], 0.0, 1.0), observed[keep]
    index = bin_index(q, bins)
    n = np.bincount(index, minlength=bins)
    qs, cs = np.bincount(index, weights=q, minlength=bins), np.bincount(index, weights=c, minlength=bins)
    return [{"confidence": float(qs[b] / n[b]), "accuracy": float(cs[b] / n[b]), "count": int(n[b])}
            for b in range(bins) if n[b]]
