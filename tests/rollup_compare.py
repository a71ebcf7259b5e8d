"""Comparing stored rollup rows with recomputed ones, field by field (shared by the fold, the
compaction and the multi-replica tests)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.measures.histogram import bucket_code
from collector.store.models import ROLLUP_COLUMNS, HourlyRollup, Rollup, Sample, Session
from collector.store.rollups import (
    COUNTERS,
    HISTOGRAMS,
    SUMS,
    by_hour,
    compacted_through,
    confidence_code,
    rollup_key,
    snr_code,
)


def normalized(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {c: int(values[c]) for c in COUNTERS}
    out.update({s: float(values[s]) for s in SUMS})
    out.update({h: {str(k): int(v) for k, v in (values[h] or {}).items() if int(v)} for h in HISTOGRAMS})
    return out


def rollup_differences(stored: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> list[str]:
    """What differs, field by field (sums of floats compared to rounding, in whatever order added)."""
    problems = [f"{key}: missing" for key in expected.keys() - stored.keys()]
    problems += [f"{key}: not backed by any stored row" for key in stored.keys() - expected.keys()]
    for key in expected.keys() & stored.keys():
        got, want = stored[key], expected[key]
        for name in COUNTERS + HISTOGRAMS:
            if got[name] != want[name]:
                problems.append(f"{key} {name}: stored {got[name]!r}, recomputed {want[name]!r}")
        for name in SUMS:
            if not math.isclose(got[name], want[name], rel_tol=1e-9, abs_tol=1e-6):
                problems.append(f"{key} {name}: stored {got[name]!r}, recomputed {want[name]!r}")
    return problems


def hourly_rollups(conn: Connection) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(stored hourly rows, the same recomputed from the minute rows of the compacted hours)."""
    through = compacted_through(conn)
    minutes = conn.execute(select(Rollup.__table__).where(Rollup.minute < through)).mappings() if through else []
    expected = {key: normalized(d) for key, d in by_hour(minutes).items()}
    stored = {r["rollup_key"]: normalized(r) for r in conn.execute(select(HourlyRollup.__table__)).mappings()}
    return stored, expected


def recomputed_rollups(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every rollup as it must be, counted afresh from the stored sessions and samples.

    Written out plainly, row by row, rather than through the ingest fold (`collector.store.session_fold`,
    `collector.store.rollups.accumulate_samples`), so that a slip there shows up; only the bucket
    definitions are shared."""
    sessions = {r["session_id"]: dict(r) for r in conn.execute(select(Session.__table__)).mappings()}
    out: dict[str, dict[str, Any]] = {}

    def entry(row: dict[str, Any]) -> dict[str, Any]:
        key = rollup_key(row["ts"].replace(second=0, microsecond=0), {d: row[d] or "unknown" for d in ROLLUP_COLUMNS})
        if key not in out:
            out[key] = {**{c: 0 for c in COUNTERS}, **{s: 0.0 for s in SUMS}, **{h: Counter() for h in HISTOGRAMS}}
        return out[key]

    for row in sessions.values():
        e = entry(row)
        ok = row["status"] == "ok"
        e["sessions"] += 1
        e[f"status_{row['status']}"] += 1
        e["successful_turns"] += ok and row["turn_success"] is not False and not row["shadow"]
        e["shadow_sessions"] += bool(row["shadow"])
        e["retries"] += row["retries"] or 0
        e["empty_hypotheses"] += ok and row["hypothesis"] is not None and row["hypothesis"].strip() == ""
        e["partial_rewrites"] += row["partial_rewrites"] or 0
        reasons = row.get("hallucination")  # NULL: no hypothesis, or stored before migration 0012
        if reasons is not None:
            e["hallucination_checked"] += 1
            e["hallucination_flagged"] += reasons != 0
            e["hallucination_compression"] += bool(reasons & 1)
            e["hallucination_loop"] += bool(reasons & 2)
            e["hallucination_no_speech"] += bool(reasons & 4)
        if row["cache_hit"] is not None:  # NULL: not said, or stored before migration 0015
            e["cache_lookups"] += 1
            e["cache_hits"] += bool(row["cache_hit"])
        if row["backend"] is not None:
            e["backend_sessions"] += 1
            if row["backend"] == "api":
                e["fallback_sessions"] += 1
                e["api_audio_seconds"] += row["audio_seconds"] or 0.0
        e["audio_seconds"] += row["audio_seconds"] or 0.0
        e["gpu_seconds"] += row["gpu_seconds"] or 0.0
        for column, hist in (("final_latency_ms", "latency_hist"), ("first_partial_ms", "first_partial_hist"),
                             ("queue_ms", "queue_hist")):
            if row[column] is not None:
                e[hist][bucket_code(row[column])] += 1
        if row["confidence"] is not None:
            e["confidence_sum"] += row["confidence"]
            e["confidence_count"] += 1
            e["confidence_hist"][confidence_code(row["confidence"])] += 1
        if row["snr_db"] is not None:
            e["snr_sum"] += row["snr_db"]
            e["snr_count"] += 1
            e["snr_hist"][snr_code(row["snr_db"])] += 1
    for sample in conn.execute(select(Sample.__table__)).mappings():
        e = entry(sessions[sample["session_id"]])
        errors = sample["substitutions"] + sample["deletions"] + sample["insertions"]
        e["wer_utterances"] += 1
        e["wer_substitutions"] += sample["substitutions"]
        e["wer_deletions"] += sample["deletions"]
        e["wer_insertions"] += sample["insertions"]
        e["wer_words"] += sample["ref_words"]
        e["wer_pairs"][f"{errors}:{sample['ref_words']}"] += 1
        if "ref_chars" in sample and sample["ref_chars"] is not None:  # NULL: scored before migration 0011
            e["cer_errors"] += sample["char_errors"]
            e["cer_chars"] += sample["ref_chars"]
            e["cer_pairs"][f"{sample['char_errors']}:{sample['ref_chars']}"] += 1
            e["entity_occurrences"] += sample["entity_occurrences"]
            e["entities_found"] += sample["entities_found"]
        if sample.get("der_speech_s") is not None:  # a diarized sample (migration 0010)
            ms = {c: int(round(sample[f"der_{c}_s"] * 1000)) for c in ("missed", "false_alarm", "confusion", "speech")}
            for c, v in ms.items():
                e[f"diar_{c}_ms"] += v
            e["diar_sessions"] += 1
            e["diar_speaker_errors"] += abs(sample["ref_speakers"] - sample["hyp_speakers"])
            e["diar_pairs"][f"{ms['missed'] + ms['false_alarm'] + ms['confusion']}:{ms['speech']}"] += 1
    return {key: normalized(values) for key, values in out.items()}


def stored_rollups(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(Rollup.__table__)).mappings()
    out = {}
    for row in rows:
        assert row["rollup_key"] == rollup_key(row["minute"], {d: row[d] for d in ROLLUP_COLUMNS}), row["rollup_key"]
        out[row["rollup_key"]] = normalized(row)
    return out
