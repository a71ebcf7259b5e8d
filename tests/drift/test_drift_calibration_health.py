"""Calibration health (reliability slope, intercept, ECE) against independent computations, and the
label-free WER estimate withheld, with its reason, when the calibration or the traffic cannot back it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.calibration import calibration_curve

from drift.calibration_health import HealthRule, calibration_health, correctness, grouped_health, reliability_points
from drift.config import DriftConfig
from drift.findings import Finding
from drift.label_free import assumption_drift, estimate_label_free_wer

RULE = HealthRule(min_samples=50, slope_min=0.8, slope_max=1.2, max_intercept=0.03, max_ece=0.05, bins=10)


def _loop_ece(q, c, bins):
    """ECE written out bin by bin, with explicit right-closed edges (0 in the first bin)."""
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(qi, ci) for qi, ci in zip(q, c) if (lo < qi <= hi) or (b == 0 and qi == 0.0)]
        if inside:
            gap = sum(ci for _, ci in inside) / len(inside) - sum(qi for qi, _ in inside) / len(inside)
            total += len(inside) / len(q) * abs(gap)
    return total


def test_correctness_is_word_accuracy_clipped_at_zero():
    errors, words = np.array([0.0, 1, 3, 7, 2]), np.array([4.0, 4, 4, 4, 0])
    got = correctness(errors, words)
    assert got[:4].tolist() == [1.0, 0.75, 0.25, 0.0]  # 7 errors on 4 words (insertions): 0, not -0.75
    assert np.isnan(got[4])


def test_ece_matches_scikit_learn_calibration_curve_on_binary_outcomes():
    rng = np.random.default_rng(1)
    q = np.round(rng.beta(5, 2, 4000), 1)  # many values exactly on bin edges (0.8, 0.9, 1.0)
    c = (rng.random(4000) < np.clip(q - 0.1, 0, 1)).astype(float)
    prob_true, prob_pred = calibration_curve(c, q, n_bins=10, strategy="uniform")
    # scikit-learn returns per-bin means, not counts: count with np.digitize's right-closed bins.
    counts = np.bincount(np.digitize(q, np.linspace(0, 1, 11)[1:-1], right=True), minlength=10)
    reference = float(np.sum(counts[counts > 0] / len(q) * np.abs(prob_true - prob_pred)))
    health = calibration_health(q, c, RULE)
    assert health.ece == pytest.approx(reference, rel=1e-12)
    assert health.ece == pytest.approx(0.1, abs=0.02)  # outcomes run 0.1 below the predictions
    points = reliability_points(q, c, 10)
    assert [p["accuracy"] for p in points] == pytest.approx(prob_true.tolist())
    assert [p["confidence"] for p in points] == pytest.approx(prob_pred.tolist())
    assert [p["count"] for p in points] == counts[counts > 0].tolist()


def test_slope_intercept_and_ece_match_direct_computations_on_fractional_outcomes():
    rng = np.random.default_rng(2)
    q = rng.uniform(0.5, 1.0, 700)
    c = np.clip(0.3 + 0.6 * q + rng.normal(0, 0.05, 700), 0, 1)
    health = calibration_health(q, c, RULE)
    slope, _ = np.polyfit(q, c, 1)
    assert health.slope == pytest.approx(slope, rel=1e-9)
    assert health.slope == pytest.approx(0.6, abs=0.03)
    assert health.intercept == pytest.approx(c.mean() - q.mean(), abs=1e-12)
    assert health.ece == pytest.approx(_loop_ece(q.tolist(), c.tolist(), 10), rel=1e-9)
    assert not health.healthy and any(p.startswith("slope 0.6") for p in health.problems)


def test_grouped_health_equals_health_of_each_group_alone():
    rng = np.random.default_rng(3)
    q = rng.uniform(0.3, 1.0, 900)
    groups = rng.integers(0, 3, 900)
    c = np.clip(q + np.array([0.0, -0.08, 0.02])[groups] + rng.normal(0, 0.03, 900), 0, 1)
    grouped = grouped_health(q, c, groups, 4, RULE)
    for k in range(3):
        alone = calibration_health(q[groups == k], c[groups == k], RULE)
        assert grouped[k].n == alone.n
        assert (grouped[k].slope, grouped[k].intercept, grouped[k].ece) == pytest.approx(
            (alone.slope, alone.intercept, alone.ece), rel=1e-9)
    assert grouped[0].healthy and not grouped[1].healthy  # group 1 runs 0.08 below its predictions
    assert grouped[3].n == 0 and grouped[3].problems == ["too few labelled samples: 0 < 50"]


def test_a_perfectly_calibrated_prediction_is_healthy_and_a_constant_one_is_not():
    rng = np.random.default_rng(4)
    q = rng.uniform(0.4, 1.0, 5000)
    c = (rng.random(5000) < q).astype(float)
    health = calibration_health(q, c, RULE)
    assert health.healthy, health.problems
    assert health.slope == pytest.approx(1.0, abs=0.08) and abs(health.intercept) < 0.02
    flat = calibration_health(np.full(500, 0.9), c[:500], RULE)
    assert flat.slope is None and "slope undefined: the predictions do not vary" in flat.problems
    few = calibration_health(q[:12], c[:12], RULE)
    assert few.problems == ["too few labelled samples: 12 < 50"]


# -- the estimate, withheld or not ---------------------------------------------------------------


def _utterances(rng, n, a, b, rate=lambda conf: 0.45 - 0.4 * conf):
    conf = rng.beta(a, b, n)
    words = rng.integers(5, 20, n).astype(float)
    errors = rng.binomial(words.astype(int), np.clip(rate(conf), 0, 1)).astype(float)
    return conf, errors, words


def test_a_healthy_calibration_still_reports_the_estimate():
    rng = np.random.default_rng(5)
    conf, err, words = _utterances(rng, 3000, 8, 2)
    t_conf, t_err, t_words = _utterances(rng, 30000, 7, 2)
    est = estimate_label_free_wer("v1", conf, err, words, np.ones(len(conf)), t_conf, t_words, rng, health=RULE)
    health = est.calibration_health
    assert est.withheld_reason is None and health["healthy"]
    assert est.estimated_wer == pytest.approx(t_err.sum() / t_words.sum(), abs=0.01)
    # Raw confidence is miscalibrated here (accuracy = 0.55 + 0.4 conf): reported, not gating.
    assert not health["raw"]["healthy"] and health["raw"]["slope"] == pytest.approx(0.4, abs=0.06)
    assert health["calibrated"]["slope"] == pytest.approx(1.0, abs=0.2)


def test_an_unhealthy_calibration_withholds_the_estimate_with_its_reason():
    rng = np.random.default_rng(6)
    # Confidence says nothing about errors: the fitted curve is noise, and out of fold it shows.
    conf, err, words = _utterances(rng, 400, 8, 2, rate=lambda conf: np.full(len(conf), 0.15))
    t_conf, _, t_words = _utterances(rng, 5000, 8, 2)
    est = estimate_label_free_wer("v1", conf, err, words, np.ones(len(conf)), t_conf, t_words, rng, health=RULE)
    assert est.estimated_wer is None and est.ci_low is None and est.ci_high is None
    assert est.withheld_reason.startswith("calibration unhealthy: slope ")
    assert "outside 0.8..1.2" in est.withheld_reason
    assert est.to_dict()["withheld_reason"] == est.withheld_reason


def test_too_few_labels_withhold_the_estimate():
    rng = np.random.default_rng(7)
    conf, err, words = _utterances(rng, 12, 8, 2)
    t_conf, _, t_words = _utterances(rng, 5000, 8, 2)
    est = estimate_label_free_wer("v1", conf, err, words, np.zeros(12), t_conf, t_words, rng, health=RULE)
    assert est.estimated_wer is None and est.withheld_reason.startswith("too few labelled samples: 12 < 50")


def test_drift_that_breaks_the_assumption_withholds_the_estimate():
    rng = np.random.default_rng(8)
    conf, err, words = _utterances(rng, 3000, 8, 2)
    t_conf, _, t_words = _utterances(rng, 20000, 8, 2)

    def finding(feature, slice_, severity="ticket", kind="distribution"):
        return Finding(kind=kind, feature=feature, slice=slice_, test="wasserstein", statistic=0.3, p_value=1e-9,
                       p_adjusted=1e-8, severity=severity, effect=0.3, effect_floor=0.1, reference_value=None,
                       current_value=None, n_reference=500, n_current=500, summary="")

    findings = [finding("snr_db", {"channel": "mobile"}), finding("language", {"model_version": "v2"}),
                finding("channel", {}, severity="info"), finding("confidence", {})]
    features = DriftConfig().label_free_drift_features
    reasons = assumption_drift("v1", findings, features)
    # Only ticket-level drift of a listed feature on a slice covering v1's traffic counts.
    assert reasons == ["drift in snr_db (channel=mobile) breaks the estimate's assumption that errors at a "
                       "given confidence stay as labelled"]
    est = estimate_label_free_wer("v1", conf, err, words, np.ones(len(conf)), t_conf, t_words, rng, health=RULE,
                                  drift_reasons=reasons)
    assert est.estimated_wer is None and est.withheld_reason == reasons[0]
    assert est.calibration_health["healthy"]  # the calibration is fine: the traffic moved
    assert assumption_drift("v2", findings, features)[0].startswith("drift in snr_db (channel=mobile), language (")


def test_traffic_beyond_the_calibrated_range_withholds_the_estimate():
    rng = np.random.default_rng(9)
    conf, err, words = _utterances(rng, 2000, 20, 2)  # labels only cover confident speech
    t_conf, _, t_words = _utterances(rng, 5000, 2, 2)
    est = estimate_label_free_wer("v1", conf, err, words, np.ones(len(conf)), t_conf, t_words, rng, health=RULE)
    assert est.estimated_wer is None
    assert "outside the calibrated range" in est.withheld_reason and "(> 5%)" in est.withheld_reason


def test_per_slice_health_flags_the_slice_whose_calibration_breaks():
    rng = np.random.default_rng(10)
    conf, err, words = _utterances(rng, 4000, 8, 2)
    channel = rng.integers(0, 2, 4000)
    # In "mobile" the engine is overconfident: twice the errors at the same confidence.
    mobile = channel == 1
    err[mobile] = rng.binomial(words[mobile].astype(int), np.clip(0.9 - 0.8 * conf[mobile], 0, 1))
    t_conf, _, t_words = _utterances(rng, 5000, 8, 2)
    est = estimate_label_free_wer("v1", conf, err, words, np.ones(len(conf)), t_conf, t_words, rng, health=RULE,
                                  labeled_slices={"channel": (channel, ["phone", "mobile"])})
    by_slice = {s["slice"]: s for s in est.calibration_slices}
    assert set(by_slice) == {"channel=phone", "channel=mobile"}
    # The version-wide curve sits between the two: mobile reads below it, phone above.
    assert by_slice["channel=mobile"]["calibrated"]["intercept"] < -0.03
    assert by_slice["channel=phone"]["calibrated"]["intercept"] > 0.03
    assert not by_slice["channel=mobile"]["healthy"] and not by_slice["channel=phone"]["healthy"]
    assert any(w.startswith("calibration unhealthy in channel=phone, channel=mobile") for w in est.warnings)


@pytest.mark.parametrize("drift, words", [
    ({"label_free_drift_features": ["snr"]}, ["label_free_drift_features", "unknown drift feature", "snr_db"]),
    ({"calibration_slope_min": 1.1}, ["calibration_slope_min", "less than 1"]),
    ({"calibration_max_ece": 0}, ["calibration_max_ece", "greater than 0"]),
    ({"calibraton_bins": 20}, ["calibraton_bins", "did you mean 'calibration_bins'"]),
])
def test_calibration_config_is_declared_and_validated(drift, words):
    with pytest.raises(ValueError) as err:
        DriftConfig.from_settings({"drift": drift})
    assert all(w in str(err.value) for w in words), str(err.value)
    ok = DriftConfig.from_settings({"drift": {"calibration_slope_min": 0.9, "label_free_drift_features": []}})
    assert ok.calibration_slope_min == 0.9 and ok.label_free_drift_features == ()


# -- the rule judges evidence, not noise ---------------------------------------------------------


def _word_accuracy(rng, q, accuracy=lambda q: q):
    """Binomial word accuracy of utterances of 5..19 words whose true accuracy is accuracy(q)."""
    words = rng.integers(5, 20, len(q))
    return rng.binomial(words, np.clip(accuracy(q), 0, 1)) / words, words


@pytest.mark.parametrize("n", [50, 200])
def test_a_perfectly_calibrated_prediction_is_rarely_judged_unhealthy_near_the_minimum(n):
    withheld = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        q = rng.beta(8, 2, n)
        c, _ = _word_accuracy(rng, q)
        withheld += not calibration_health(q, c, RULE).healthy
    # Point estimates judged against the bands withheld 27% of these at n=50 (slopes 0.67..1.34).
    assert withheld / 200 <= 0.1


@pytest.mark.parametrize("n", [50, 200])
def test_the_estimate_of_a_perfectly_calibrated_engine_is_rarely_withheld_near_the_minimum(n):
    # The gate proper: out-of-fold isotonic predictions of an engine whose confidence is its accuracy.
    withheld = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        conf = rng.beta(8, 2, n)
        c, words = _word_accuracy(rng, conf)
        t_conf = rng.beta(8, 2, 2000)
        est = estimate_label_free_wer("v1", conf, (1 - c) * words, words.astype(float), np.zeros(n), t_conf,
                                      np.full(2000, 10.0), rng, rounds=10, health=RULE)
        withheld += est.withheld_reason is not None
    assert withheld / 60 <= 0.1


@pytest.mark.parametrize("kind", ["slope 0.5", "ECE 0.15"])
def test_a_clearly_miscalibrated_prediction_is_judged_unhealthy_from_300_labels(kind):
    if kind == "slope 0.5":  # predictions twice as spread as the outcomes, centred right
        q_of, accuracy, problem = (lambda rng: rng.beta(8, 2, 300)), (lambda q: 0.8 + 0.5 * (q - 0.8)), "slope"
    else:  # bins alternately 0.15 over and under: slope and intercept near their ideals, ECE not
        q_of, problem = (lambda rng: rng.uniform(0.3, 0.85, 300)), "ECE"

        def accuracy(q):
            return q + 0.15 * np.where(np.floor(q * 10) % 2 == 0, 1.0, -1.0)
    judged = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        q = q_of(rng)
        c, _ = _word_accuracy(rng, q, accuracy)
        judged += any(p.startswith(problem) for p in calibration_health(q, c, RULE).problems)
    assert judged / 100 >= 0.9


def test_the_intervals_match_direct_computations():
    rng = np.random.default_rng(11)
    q = rng.beta(8, 2, 120)
    c, _ = _word_accuracy(rng, q, lambda q: 0.2 + 0.7 * q)
    health = calibration_health(q, c, RULE)
    # Slope: White's sandwich (X'X)^-1 X' diag(e²) X (X'X)^-1 with HC1's n/(n-k), written as matrices.
    x = np.column_stack([np.ones(120), q])
    beta, *_ = np.linalg.lstsq(x, c, rcond=None)
    e = c - x @ beta
    bread = np.linalg.inv(x.T @ x)
    cov = bread @ (x.T * e**2) @ x @ bread * 120 / (120 - 2)
    half = stats.t.ppf(0.975, 118) * np.sqrt(cov[1, 1])
    assert health.slope_ci == pytest.approx((beta[1] - half, beta[1] + half), rel=1e-9)
    # Intercept: the t interval of the mean gap c - q.
    gap = c - q
    assert health.intercept_ci == pytest.approx(
        stats.t.interval(0.95, 119, loc=gap.mean(), scale=stats.sem(gap)), rel=1e-9)
    # ECE's lower bound: the ECE less the half-normal noise bound, bin by bin.
    index = np.digitize(q, np.linspace(0, 1, 11)[1:-1], right=True)
    mean, var = 0.0, 0.0
    for b in np.unique(index):
        inside = gap[index == b]
        sd = np.std(inside, ddof=1) if len(inside) > 1 else np.std(gap, ddof=1)
        mean += np.sqrt(2 / np.pi) * len(inside) / 120 * sd / np.sqrt(len(inside))
        var += (1 - 2 / np.pi) * (len(inside) / 120) ** 2 * sd**2 / len(inside)
    assert health.ece_low == pytest.approx(max(health.ece - mean - stats.norm.ppf(0.975) * np.sqrt(var), 0),
                                           rel=1e-9)
    assert health.to_dict()["slope_ci"] == pytest.approx(list(health.slope_ci))


@pytest.mark.parametrize("n", [1, 100])
def test_an_early_withhold_still_states_the_drift(n):
    # One labelled utterance, or an engine that reports one fixed confidence: the estimate returns
    # early, and the drift that would also withhold it is part of the reason.
    rng = np.random.default_rng(12)
    conf, err, words = _utterances(rng, n, 8, 2)
    conf[:] = 0.9
    t_conf, _, t_words = _utterances(rng, 1000, 8, 2)
    reason = "drift in snr_db (channel=mobile) breaks the estimate's assumption"
    est = estimate_label_free_wer("v1", conf, err, words, np.ones(n), t_conf, t_words, rng, health=RULE,
                                  drift_reasons=[reason])
    assert est.estimated_wer is None
    first = "too few labelled samples: 1 < 50" if n == 1 else "calibration needs labeled utterances at two or more"
    assert est.withheld_reason.startswith(first) and est.withheld_reason.endswith("; " + reason)
