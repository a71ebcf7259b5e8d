"""Session records and labeled samples the probe posts (pure builders, DESIGN.md schema)."""

from __future__ import annotations

import hashlib
from datetime import datetime

PROBE_TENANT = "probe"
SAMPLE_SOURCE = "probe"


def session_id_for(run_id: str, utt_id: str, slice_name: str) -> str:
    """Unique per run x utterance x slice, within the collector's 128 characters."""
    session_id = f"probe-{run_id}-{utt_id}-{slice_name}"
    if len(session_id) > 128:  # long manifest ids: a digest keeps ids distinct where a cut would not
        session_id = f"probe-{run_id}-{hashlib.sha256(utt_id.encode()).hexdigest()[:24]}-{slice_name}"
    return session_id


def _float_or_none(value: float | None, ndigits: int = 6) -> float | None:
    return None if value is None else round(float(value), ndigits)


def session_record(*, session_id: str, ts: datetime, model_version: str, channel: str,
                   audio_seconds: float, final_latency_ms: float, status: str,
                   confidence: float | None, snr_db: float | None, hypothesis: str | None,
                   trace_id: str | None, gpu_seconds: float | None = None, region: str | None = None,
                   pool: str | None = None, language: str = "en",
                   attributes: dict | None = None) -> dict:
    if ts.tzinfo is None:
        raise ValueError("ts: must be timezone-aware UTC")
    record = {
        "session_id": session_id, "ts": ts.isoformat(), "model_version": model_version,
        "tenant": PROBE_TENANT, "channel": channel, "language": language, "region": region, "pool": pool,
        "status": status, "audio_seconds": _float_or_none(audio_seconds),
        "final_latency_ms": _float_or_none(final_latency_ms, 3),
        "confidence": _float_or_none(None if confidence is None else min(max(confidence, 0.0), 1.0)),
        "snr_db": _float_or_none(snr_db, 3), "gpu_seconds": _float_or_none(gpu_seconds),
        "hypothesis": hypothesis, "trace_id": trace_id, "attributes": attributes or None,
    }
    return {k: v for k, v in record.items() if v is not None}


def sample_record(session_id: str, reference: str, hypothesis: str) -> dict:
    return {"session_id": session_id, "reference": reference, "hypothesis": hypothesis, "source": SAMPLE_SOURCE}


def span_attributes(record: dict) -> dict:
    """Root-span attributes (`asr.` + session field) for the scalar fields of a record.
    Per-token lists stay in the session record: spans carry the summary numbers only."""
    attrs = {f"asr.{k}": v for k, v in record.items()
             if k not in ("attributes", "hypothesis", "ts", "trace_id") and isinstance(v, (str, int, float, bool))}
    for key in ("no_speech_prob", "avg_logprob", "compression_ratio", "mixing_snr_db", "rtf", "batch_size", "noise"):
        value = (record.get("attributes") or {}).get(key)
        if isinstance(value, (str, int, float, bool)):
            attrs[f"asr.{key}"] = value
    return attrs
