"""Label-free WER: calibrate a model version's confidence against its labeled samples and
estimate corpus WER on the unlabeled traffic.

Isotonic regression maps confidence to the expected error rate per reference word (it only
assumes that more confident utterances are not worse). The corpus estimate weights each
unlabeled session by its transcript length, and its interval comes from refitting the
calibration on bootstrap resamples of the labeled set, which is where the uncertainty
lives (the unlabeled traffic is large). The estimate is only as good as the calibration:
it warns when the labels are old or the traffic's confidence has shifted, and it withholds the
number (null, with `withheld_reason`) when it cannot back it: too few labels, an unhealthy
calibration (`drift.calibration_health` on the out-of-fold predictions, which is what the
estimate relies on; the raw confidence's health is reported beside it for the model owner), too
much traffic outside the calibrated confidence range, or drift in a feature that can change the
error at a given confidence (`drift.label_free_drift_features`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import stats
from sklearn.isotonic import IsotonicRegression, isotonic_regression

from collector.measures import wer as wer_math
from drift.calibration_health import CalibrationHealth, HealthRule, correctness, grouped_health, reliability_points
from drift.findings import SEVERITY_RANK, Finding
from drift.statistics import STD_FLOOR, wasserstein_from_counts

ECE_BINS = 10
TARGET_BINS = 1000  # unlabeled confidences are summarized on this grid before prediction


LEVELS = 1000  # confidences are pooled at this resolution before fitting


def _fit_pooled(level: np.ndarray, errors: np.ndarray, words: np.ndarray) -> IsotonicRegression:
    """Isotonic fit on utterances pooled per confidence level: with weights = words and
    y = errors/words, pooling equal x is exactly what weighted least squares does anyway."""
    err = np.bincount(level, weights=errors, minlength=LEVELS + 1)
    wrd = np.bincount(level, weights=words, minlength=LEVELS + 1)
    used = wrd > 0
    if used.sum() < 2:
        raise ValueError("calibration needs labeled utterances at two or more confidence levels")
    model = IsotonicRegression(increasing=False, y_min=0.0, out_of_bounds="clip")
    model.fit(np.flatnonzero(used) / LEVELS, err[used] / wrd[used], sample_weight=wrd[used])
    return model


def _level(confidence: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(confidence, 0, 1) * LEVELS).astype(np.int64)


def fit_isotonic(confidence: np.ndarray, errors: np.ndarray, words: np.ndarray) -> IsotonicRegression:
    """Expected errors per reference word as a non-increasing function of confidence."""
    keep = np.isfinite(confidence) & (words > 0)
    return _fit_pooled(_level(confidence[keep]), errors[keep], words[keep])


def expected_calibration_error(
    predicted_accuracy: np.ndarray, accuracy: np.ndarray, weights: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Weighted ECE over equal-width bins of the predicted word accuracy."""
    keep = np.isfinite(predicted_accuracy) & np.isfinite(accuracy) & (weights > 0)
    p, a, w = predicted_accuracy[keep], accuracy[keep], weights[keep]
    if w.sum() == 0:
        return math.nan
    index = np.minimum((np.clip(p, 0, 1) * bins).astype(np.int64), bins - 1)
    wsum = np.bincount(index, weights=w, minlength=bins)
    gap = np.abs(np.bincount(index, weights=w * p, minlength=bins) - np.bincount(index, weights=w * a, minlength=bins))
    return float(gap.sum() / wsum.sum())


def _cross_fitted_error_rate(confidence, errors, words, folds: int, rng) -> np.ndarray:
    """Out-of-fold isotonic predictions, so the calibrated ECE is not flattered by overfit."""
    n = len(confidence)
    fold = rng.permutation(n) % folds
    out = np.full(n, np.nan)
    for k in range(folds):
        train = fold != k
        # A fold whose training part sits at one confidence level has no curve to fit: leave it NaN.
        if train.sum() >= 2 and (~train).any() and len(np.unique(_level(confidence[train]))) >= 2:
            out[~train] = fit_isotonic(confidence[train], errors[train], words[train]).predict(confidence[~train])
    return out


