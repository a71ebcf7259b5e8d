"""The drift statistics on synthetic data: agreement with scipy, test choice, FDR control,
power, and the effect-size floors that keep huge and tiny samples from crying wolf."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from drift import statistics as st
from drift.features import bin_numeric


def _counts(ref: np.ndarray, cur: np.ndarray, max_bins: int = 512):
    binning = bin_numeric(np.concatenate([ref, cur]), max_bins)
    n = len(ref)
    r = np.bincount(binning.index[:n], minlength=binning.n_bins)
    c = np.bincount(binning.index[n:], minlength=binning.n_bins)
    return r, c, binning.support


def test_ks_and_wasserstein_match_scipy_on_discrete_values():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 200, 3000).astype(float)
    cur = rng.integers(10, 220, 800).astype(float)
    r, c, support = _counts(ref, cur)  # fewer distinct values than bins: binning is exact
    d, p = st.ks_from_counts(r, c)
    exact = stats.ks_2samp(ref, cur, method="asymp")
    assert d == pytest.approx(exact.statistic, abs=1e-12)
    assert p == pytest.approx(exact.pvalue, rel=0.05, abs=1e-12)
    assert st.wasserstein_from_counts(r, c, support) == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9)


def test_binned_wasserstein_is_close_to_exact_on_a_long_tail():
    rng = np.random.default_rng(2)
    ref, cur = rng.lognormal(6, 0.8, 20000), rng.lognormal(6.1, 0.8, 5000)
    r, c, support = _counts(ref, cur)
    exact = stats.wasserstein_distance(ref, cur)
    assert st.wasserstein_from_counts(r, c, support) == pytest.approx(exact, rel=0.03)


def test_test_choice_mirrors_evidently_defaults():
    rng = np.random.default_rng(3)
    small = st.compare_numeric(*_counts(rng.normal(size=800), rng.normal(size=300))[:2],
                               _counts(rng.normal(size=800), rng.normal(size=300))[2], 1.0)
    assert small.test == "ks" and small.kind == "numeric"
    ref, cur = rng.normal(size=5000), rng.normal(size=300)
    r, c, support = _counts(ref, cur)
    assert st.compare_numeric(r, c, support, ref.std()).test == "wasserstein_norm"
    # Five or fewer distinct values: categorical, as Evidently treats them.
    few = st.compare_numeric(np.array([100, 50, 0, 3.0]), np.array([40, 20, 1, 2.0]), np.arange(4.0), 1.0)
    assert few.kind == "categorical" and few.test == "chisquare"
    assert st.compare_categorical(np.array([600, 400.0]), np.array([50, 50.0])).test == "z"
    assert st.compare_categorical(np.array([3000, 1000, 500.0]), np.array([50, 50, 10.0])).test == "jensenshannon"


def test_categorical_batch_agrees_with_scipy_chi_square():
    rng = np.random.default_rng(4)
    ref = rng.integers(50, 500, (20, 5)).astype(float)
    cur = rng.integers(10, 100, (20, 5)).astype(float)
    batch = st.compare_categorical_batch(ref, cur)
    for i, comp in enumerate(batch):
        expected = stats.chi2_contingency(np.vstack([ref[i], cur[i]]), correction=False)
        assert comp.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        assert comp.effect == pytest.approx(st.jensen_shannon(ref[i], cur[i]), rel=1e-9)


def test_psi_is_zero_for_identical_mixes_and_grows_with_shift():
    ref = np.array([500, 300, 200.0])
    assert st.psi(ref, ref / 10) == pytest.approx(0.0, abs=1e-12)
    expected = sum((p - q) * np.log(p / q) for p, q in zip([0.5, 0.3, 0.2], [0.2, 0.3, 0.5]))
    assert st.psi(ref, np.array([20, 30, 50.0])) == pytest.approx(expected)


def test_benjamini_hochberg_matches_its_definition():
    rng = np.random.default_rng(5)
    p = rng.uniform(size=40) ** 3
    q = st.benjamini_hochberg(p)
    m = len(p)
    for i in range(m):
        # BH q-value: min over ranks k >= rank(i) of p_(k) * m / k.
        order = np.sort(p)
        k = np.arange(1, m + 1)
        rank = int(np.searchsorted(order, p[i], side="right"))
        assert q[i] == pytest.approx(min(1.0, np.min(order[rank - 1:] * m / k[rank - 1:])))
    with pytest.raises(ValueError, match="p-values"):
        st.benjamini_hochberg(np.array([0.1, 1.5]))


def _scan_family(rng, n_ref, n_cur, shifts):
    """One family of numeric tests (one per shift), judged as the scan judges them."""
    comps = []
    for shift in shifts:
        ref, cur = rng.normal(size=n_ref), rng.normal(shift, 1, n_cur)
        r, c, support = _counts(ref, cur, 128)
        comps.append(st.compare_numeric(r, c, support, ref.std()))
    q = st.benjamini_hochberg(np.array([x.p_value for x in comps]))
    return [st.severity_for(qi, x.effect, 0.1, 0.05, x.noise) for qi, x in zip(q, comps)], q


def test_false_discovery_under_the_null_is_controlled():
    rng = np.random.default_rng(6)
    any_rejection = 0
    tickets = 0
    for _ in range(25):
        severities, q = _scan_family(rng, 400, 150, [0.0] * 20)
        any_rejection += bool((q < 0.05).any())
        tickets += sum(s == "ticket" for s in severities)
    # Under the global null BH controls the family-wise error at alpha (binomial slack).
    assert any_rejection <= 5
    assert tickets == 0


def test_power_against_a_real_shift_among_many_null_tests():
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(10):
        severities, _ = _scan_family(rng, 3000, 1000, [0.5] + [0.0] * 29)
        found += severities[0] == "ticket"
        assert "ticket" not in severities[1:]
    assert found >= 9


def test_effect_floor_ignores_meaningless_shifts_in_huge_samples():
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(size=400_000), rng.normal(0.03, 1, 400_000)
    r, c, support = _counts(ref, cur)
    comp = st.compare_numeric(r, c, support, ref.std())
    assert comp.p_value < 1e-10  # "significant"...
    assert st.severity_for(comp.p_value, comp.effect, 0.1, 0.05, comp.noise) is None  # ...but not worth a word


def test_noise_allowance_shrinks_with_sample_size():
    small = st.compare_categorical(np.array([150, 40, 10.0]), np.array([70, 25, 5.0]))
    large = st.compare_categorical(np.array([15000, 4000, 1000.0]), np.array([7000, 2500, 500.0]))
    assert small.noise > 5 * large.noise


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="non-empty"):
        st.compare_categorical(np.array([0, 0.0]), np.array([1, 2.0]))
    with pytest.raises(ValueError, match="non-negative"):
        st.psi(np.array([-1.0, 2.0]), np.array([1.0, 1.0]))
