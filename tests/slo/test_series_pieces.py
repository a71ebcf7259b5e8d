"""The SLO series added up from pieces (cached hours and fresh minutes) is exact and lists only
the groups with events in the window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from slo.series import Counts
from slo_dense_reference import series_of

START = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
M = timedelta(minutes=1)


def test_pieces_add_up_and_groups_without_events_in_the_window_are_left_out():
    before = Counts.of_columns(START - 60 * M, [START - 5 * M, START + 2 * M, START + 3 * M, START + 3 * M],
                               [("only-before",), ("eu",), ("eu",), ("no-events",)], [1, 4, 1, 0], [1, 5, 2, 0])
    fresh = Counts.of([(START + 3 * M, ("eu",), 2, 2), (START + 9 * M, ("us",), 0, 3),
                       (START + 10 * M, ("after",), 1, 1)], START)
    series = series_of([before, fresh], ("region",), START, START + 10 * M)
    assert series.groups == (("eu",), ("us",))
    np.testing.assert_array_equal(series.total[0], [0, 0, 5, 4, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(series.good[0], [0, 0, 4, 3, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(series.total[1], [0] * 9 + [3])
    assert series.good[1].sum() == 0


def test_between_keeps_one_hour_rebased():
    piece = Counts.of_columns(START, [START + 59 * M, START + 60 * M, START + 61 * M], [("a",)] * 3, [1, 1, 1],
                              [1, 2, 3])
    hour = piece.between(START + 60 * M, START + 120 * M)
    assert hour.origin == START + 60 * M and hour.minute.tolist() == [0, 1] and hour.total.tolist() == [2, 3]
