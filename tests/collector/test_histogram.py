import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.measures import histogram

values = st.lists(st.floats(min_value=0.05, max_value=600_000, allow_nan=False), min_size=1, max_size=300)


@given(st.floats(min_value=1e-3, max_value=1e7, allow_nan=False))
def test_bucket_edges_hold_the_value_within_one_percent(value):
    edge = histogram.upper_edge(histogram.bucket_code(value))
    assert edge >= value * (1 - 1e-12)
    assert edge <= max(value * 1.01, 0.1)


@given(st.integers(min_value=1, max_value=999), st.integers(min_value=-1, max_value=5))
def test_three_significant_digit_thresholds_are_exact_edges(mantissa, exponent):
    threshold = float(mantissa) * 10.0 ** exponent
    assert math.isclose(histogram.upper_edge(histogram.bucket_code(threshold)), threshold, rel_tol=1e-12)


edges = st.builds(lambda m, e: float(m) * 10.0 ** e, st.integers(100, 999), st.integers(-3, 9))


@given(st.lists(st.floats(min_value=-1, max_value=1e13, allow_nan=False) | edges | st.just(0.0), max_size=50))
def test_bucket_codes_of_an_array_are_each_values_bucket_code(data):
    """Ingest codes a batch at once; queries and tests code one value at a time."""
    assert histogram.bucket_codes(np.array(data, dtype=float)).tolist() == [histogram.bucket_code(v) for v in data]


@settings(max_examples=200)
@given(values, st.sampled_from([100.0, 250.0, 300.0, 1000.0, 1500.0, 2000.0, 4990.0]))
def test_count_at_or_below_matches_brute_force(data, threshold):
    hist: dict[int, int] = {}
    for v in data:
        histogram.add(hist, v)
    assert histogram.count_at_or_below(hist, threshold) == sum(1 for v in data if v <= threshold)


@settings(max_examples=200)
@given(values, st.sampled_from([0.5, 0.95, 0.99]))
def test_quantiles_within_one_percent_of_exact(data, q):
    hist: dict[int, int] = {}
    for v in data:
        histogram.add(hist, v)
    exact = sorted(data)[max(1, math.ceil(q * len(data))) - 1]
    estimate = histogram.quantile(hist, q)
    assert exact * (1 - 1e-9) <= estimate <= exact * 1.01 + 1e-9  # float noise at an edge


def test_json_round_trip_and_merge():
    a, b = {}, {}
    for v in (1.0, 2.0, 2.0):
        histogram.add(a, v)
    histogram.add(b, 2.0)
    merged = histogram.merged([histogram.to_json(a), histogram.from_json(histogram.to_json(b))])
    assert histogram.total(merged) == 4
    assert merged[histogram.bucket_code(2.0)] == 3
