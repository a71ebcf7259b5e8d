"""Diarization at sample ingest: segments checked across the request, speakers anonymized, DER
scored by pyannote.metrics (`collector.measures.diarization`), and the columns a sample stores.

Scored before the write transaction opens: scoring takes milliseconds to a second per sample
(pyannote's cost grows about with the square of the segments), and needs nothing stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.measures import diarization
from collector.store.schemas import SampleIn, SpeakerSegment


@dataclass(frozen=True)
class Diarized:
    errors: diarization.DiarizationErrors
    reference: list[diarization.SegmentTuple]  # anonymous speakers, time order
    hypothesis: list[diarization.SegmentTuple]


def _tuples(segments: Sequence[SpeakerSegment]) -> list[diarization.SegmentTuple]:
    return [(s.speaker, s.start, s.end) for s in segments]


def _overlap_problem(field: str, segments: Sequence[SpeakerSegment]) -> str | None:
    found = diarization.self_overlap(_tuples(segments))
    if found is None:
        return None
    i, j = found
    return f"{field}.{i}: overlaps {field}.{j} of the same speaker (merge them into one segment)"


def diarize_samples(samples: Sequence[tuple[int, SampleIn]], collar: float,
                    limit: int = diarization.MAX_SEGMENTS_PER_REQUEST
                    ) -> tuple[dict[int, Diarized], list[tuple[int, str]]]:
    """The diarization of every sample that sends segments, by request index, and the samples
    refused: one list without the other, a speaker overlapping itself, or past the request's
    budget of `limit` segments (samples count against it in request order; once it is spent,
    every later sample with segments is refused too)."""
    scored: dict[int, Diarized] = {}
    rejected: list[tuple[int, str]] = []
    budget = limit
    for index, sample in samples:
        ref, hyp = sample.reference_segments, sample.hypothesis_segments
        if ref is None and hyp is None:
            continue
        if ref is None or hyp is None:
            missing, given = ("reference_segments", "hypothesis_segments") if ref is None else \
                ("hypothesis_segments", "reference_segments")
            rejected.append((index, f"{missing}: required with {given} (DER compares the two)"))
            continue
        budget -= len(ref) + len(hyp)
        if budget < 0:
            rejected.append((index, f"reference_segments: the request's samples hold more than {limit} "
                                    "segments together; send this sample in another request"))
            continue
        problem = _overlap_problem("reference_segments", ref) or _overlap_problem("hypothesis_segments", hyp)
        if problem:
            rejected.append((index, problem))
            continue
        reference = diarization.anonymize(_tuples(ref), diarization.REFERENCE_PREFIX)
        hypothesis = diarization.anonymize(_tuples(hyp), diarization.HYPOTHESIS_PREFIX)
        scored[index] = Diarized(diarization.diarization_errors(reference, hypothesis, collar), reference, hypothesis)
    return scored, rejected


_NONE = {"der_missed_s": None, "der_false_alarm_s": None, "der_confusion_s": None, "der_speech_s": None,
         "ref_speakers": None, "hyp_speakers": None, "reference_segments": None, "hypothesis_segments": None}


def diarization_columns(diarized: Diarized | None) -> dict[str, Any]:
    """A sample row's diarization columns (all None without segments: every row of one insert
    has the same keys)."""
    if diarized is None:
        return dict(_NONE)
    e = diarized.errors
    return {"der_missed_s": e.missed_s, "der_false_alarm_s": e.false_alarm_s, "der_confusion_s": e.confusion_s,
            "der_speech_s": e.speech_s, "ref_speakers": e.ref_speakers, "hyp_speakers": e.hyp_speakers,
            "reference_segments": [list(s) for s in diarized.reference],
            "hypothesis_segments": [list(s) for s in diarized.hypothesis]}