@dataclass
class LabelFreeEstimate:
    model_version: str
    n_labeled: int
    n_unlabeled: int
    estimated_wer: float | None
    ci_low: float | None
    ci_high: float | None
    labeled_wer: float | None  # corpus WER of the labeled set, for comparison
    # Word-weighted ECEs (`expected_calibration_error`); `calibration_health` holds the per-utterance
    # ECE, slope and intercept that decide whether the estimate is reported.
    ece_raw: float | None  # confidence read as word accuracy, before calibration
    ece_calibrated: float | None  # isotonic calibration, cross-fitted
    calibrated_range: tuple[float, float] | None
    out_of_range_fraction: float | None
    confidence_shift: float | None  # Wasserstein(labeled conf, traffic conf) / labeled std
    newest_label_age_days: float | None
    warnings: list[str] = field(default_factory=list)
    withheld_reason: str | None = None  # why estimated_wer is null when there are labels and traffic
    # Health of the out-of-fold calibration (gates the estimate) and of the raw confidence, with
    # the raw reliability diagram; then the same per slice of the version's labelled utterances.
    calibration_health: dict | None = None
    reliability: list[dict] = field(default_factory=list)
    calibration_slices: list[dict] = field(default_factory=list)

    def withhold(self, reasons: list[str]) -> None:
        if reasons:
            self.withheld_reason = "; ".join(reasons)
            self.estimated_wer = self.ci_low = self.ci_high = None

    def to_dict(self) -> dict:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def _grid(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted confidences summarized on a fine grid over [0, 1]: (bin means, weights)."""
    index = np.minimum((np.clip(values, 0, 1) * TARGET_BINS).astype(np.int64), TARGET_BINS - 1)
    wsum = np.bincount(index, weights=weights, minlength=TARGET_BINS)
    vsum = np.bincount(index, weights=weights * values, minlength=TARGET_BINS)
    used = wsum > 0
    return vsum[used] / wsum[used], wsum[used]


def estimate_label_free_wer(
    model_version: str,
    labeled_confidence: np.ndarray,
    labeled_errors: np.ndarray,
    labeled_words: np.ndarray,
    labeled_age_days: np.ndarray,
    traffic_confidence: np.ndarray,
    traffic_weights: np.ndarray,
    rng: np.random.Generator,
    *,
    rounds: int = 100,
    min_labeled: int = 50,
    max_label_age_days: float = 7.0,
    max_out_of_range: float = 0.05,
    max_shift: float = 0.1,
    confidence: float = 0.95,
    health: HealthRule | None = None,
    labeled_slices: dict[str, tuple[np.ndarray, list[str]]] | None = None,
    drift_reasons: list[str] | None = None,
) -> LabelFreeEstimate:
    """Calibrate on the labeled utterances and estimate corpus WER of the traffic.

    `traffic_weights` are the sessions' expected word counts (transcript length).
    `health` judges the calibration (its `min_samples` is `min_labeled`); `labeled_slices`
    maps a dimension to (code per labeled utterance, level names) for per-slice health;
    `drift_reasons` (from `assumption_drift`) withhold the estimate.
    """
    rule = replace(health or HealthRule(), min_samples=min_labeled)
    lab = np.isfinite(labeled_confidence) & (labeled_words > 0)
    conf, err, words = labeled_confidence[lab], labeled_errors[lab], labeled_words[lab]
    traffic = np.isfinite(traffic_confidence) & np.isfinite(traffic_weights) & (traffic_weights > 0)
    t_conf, t_w = traffic_confidence[traffic], traffic_weights[traffic]
    est = LabelFreeEstimate(
        model_version=model_version,
        n_labeled=int(lab.sum()),
        n_unlabeled=int(traffic.sum()),
        estimated_wer=None,
        ci_low=None,
        ci_high=None,
        labeled_wer=wer_math.corpus_wer(err, words),
        ece_raw=None,
        ece_calibrated=None,
        calibrated_range=None,
        out_of_range_fraction=None,
        confidence_shift=None,
        newest_label_age_days=float(np.min(labeled_age_days[lab])) if lab.any() else None,
    )
    withheld = []
    if est.n_labeled < max(min_labeled, 2):
        withheld.append(f"too few labelled samples: {est.n_labeled} < {max(min_labeled, 2)}")
        if est.n_labeled < 2:
            est.withhold(withheld + (drift_reasons or []))  # every reason, even on an early return
            return est
    if est.newest_label_age_days is not None and est.newest_label_age_days > max_label_age_days:
        est.warnings.append(
            f"calibration is stale: newest label is {est.newest_label_age_days:.1f} days old (> {max_label_age_days:g})"
        )
    accuracy = correctness(err, words)
    est.ece_raw = expected_calibration_error(conf, accuracy, words)
    est.reliability = reliability_points(conf, accuracy, rule.bins)
    if len(np.unique(_level(conf))) < 2:  # e.g. an engine that reports one fixed confidence
        withheld.append("calibration needs labeled utterances at two or more confidence levels")
        est.withhold(withheld + (drift_reasons or []))
        return est
    folds = int(min(5, est.n_labeled))
    oof = _cross_fitted_error_rate(conf, err, words, folds, rng)
    calibrated = 1.0 - np.minimum(oof, 1.0)
    est.ece_calibrated = expected_calibration_error(calibrated, accuracy, words)
    overall = _health(est, conf, calibrated, accuracy, rule, labeled_slices, lab)
    if not overall.healthy and est.n_labeled >= rule.min_samples:  # else "too few" is already the reason
        withheld.append("calibration unhealthy: " + "; ".join(overall.problems))
    low, high = np.quantile(conf, [0.005, 0.995])
    est.calibrated_range = (float(low), float(high))
    withheld += drift_reasons or []
    if len(t_conf) == 0:
        est.warnings.append("no unlabeled traffic with confidence to estimate on")
        est.withhold(withheld)
        return est
    est.out_of_range_fraction = float(t_w[(t_conf < low) | (t_conf > high)].sum() / t_w.sum())
    grid = np.linspace(0, 1, TARGET_BINS + 1)[1:]
    ref_hist = np.bincount(np.minimum((np.clip(conf, 0, 1) * TARGET_BINS).astype(int), TARGET_BINS - 1), minlength=TARGET_BINS)
    cur_hist = np.bincount(np.minimum((np.clip(t_conf, 0, 1) * TARGET_BINS).astype(int), TARGET_BINS - 1), minlength=TARGET_BINS)
    est.confidence_shift = wasserstein_from_counts(ref_hist, cur_hist, grid) / max(float(np.std(conf)), STD_FLOOR)
    out_limit = max(max_out_of_range, _own_share_outside(est.n_labeled))
    if est.out_of_range_fraction > out_limit:
        # The isotonic curve is flat beyond the labels: it would extrapolate, not estimate.
        withheld.append(
            f"{est.out_of_range_fraction:.0%} of traffic has confidence outside the calibrated range "
            f"[{low:.3f}, {high:.3f}] (> {out_limit:.0%})"
        )
    if est.confidence_shift >= max_shift:
        est.warnings.append(
            f"traffic confidence has drifted from the labeled set (normalized Wasserstein {est.confidence_shift:.2f})"
        )
    if withheld:
        est.withhold(withheld)
        return est
    points, weights = _grid(t_conf, t_w)
    level = _level(conf)
    est.estimated_wer = float(np.dot(_fit_pooled(level, err, words).predict(points), weights) / weights.sum())
    boots = np.full(rounds, np.nan)
    # Poisson bootstrap: each labeled utterance gets a Poisson(1) weight per round.
    draws = rng.poisson(1.0, size=(rounds, len(conf))).astype(np.float64)
    for b in range(rounds):
        # The same pooled fit as `_fit_pooled`, through sklearn's function form (no
        # estimator overhead): a hundred refits stay cheap.
        e = np.bincount(level, weights=draws[b] * err, minlength=LEVELS + 1)
        w = np.bincount(level, weights=draws[b] * words, minlength=LEVELS + 1)
        used = np.flatnonzero(w > 0)
        if len(used) < 2:
            continue
        curve = isotonic_regression(e[used] / w[used], sample_weight=w[used], y_min=0.0, increasing=False)
        boots[b] = np.dot(np.interp(points, used / LEVELS, curve), weights) / weights.sum()
    boots = boots[np.isfinite(boots)]
    if len(boots):
        tail = (1 - confidence) / 2
        est.ci_low, est.ci_high = float(np.quantile(boots, tail)), float(np.quantile(boots, 1 - tail))
    return est


def _own_share_outside(n: int, level: float = 0.95) -> float:
    """The share of traffic like the labels themselves that can fall outside the range of n labels.

    The range runs between the 0.5% and 99.5% quantiles, order statistics at rank j = 1 + 0.005 (n - 1)
    from each end; the share of their own distribution outside [X(j), X(n+1-j)] is Beta(2j, n+1-2j)
    (order statistics of uniforms). Its upper `level` bound (12% at n = 50, under 5% from n = 200):
    traffic beyond the range by no more than this is what few labels look like, not extrapolation,
    and judging it against `max_out_of_range` alone withheld 43% of sound estimates at n = 50.
    """
    a = 2 * (1 + 0.005 * (n - 1))
    return float(stats.beta.ppf(1 - (1 - level) / 2, a, n + 1 - a))


def _health(est: LabelFreeEstimate, conf: np.ndarray, calibrated: np.ndarray, accuracy: np.ndarray,
            rule: HealthRule, labeled_slices: dict[str, tuple[np.ndarray, list[str]]] | None,
            lab: np.ndarray) -> CalibrationHealth:
    """Fill the estimate's calibration health (overall and per slice); return the overall one.

    The gate is the out-of-fold calibration: the estimate maps confidence through it, so raw
    confidence may be miscalibrated (most engines' are) without hurting the estimate, while an
    out-of-fold slope under 1 or a large ECE means the fitted curve does not hold on new labels.
    """
    whole = np.zeros(len(conf), dtype=np.int64)
    (cal,) = grouped_health(calibrated, accuracy, whole, 1, rule)
    (raw,) = grouped_health(conf, accuracy, whole, 1, rule)
    est.calibration_health = {"correctness": "word_accuracy", "healthy": cal.healthy,
                              "calibrated": cal.to_dict(), "raw": raw.to_dict()}
    for dim, (codes, levels) in (labeled_slices or {}).items():
        codes = np.asarray(codes)[lab]
        cal_g = grouped_health(calibrated, accuracy, codes, len(levels), rule)
        raw_g = grouped_health(conf, accuracy, codes, len(levels), rule)
        for level, c, r in zip(levels, cal_g, raw_g):
            if c.n >= rule.min_samples:  # smaller slices would only list "too few"
                est.calibration_slices.append({"slice": f"{dim}={level}", "slice_labels": {dim: level},
                                               "healthy": c.healthy, "calibrated": c.to_dict(), "raw": r.to_dict()})
    unhealthy = [s["slice"] for s in est.calibration_slices if not s["healthy"]]
    if unhealthy:  # reported, not withheld: many small slices would withhold by chance alone
        est.warnings.append("calibration unhealthy in " + ", ".join(unhealthy[:5])
                            + (f" and {len(unhealthy) - 5} more" if len(unhealthy) > 5 else ""))
    return cal


def assumption_drift(version: str, findings: list[Finding], features: tuple[str, ...]) -> list[str]:
    """Reasons to withhold `version`'s estimate: ticket-level drift in `features` on a slice
    that covers the version's traffic (no model_version label, or this one)."""
    hits = [f for f in findings if f.kind == "distribution" and f.feature in features
            and SEVERITY_RANK[f.severity] >= SEVERITY_RANK["ticket"]
            and f.slice.get("model_version", version) == version]
    if not hits:
        return []
    named = ", ".join(dict.fromkeys(f"{f.feature} ({f.slice_key})" for f in hits))
    return [f"drift in {named} breaks the estimate's assumption that errors at a given confidence stay as labelled"]
