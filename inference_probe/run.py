"""One probe run: golden utterances x slices through a backend, scored, posted as
sessions + labeled samples (source `probe`) and OTLP spans, with a summary."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from collector.measures import hallucination, word_errors
from inference_probe.audio_io import SAMPLE_RATE, read_audio
from inference_probe.augment import SliceAudio, make_slice, parse_slices
from inference_probe.backends.base import Transcription
from inference_probe.errors import ProbeError
from inference_probe.manifest import audio_sha256, load_manifest, manifest_sha256
from inference_probe.records import sample_record, session_id_for, session_record, span_attributes
from inference_probe.repro import package_versions, torch_runtime
from inference_probe.snr_estimate import estimate_snr
from inference_probe.spans import PendingSession
from inference_probe.summary import SliceSummary, format_table, summarize
from inference_probe.timing import (
    StageRecord,
    StageTimer,
    batch_clock,
    peak_memory_mb,
    reset_peak_memory,
    rtfx,
    split_evenly,
)

DEFAULT_BATCH = {"cpu": 8, "cuda": 64, "remote": 1}
# Warm-up batches run before the timed ones and are not reported (as the Open ASR
# Leaderboard's --warmup_steps): the first batches pay for lazy allocations, kernel
# selection and caches. Never for an http endpoint: its warm state is not ours, and a
# request to a paid API is not free.
DEFAULT_WARMUP_BATCHES = {"whisper": 1, "ctc": 1, "http": 0}


@dataclass
class ProbeRun:
    run_id: str
    model_version: str
    rows: list[dict]
    summaries: list[SliceSummary]
    totals: dict
    repro: dict
    posting: dict = field(default_factory=dict)

    def table(self) -> str:
        return format_table(self.summaries)

    def to_json(self) -> dict:
        """The run summary; transcripts stay out of it (they live in the collector)."""
        return {"run_id": self.run_id, "model_version": self.model_version, "totals": self.totals,
                "repro": self.repro, "posting": self.posting,
                "slices": [dict(asdict(s), wer=s.wer, rtfx=s.rtfx) for s in self.summaries],
                "utterances": [{k: v for k, v in r.items() if k not in ("reference", "hypothesis")}
                               for r in self.rows]}


@dataclass
class _Batch:
    items: list[tuple[int, str]]
    sliced: list[SliceAudio]
    results: list[Transcription]
    stages: list[StageRecord]  # preprocess (augmentation), then the backend's own stages
    transcription_s: float  # the batch's clock, audio arrays to text; augmentation is outside it
    peak_mb: float | None

    @property
    def shares_s(self) -> list[float]:
        return split_evenly(self.transcription_s, len(self.items))

    @property
    def preprocess_s(self) -> float:
        return sum(s.duration_ns for s in self.stages if s.name == "preprocess") / 1e9

    @property
    def end_ns(self) -> int:
        return max(s.start_ns + s.duration_ns for s in self.stages)


def default_spool_dir() -> Path:
    from inference_probe.model_store import cache_root

    return cache_root() / "spool" / "probe"


def _open_backend(backend, *, model, endpoint, device, endpoint_token, encoder_context):
    """(backend, owned, load timer): a name is built here and timed as the `load` stage."""
    load_timer = StageTimer("cpu")
    if not isinstance(backend, str):
        return backend, False, load_timer
    from inference_probe.backends import create_backend

    options = {"encoder_context": encoder_context} if backend == "whisper" and encoder_context else {}
    with load_timer.stage("load"):
        built = create_backend(backend, model=model, endpoint=endpoint, device=device, token=endpoint_token,
                               **options)
    return built, True, load_timer


def _reproducibility(run_id, manifest, utterances, backend, seed, slice_names, batch_size) -> dict:
    describe = backend.describe()
    return {
        "run_id": run_id, "manifest": str(manifest or "bundled golden set"),
        "manifest_sha256": manifest_sha256(manifest), "audio_sha256": audio_sha256(utterances),
        "weights_sha256": backend.weights_sha256, "model_version": backend.model_version,
        "augmentation_seed": seed, "slices": slice_names, "utterances": len(utterances),
        "decoding": describe.get("decoding"), "backend": describe, "batch_size": batch_size,
        "packages": package_versions(), "runtime": torch_runtime(backend.device),
    }


def _run_batch(backend, items, audios, utterances, seed) -> _Batch:
    timer = StageTimer(backend.device)
    reset_peak_memory(backend.device)
    with timer.stage("preprocess"):
        sliced = [make_slice(audios[i], s, utterances[i].utt_id, seed,
                             [a for j, a in enumerate(audios) if j != i] if s.startswith("noise") else None)
                  for i, s in items]
    # The augmented arrays are the probe's dataset: like the leaderboard's data loading they
    # stay outside the clock, which starts at the arrays and stops at the decoded text.
    with batch_clock(backend.device) as clock:
        results = backend.transcribe_batch([x.audio for x in sliced], timer)
    return _Batch(items, sliced, results, list(timer.stages), clock.seconds, peak_memory_mb(backend.device))


def plan_batches(utterance_lengths: list[int], slice_names: list[str], batch_size: int) -> list[list[tuple[int, str]]]:
    """(utterance index, slice) batches: one slice per batch, longest utterances first.

    A batch's time is split evenly over its samples, so only batches of one slice give
    each slice its own RTFx (noisy audio decodes longer); longest first keeps the
    padding in each batch small (pad-aware batching)."""
    order = sorted(range(len(utterance_lengths)), key=lambda i: (-utterance_lengths[i], i))
    batches = []
    for name in slice_names:
        batches += [[(i, name) for i in order[start:start + batch_size]]
                    for start in range(0, len(order), batch_size)]
    return batches


def _warm_up(backend, batches, audios, utterances, seed) -> float:
    """Run `batches` once, untimed and unreported; returns the seconds they took."""
    started = time.perf_counter()
    for items in batches:
        _run_batch(backend, items, audios, utterances, seed)
    return time.perf_counter() - started


def run_probe(
    collector_url: str | None = None,
    *,
    token: str | None = None,
    endpoint_token: str | None = None,
    manifest: str | Path | None = None,
    slices: str | list[str] | None = None,
    limit: int | None = None,
    backend="whisper",
    model: str | None = None,
    endpoint: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    seed: int = 0,
    spool_dir: Path | None | str = "default",
    region: str | None = None,
    encoder_context: str | None = None,
    at: datetime | None = None,
    warmup_batches: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    show_progress: bool = True,
    post_retries: int = 4,
    post_backoff_s: float = 0.2,
    otlp_timeout_s: float = 10.0,
    summary_path: str | Path | None = None,
) -> ProbeRun:
    """Run the probe (posting to `collector_url` unless None). `backend` is a name
    (whisper|ctc|http) or an already loaded backend;
    `at` sets the event time of the first session (default: now); `progress(done, total)`
    is called after each batch for callers that draw their own progress; `warmup_batches`
    (default: DEFAULT_WARMUP_BATCHES by backend) are run first and left out of every figure."""
    from tqdm import tqdm

    slice_names = slices if isinstance(slices, list) else parse_slices(slices)
    utterances = load_manifest(manifest, limit)
    loaded = [read_audio(u.audio_path) for u in utterances]
    audios: list[np.ndarray] = [a for a, _ in loaded]
    run_id = uuid.uuid4().hex[:12]
    spool = default_spool_dir() if spool_dir == "default" else (Path(spool_dir) if spool_dir else None)
    if batch_size is not None and batch_size < 1:
        raise ProbeError(f"--batch-size must be >= 1, got {batch_size}")
    if warmup_batches is not None and warmup_batches < 0:
        raise ProbeError(f"--warmup-batches must be >= 0, got {warmup_batches}")

    poster = None
    if collector_url:
        from inference_probe.posting import ProbePoster

        poster = ProbePoster(collector_url, token, spool, post_retries=post_retries,
                             post_backoff_s=post_backoff_s, otlp_timeout_s=otlp_timeout_s)
    owns_backend = False
    rows, sessions, samples = [], [], []
    try:
        backend, owns_backend, load_timer = _open_backend(
            backend, model=model, endpoint=endpoint, device=device, endpoint_token=endpoint_token,
            encoder_context=encoder_context)
        device_name = backend.device
        # One utterance per HTTP call keeps per-request timings honest.
        batch_size = 1 if backend.kind == "http" else batch_size or DEFAULT_BATCH.get(device_name.split(":")[0], 8)
        repro = _reproducibility(run_id, manifest, utterances, backend, seed, slice_names, batch_size)
        common = {"run_id": run_id, "manifest_sha256": repro["manifest_sha256"], "audio_sha256": repro["audio_sha256"],
                  "weights_sha256": backend.weights_sha256, "augmentation_seed": seed, "decoding": repro["decoding"],
                  "packages": repro["packages"], "backend": backend.kind, "device": device_name}

        batches = plan_batches([len(a) for a in audios], slice_names, batch_size)
        total = sum(len(b) for b in batches)
        if warmup_batches is None:
            warmup_batches = DEFAULT_WARMUP_BATCHES.get(backend.kind, 0)
        warmup_s = _warm_up(backend, batches[:warmup_batches], audios, utterances, seed)
        run_wall0 = time.time_ns()
        base = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        shift_ns = int(base.timestamp() * 1e9) - run_wall0  # event time = run clock moved to `at`
        compute_s = audio_s = preprocess_s = 0.0
        n_tokens = 0
        peak_mb: float | None = None
        cold_stages = list(load_timer.stages)  # the run's first session paid the model load
        with tqdm(total=total, desc=f"probe {backend.model_version}", unit="utt",
                  disable=not show_progress) as bar:
            for items in batches:
                batch = _run_batch(backend, items, audios, utterances, seed)
                compute_s += batch.transcription_s
                preprocess_s += batch.preprocess_s
                if batch.peak_mb is not None:
                    peak_mb = max(peak_mb or 0.0, batch.peak_mb)
                start_ns = batch.stages[0].start_ns
                ts = datetime.fromtimestamp((start_ns + shift_ns) / 1e9, tz=timezone.utc)
                for (i, slice_name), sl, res, share_s in zip(batch.items, batch.sliced, batch.results, batch.shares_s):
                    utt = utterances[i]
                    seconds = len(sl.audio) / SAMPLE_RATE
                    audio_s += seconds
                    n_tokens += len(res.token_probs)
                    snr = estimate_snr(sl.audio, SAMPLE_RATE)
                    session_id = session_id_for(run_id, utt.utt_id, slice_name)
                    trace_id = poster.new_trace_id() if poster else None
                    attrs = dict(common, utt_id=utt.utt_id, slice=slice_name, mixing_snr_db=sl.mixing_snr_db,
                                 snr_est_method=snr.method, snr_band_hz=[round(f) for f in snr.band_hz],
                                 token_probs=res.token_probs, tokens=res.tokens,
                                 no_speech_prob=res.no_speech_prob, eot_prob=res.eot_prob,
                                 avg_logprob=res.avg_logprob, compression_ratio=_compression_ratio(res),
                                 n_tokens=len(res.token_probs), truncated=res.truncated,
                                 rtf=round(share_s / seconds, 6), batch_size=len(batch.items),
                                 compute_share_s=round(share_s, 6),
                                 batch_transcription_s=round(batch.transcription_s, 6),
                                 gpu_mem_peak_mb=batch.peak_mb, source_sample_rate=loaded[i][1], error=res.error,
                                 **sl.params)
                    record = session_record(
                        session_id=session_id, ts=ts, model_version=backend.model_version, channel=slice_name,
                        audio_seconds=seconds, final_latency_ms=share_s * 1000, status=res.status,
                        confidence=res.confidence, snr_db=snr.db, hypothesis=res.text,
                        trace_id=f"{trace_id:032x}" if trace_id else None,
                        gpu_seconds=share_s if device_name.startswith("cuda") else None, region=region,
                        attributes={k: v for k, v in attrs.items() if v is not None})
                    sessions.append(record)
                    if res.status == "ok":
                        samples.append(sample_record(session_id, utt.text, res.text))
                    if poster:
                        stages, cold_stages = cold_stages + batch.stages, []
                        poster.add_spans(PendingSession(
                            trace_id, dict(span_attributes(record), **{"asr.cold_start": len(stages) > len(batch.stages)}),
                            stages[0].start_ns + shift_ns, batch.end_ns + shift_ns,
                            [StageRecord(s.name, s.start_ns + shift_ns, s.duration_ns) for s in stages]))
                    errors = word_errors(utt.text, res.text, "whisper_en")
                    rows.append({"utt_id": utt.utt_id, "slice": slice_name, "session_id": session_id,
                                 "reference": utt.text, "hypothesis": res.text, "status": res.status,
                                 "errors": errors.errors, "ref_words": errors.ref_words,
                                 "confidence": res.confidence, "no_speech_prob": res.no_speech_prob,
                                 "avg_logprob": res.avg_logprob, "compression_ratio": _compression_ratio(res),
                                 "snr_est_db": snr.db, "snr_est_method": snr.method,
                                 "mixing_snr_db": sl.mixing_snr_db,
                                 "latency_ms": share_s * 1000, "audio_seconds": seconds,
                                 "n_tokens": len(res.token_probs)})
                bar.update(len(batch.items))
                if progress:
                    progress(len(rows), total)
    except BaseException:
        if poster:
            poster.close()
        raise
    finally:
        if owns_backend:
            backend.close()

    posting = poster.finish(sessions, samples) if poster else {"collector": None}
    repro["model_version"] = backend.model_version  # an http endpoint names its version in its replies
    run_rtfx = rtfx(audio_s, compute_s)
    # compute_seconds is the leaderboard's transcription time (sum of the batches' clocks);
    # augmentation (preprocess) and the warm-up are reported beside it, never inside it.
    totals = {"sessions": len(rows), "audio_seconds": round(audio_s, 3), "compute_seconds": round(compute_s, 4),
              "rtfx": round(run_rtfx, 2) if run_rtfx else None,
              "preprocess_seconds": round(preprocess_s, 4), "warmup_batches": min(warmup_batches, len(batches)),
              "warmup_seconds": round(warmup_s, 3),
              "load_seconds": round(load_timer.total_s(), 3), "tokens": n_tokens,
              "tokens_per_second": round(n_tokens / compute_s, 1) if compute_s else None,
              "gpu_mem_peak_mb": peak_mb, "device": device_name, "batch_size": batch_size,
              "started_at": base.isoformat(),
              "finished_at": (base + timedelta(seconds=(time.time_ns() - run_wall0) / 1e9)).isoformat()}
    result = ProbeRun(run_id, backend.model_version, rows, summarize(rows, slice_names), totals, repro, posting)
    if summary_path:
        Path(summary_path).write_text(json.dumps(result.to_json(), indent=2, default=str))
    return result


def _compression_ratio(res: Transcription) -> float | None:
    """The backend's compression ratio, else Whisper's formula on the text (every backend's text
    can be judged by it; an empty or failed transcript has none)."""
    if res.compression_ratio is not None:
        return res.compression_ratio
    return round(hallucination.compression_ratio(res.text), 6) if res.text else None
