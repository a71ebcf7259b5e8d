"""WER drift, label-free WER and vocabulary drift on synthetic data with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from collector.measures.wer import corpus_wer
from drift.label_free import estimate_label_free_wer, expected_calibration_error
from drift.vocabulary import LABELED_HYPOTHESIS, REFERENCE, TRAFFIC, build_corpus, vocabulary_drift
from drift.wer_drift import compare_wer, ratio_standard_error, weekly_trend

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _utterances(rng, n, rate):
    words = rng.integers(4, 25, n).astype(float)
    return rng.binomial(words.astype(int), rate).astype(float), words


def test_compare_wer_finds_a_relative_increase_and_brackets_it():
    rng = np.random.default_rng(1)
    ref_e, ref_w = _utterances(rng, 3000, 0.10)
    cur_e, cur_w = _utterances(rng, 1000, 0.15)
    comp = compare_wer(ref_e, ref_w, cur_e, cur_w, rng, rounds=400)
    assert comp.reference_wer == pytest.approx(corpus_wer(ref_e, ref_w))
    assert comp.relative_delta == pytest.approx(0.5, abs=0.12)
    assert comp.ci_low < comp.relative_delta < comp.ci_high and comp.ci_low > 0.2
    assert comp.p_value < 1e-6
    same = compare_wer(ref_e, ref_w, *_utterances(rng, 1000, 0.10), rng, rounds=200)
    assert same.p_value > 0.01 and same.ci_low < 0 < same.ci_high


def test_ratio_standard_error_matches_the_bootstrap():
    rng = np.random.default_rng(2)
    e, w = _utterances(rng, 2000, 0.12)
    boots = []
    for _ in range(400):
        i = rng.integers(0, len(e), len(e))
        boots.append(e[i].sum() / w[i].sum())
    assert ratio_standard_error(e, w) == pytest.approx(np.std(boots), rel=0.15)


def test_weekly_trend_buckets_by_event_time():
    ts = np.array([(AT - timedelta(days=d)).timestamp() for d in (0.5, 1, 8, 9, 30)])
    errors, words = np.array([1, 1, 4, 4, 9.0]), np.array([10, 10, 10, 10, 10.0])
    trend = weekly_trend(ts, errors, words, AT, weeks=2)
    assert [t["utterances"] for t in trend] == [2, 2]  # oldest first; the 30-day-old one is out
    assert trend[0]["wer"] == pytest.approx(0.4) and trend[1]["wer"] == pytest.approx(0.1)


def _calibrated(rng, n, a, b):
    conf = rng.beta(a, b, n)
    words = rng.integers(5, 20, n).astype(float)
    errors = rng.binomial(words.astype(int), np.clip(0.45 - 0.4 * conf, 0, 1)).astype(float)
    return conf, errors, words


def test_label_free_estimate_covers_the_true_wer_of_shifted_traffic():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(12):
        conf, err, words = _calibrated(rng, 1500, 8, 2)
        t_conf, t_err, t_words = _calibrated(rng, 30000, 7, 2)  # traffic a bit less confident
        est = estimate_label_free_wer("v1", conf, err, words, np.ones(len(conf)), t_conf, t_words, rng)
        truth = t_err.sum() / t_words.sum()
        covered += est.ci_low <= truth <= est.ci_high
        assert est.estimated_wer == pytest.approx(truth, abs=0.01)
        assert est.ece_calibrated < est.ece_raw  # raw confidence overstates accuracy here
    assert covered >= 10


def test_label_free_warns_when_stale_or_out_of_range():
    rng = np.random.default_rng(4)
    conf, err, words = _calibrated(rng, 400, 20, 2)  # labels only cover confident speech
    t_conf, _, t_words = _calibrated(rng, 5000, 2, 2)
    est = estimate_label_free_wer("v1", conf, err, words, np.full(len(conf), 30.0), t_conf, t_words, rng)
    text = " ".join(est.warnings)
    assert "stale" in text and "drifted" in text
    # Beyond the calibrated range the curve would extrapolate: withheld, not a warned-about number.
    assert est.estimated_wer is None and "outside the calibrated range" in est.withheld_reason
    few = estimate_label_free_wer("v1", conf[:10], err[:10], words[:10], np.zeros(10), t_conf, t_words, rng)
    assert few.estimated_wer is None and few.withheld_reason.startswith("too few labelled samples: 10 < 50")


def test_expected_calibration_error_of_a_perfect_and_a_biased_predictor():
    p = np.linspace(0.05, 0.95, 1000)
    assert expected_calibration_error(p, p, np.ones_like(p)) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(p, p - 0.1, np.ones_like(p)) == pytest.approx(0.1)


def test_vocabulary_flags_new_misrecognized_terms_and_not_rare_old_words():
    rng = np.random.default_rng(5)
    words = np.array([f"w{i}" for i in range(400)])
    start = AT.timestamp() - 8 * 86400
    rows = []
    for i in range(3000):  # a week of Zipf-ish traffic
        ts = start + i * 7 * 86400 / 3000
        text = " ".join(words[np.minimum(rng.zipf(1.5, 10) - 1, 399)])
        rows.append((0, ts, f"r{i}", text, TRAFFIC))
    for i in range(500):
        ts = AT.timestamp() - 86400 + i * 100
        toks = list(words[np.minimum(rng.zipf(1.5, 10) - 1, 399)])
        ref = toks + (["zorvex"] if i % 10 == 0 else [])
        hyp = toks + (["sorvex"] if i % 10 == 0 and i % 20 else ["zorvex"] if i % 10 == 0 else [])
        rows += [(1, ts, f"c{i}", " ".join(ref), REFERENCE), (1, ts, f"c{i}", " ".join(hyp), LABELED_HYPOTHESIS)]
    corpus = build_corpus(rows)
    report = vocabulary_drift(corpus, np.ones(len(corpus), dtype=bool), AT.timestamp() - 2 * 86400)
    # Only the new product name: not its mishearing (model output; the reference says what was
    # said) and not a rare old word (w0..w399) that the week of traffic happened to miss.
    assert [t.term for t in report.new_terms] == ["zorvex"]
    (term,) = report.misrecognized
    assert term.term == "zorvex" and term.labeled_occurrences == 50 and term.missed == 25
    assert term.example_session_ids[0].startswith("c")
    assert report.oov_rate_current > report.oov_rate_expected
    quiet = vocabulary_drift(corpus, np.array([r[2].startswith("r") or "zorvex" not in r[3] for r in rows]),
                             AT.timestamp() - 2 * 86400)
    assert quiet.misrecognized == []
