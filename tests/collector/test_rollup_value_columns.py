"""The rollup upserts bind value columns by position: counters, then sums, then histograms
(`rollups.upsert_row`; the PostgreSQL upsert `pg_batch.upsert_rollups` slices the sums and the
histograms out of each row by those positions). A tuple in another order would add a sum into a
counter column, so both engines' statements refuse it, naming the column out of place."""

from __future__ import annotations

import pytest

from collector.store import pg_batch, rollups
from collector.store.models import Rollup


def test_the_full_order_is_valid():
    rollups.check_value_columns(rollups.COUNTERS + rollups.SUMS + rollups.HISTOGRAMS)
    rollups.check_value_columns(("sessions", "gpu_seconds", "latency_hist"))


@pytest.mark.parametrize("columns, named", [
    (("audio_seconds", "sessions"), "'sessions' comes after 'audio_seconds'"),  # a sum before a counter
    (("sessions", "latency_hist", "gpu_seconds"), "'gpu_seconds' comes after 'latency_hist'"),
    (("latency_hist", "sessions"), "'sessions' comes after 'latency_hist'"),
    (("sessions", "no_such_column"), "'no_such_column' is not a counter, sum or histogram"),
])
def test_a_misordered_or_unknown_tuple_is_refused_naming_it(columns, named):
    with pytest.raises(ValueError, match=named):
        rollups.check_value_columns(columns)
    with pytest.raises(ValueError, match=named):
        pg_batch._rollup_upsert(Rollup.__table__, "minute", columns)
    with pytest.raises(ValueError, match=named):
        rollups._upsert_sql("rollups", "minute", columns)
