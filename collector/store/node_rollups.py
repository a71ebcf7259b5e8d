"""Throughput and load per node: each batch's sessions folded per minute x node x pool.

Sessions name the node that served them (`node`; "unknown" when unset, so a pool's throughput
still counts every session) and may report the streams that node was serving when the session
started (`concurrent_streams`) and its GPU utilisation (`gpu_utilization`, 0..1). `fold_nodes`
is pure: a batch -> one row of sums per (minute, node, pool). `apply_node_rows` adds them to the
stored rows in the caller's ingest transaction, with node values past the cardinality budget
folded into `__other__` (`collector.store.dimension_budget`: autoscaled fleets mint node names
without end). Rows go in key order, as the slice rollups do, so replicas never deadlock.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from collector.measures import groups_of
from collector.store.database import insert_for
from collector.store.dimension_budget import OTHER, budget_of
from collector.store.models import NodeRollup
from collector.store.rollups import EPOCH
from collector.store.session_batch import UNKNOWN, SessionBatch

NodeRow = dict[str, Any]
_SUMS = ("sessions", "audio_seconds", "gpu_seconds", "queue_ms_sum", "queue_count", "streams_sum", "streams_count",
         "gpu_utilization_sum", "gpu_utilization_count")
_TABLE = NodeRollup.__table__


def fold_nodes(batch: SessionBatch) -> list[NodeRow]:
    """Pure: one row per (minute, node, pool) of the batch, in key order."""
    if not len(batch):
        return []
    nodes = [node or UNKNOWN for node in batch.columns["node"]]
    keys, group = groups_of(list(zip(batch.epoch_minutes.tolist(), nodes, batch.columns["pool"])))
    n = len(keys)
    queue, streams, util = batch.floats("queue_ms"), batch.floats("concurrent_streams"), batch.floats("gpu_utilization")

    def total(values: np.ndarray) -> list:
        return np.bincount(group, weights=np.nan_to_num(values, nan=0.0), minlength=n).tolist()

    def count(values: np.ndarray) -> list[int]:
        return np.bincount(group, weights=~np.isnan(values), minlength=n).astype(np.int64).tolist()

    most = np.zeros(n, dtype=np.int64)
    np.maximum.at(most, group, np.nan_to_num(streams, nan=0.0).astype(np.int64))
    columns = {"sessions": np.bincount(group, minlength=n).tolist(), "audio_seconds": total(batch.floats("audio_seconds")),
               "gpu_seconds": total(batch.floats("gpu_seconds")), "queue_ms_sum": total(queue), "queue_count": count(queue),
               "streams_sum": [int(v) for v in total(streams)], "streams_count": count(streams),
               "streams_max": most.tolist(), "gpu_utilization_sum": total(util), "gpu_utilization_count": count(util)}
    rows = [{"minute": EPOCH + timedelta(minutes=m), "node": node, "pool": pool,
             **{name: values[i] for name, values in columns.items()}} for i, (m, node, pool) in enumerate(keys)]
    return sorted(rows, key=lambda r: (r["minute"], r["node"], r["pool"]))


def _merged(rows: list[NodeRow]) -> list[NodeRow]:
    """Rows whose keys became equal (nodes folded into `__other__`) added up, in key order."""
    out: dict[tuple, NodeRow] = {}
    for row in rows:
        key = (row["minute"], row["node"], row["pool"])
        kept = out.get(key)
        if kept is None:
            out[key] = dict(row)
        else:
            for name in _SUMS:
                kept[name] += row[name]
            kept["streams_max"] = max(kept["streams_max"], row["streams_max"])
    return [out[key] for key in sorted(out)]


def apply_node_rows(conn: Connection, rows: list[NodeRow]) -> None:
    """Add the rows to the stored node rollups (the caller's ingest transaction). Nodes and pools
    past their budget read `__other__`, pools exactly as in the slice rollups (the same budget,
    decided in the same transaction), so `/throughput` and `/status` agree on every pool."""
    if not rows:
        return
    budget = budget_of(conn.engine)
    folded = budget.decide(conn, {"node": {r["node"] for r in rows}, "pool": {r["pool"] for r in rows}})
    nodes, pools = folded.get("node", set()), folded.get("pool", set())
    if nodes or pools:
        # Pools' folded sessions were counted by the slice rollups' fold; the nodes' are counted here.
        budget.count_folded_on_commit(conn, {"node": sum(r["sessions"] for r in rows if r["node"] in nodes)})
        rows = _merged([{**r, "node": OTHER if r["node"] in nodes else r["node"],
                         "pool": OTHER if r["pool"] in pools else r["pool"]} for r in rows])
    conn.execute(_upsert(conn.dialect.name), rows)


@functools.cache
def _upsert(dialect: str) -> Insert:
    """The node rows' upsert, built once per dialect: building it took about a millisecond, a
    fifth of a small batch's fold (SQLAlchemy caches the compiled form, not the construction)."""
    insert = insert_for(dialect, _TABLE)
    most = func.greatest if dialect == "postgresql" else func.max  # SQLite's max(a, b) is scalar
    return insert.on_conflict_do_update(
        index_elements=["minute", "node", "pool"],
        set_={**{name: _TABLE.c[name] + insert.excluded[name] for name in _SUMS},
              "streams_max": most(_TABLE.c.streams_max, insert.excluded.streams_max)})
