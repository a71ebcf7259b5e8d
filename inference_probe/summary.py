"""WER and RTFx per slice and the run summary table (pure over result rows)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from inference_probe.timing import rtfx


@dataclass
class SliceSummary:
    slice: str
    utterances: int
    ref_words: int
    errors: int
    mean_confidence: float | None
    mean_snr_est_db: float | None
    mean_latency_ms: float | None
    failed: int
    audio_seconds: float = 0.0
    transcription_seconds: float = 0.0  # the slice's shares of its batches' clocks

    @property
    def wer(self) -> float | None:
        return self.errors / self.ref_words if self.ref_words else None

    @property
    def rtfx(self) -> float | None:
        """The Open ASR Leaderboard's RTFx over this slice: sum of audio / sum of transcription time."""
        return rtfx(self.audio_seconds, self.transcription_seconds)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(rows: list[dict], slice_order: list[str]) -> list[SliceSummary]:
    """Corpus WER per slice: (S+D+I)/N summed over utterances, not a mean of utterance WERs."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["slice"]].append(row)
    out = []
    for name in slice_order:
        group = groups.get(name, [])
        if not group:
            continue
        out.append(SliceSummary(
            slice=name, utterances=len(group), ref_words=sum(r["ref_words"] for r in group),
            errors=sum(r["errors"] for r in group),
            mean_confidence=_mean([r["confidence"] for r in group if r["confidence"] is not None]),
            mean_snr_est_db=_mean([r["snr_est_db"] for r in group if r["snr_est_db"] is not None]),
            mean_latency_ms=_mean([r["latency_ms"] for r in group]),
            failed=sum(1 for r in group if r["status"] != "ok"),
            audio_seconds=sum(r["audio_seconds"] for r in group),
            transcription_seconds=sum(r["latency_ms"] for r in group) / 1000,
        ))
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(summaries: list[SliceSummary]) -> str:
    header = (f"{'slice':<12} {'utts':>5} {'words':>6} {'WER':>7} {'conf':>6} {'SNR est':>8} {'lat ms':>8} "
              f"{'RTFx':>8} {'failed':>6}")
    lines = [header, "-" * len(header)]
    for s in summaries:
        wer = "-" if s.wer is None else f"{100 * s.wer:6.1f}%"
        lines.append(f"{s.slice:<12} {s.utterances:>5} {s.ref_words:>6} {wer:>7} {_fmt(s.mean_confidence, '.3f'):>6} "
                     f"{_fmt(s.mean_snr_est_db, '.1f'):>8} {_fmt(s.mean_latency_ms, '.0f'):>8} "
                     f"{_fmt(s.rtfx, '.1f'):>8} {s.failed:>6}")
    return "\n".join(lines)


def format_report(run) -> str:
    """What `asrwatch probe` prints after a run (a `run.ProbeRun`)."""
    t, repro, p = run.totals, run.repro, run.posting
    lines = [f"\nmodel {run.model_version}  run {run.run_id}  device {t['device']}  batch {t['batch_size']}",
             run.table(),
             f"audio {t['audio_seconds']:.1f} s, transcription {t['compute_seconds']:.2f} s, RTFx {t['rtfx']} "
             f"(per-utterance time = batch time / batch size, {t['warmup_batches']} warm-up batch(es) excluded), "
             f"{t['tokens_per_second']} tokens/s, load {t['load_seconds']} s"
             + (f", GPU peak {t['gpu_mem_peak_mb']:.0f} MiB" if t["gpu_mem_peak_mb"] else ""),
             f"manifest sha256 {repro['manifest_sha256'][:16]}  weights sha256 "
             f"{(repro['weights_sha256'] or '-')[:16]}  seed {repro['augmentation_seed']}"]
    if p.get("sessions"):
        s, m = p["sessions"], p["samples"]
        line = (f"collector {p['collector']}: sessions accepted {s['accepted']}, duplicates {s['duplicates']}, "
                f"rejected {s['rejected']}; samples scored {m['scored']}, rejected {m['rejected']}")
        if s["spooled"] or m["spooled"] or p.get("spans_spooled"):
            line += (f"; collector unreachable: spooled {s['spooled']} sessions, {m['spooled']} samples, "
                     f"{p.get('spans_spooled', 0)} spans to {p['spool_dir']} (replayed on the next run)")
        lines.append(line)
    return "\n".join(lines)
