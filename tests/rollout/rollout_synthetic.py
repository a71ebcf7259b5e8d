"""Synthetic canary/baseline traffic for rollout tests: per-utterance records and their slices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slo.rollout.judge import ArmStats, SliceData

CHANNELS = {"clean": 0.35, "telephony": 0.25, "web": 0.2, "far_field": 0.2}
REGIONS = ("us", "eu")
BASE_WER = {"clean": 0.08, "telephony": 0.14, "web": 0.10, "far_field": 0.25}


@dataclass
class Utterance:
    model_version: str
    channel: str
    region: str
    errors: int
    words: int
    latency_ms: float
    status: str
    gpu_seconds: float
    entities: int = 0  # entity occurrences in the reference
    entities_found: int = 0
    language: str = "en"


def traffic(
    version: str,
    n: int,
    *,
    wer_scale: dict[str, float] | None = None,
    latency_scale: float = 1.0,
    error_rate: float = 0.004,
    entity_miss: dict[str, float] | None = None,
    language: str = "en",
    seed: int,
) -> list[Utterance]:
    """Utterances of `version`; with `entity_miss` (share of entity occurrences missed per channel),
    each has 0-2 entity occurrences, drawn from a generator of their own (the other draws stay
    as they were without)."""
    rng = np.random.default_rng(seed)
    wer_scale = wer_scale or {}
    names = list(CHANNELS)
    channel_idx = rng.choice(len(names), size=n, p=list(CHANNELS.values()))
    words = rng.integers(5, 20, size=n)
    wer = np.array([min(BASE_WER[c] * wer_scale.get(c, 1.0), 1.0) for c in names])[channel_idx]
    errors = rng.binomial(words, wer)
    failed = rng.random(n) < error_rate
    regions = rng.integers(0, 2, size=n)
    latency = rng.lognormal(np.log(600.0 * latency_scale), 0.35, size=n)
    entities = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=np.int64)
    if entity_miss is not None:
        entity_rng = np.random.default_rng(seed + 10_000)
        entities = entity_rng.integers(0, 3, size=n)
        miss = np.array([entity_miss.get(c, 0.05) for c in names])[channel_idx]
        found = entities - entity_rng.binomial(entities, miss)
    return [Utterance(version, names[channel_idx[i]], REGIONS[regions[i]], int(errors[i]), int(words[i]),
                      float(latency[i]), "decode_error" if failed[i] else "ok", 0.2, int(entities[i]),
                      int(found[i]), language) for i in range(n)]


def arm(utts: list[Utterance]) -> ArmStats:
    pairs: dict[tuple[int, int], int] = {}
    for u in utts:
        if u.status == "ok":
            pairs[(u.errors, u.words)] = pairs.get((u.errors, u.words), 0) + 1
    ok = sum(1 for u in utts if u.status == "ok")
    return ArmStats(
        wer_pairs=pairs,
        entity_occurrences=sum(u.entities for u in utts if u.status == "ok"),
        entities_found=sum(u.entities_found for u in utts if u.status == "ok"),
        latency_ms=[u.latency_ms for u in utts],
        sessions=len(utts),
        failures=len(utts) - ok,
        decode_errors=sum(1 for u in utts if u.status == "decode_error"),
        successful_turns=ok,
        cost_usd=sum(u.gpu_seconds for u in utts) / 3600 * 2.5,
    )


def slices(canary: list[Utterance], baseline: list[Utterance], by: tuple[str, ...] = ("channel", "region")) -> list[SliceData]:
    groups: dict[tuple, tuple[list, list]] = {}
    for index, utts in enumerate((canary, baseline)):
        for u in utts:
            groups.setdefault(tuple(getattr(u, d) for d in by), ([], []))[index].append(u)
    return [SliceData(dict(zip(by, key)), arm(c), arm(b)) for key, (c, b) in sorted(groups.items())]


# The launch-gate case from the field: average WER -4%, far-field +8%.
LAUNCH_GATE_SCALE = {"clean": 0.885, "telephony": 0.885, "web": 0.885, "far_field": 1.08}


def insert(engine, utts: list[Utterance], start, *, privacy_error_every: int = 0, prefix: str = "") -> None:
    """Store utterances as sessions plus per-minute rollups, as the collector's ingest would."""
    from datetime import timedelta

    from sqlalchemy import insert as sql_insert

    from collector.store.models import Rollup, Session

    sessions, rollups = [], {}
    for i, u in enumerate(utts):
        ts = start + timedelta(seconds=(i * 7) % 3600)
        minute = ts.replace(second=0, microsecond=0)
        attrs = {"privacy_error": True} if privacy_error_every and i % privacy_error_every == 0 else None
        sessions.append(dict(session_id=f"{prefix}{u.model_version}-{i}", ts=ts, received_at=ts,
                             model_version=u.model_version, region=u.region, tenant="t1", channel=u.channel,
                             language=u.language, pool="default", status=u.status, final_latency_ms=u.latency_ms,
                             gpu_seconds=u.gpu_seconds, shadow=False, retries=0, attributes=attrs))
        key = f"{minute.isoformat()}|{u.model_version}|{u.region}|{u.channel}|{u.language}"
        r = rollups.setdefault(key, dict(
            rollup_key=key, minute=minute, model_version=u.model_version, region=u.region, channel=u.channel,
            tenant="t1", language=u.language, pool="default", entity_occurrences=0, entities_found=0, cer_pairs={}, sessions=0, status_ok=0, status_partial=0,
            status_decode_error=0, status_dropped=0, status_timeout=0, successful_turns=0, shadow_sessions=0,
            retries=0, empty_hypotheses=0, partial_rewrites=0, audio_seconds=0.0, gpu_seconds=0.0,
            confidence_sum=0.0, confidence_count=0, snr_sum=0.0, snr_count=0, latency_hist={},
            first_partial_hist={}, queue_hist={}, confidence_hist={}, snr_hist={}, wer_utterances=0,
            wer_substitutions=0, wer_deletions=0, wer_insertions=0, wer_words=0, wer_pairs={}))
        r["sessions"] += 1
        r["gpu_seconds"] += u.gpu_seconds
        if u.status == "ok":
            r["status_ok"] += 1
            r["successful_turns"] += 1
            pair = f"{u.errors}:{u.words}"
            r["wer_pairs"][pair] = r["wer_pairs"].get(pair, 0) + 1
            # A spaceless language's words stand in for its characters here: the judge reads its CER pairs.
            r["cer_pairs"][pair] = r["cer_pairs"].get(pair, 0) + 1
            r["entity_occurrences"] += u.entities
            r["entities_found"] += u.entities_found
            r["wer_utterances"] += 1
            r["wer_words"] += u.words
            r["wer_substitutions"] += u.errors
        else:
            r["status_decode_error"] += 1
    with engine.begin() as conn:
        conn.execute(sql_insert(Session), sessions)
        conn.execute(sql_insert(Rollup), list(rollups.values()))
