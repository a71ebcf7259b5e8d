"""Diarization error rate (DER) and speaker-count error of one sample, by pyannote.metrics.

Not computed by hand: `pyannote.metrics.diarization.DiarizationErrorRate` (pyannote/pyannote-metrics
src/pyannote/metrics/diarization.py) maps hypothesis speakers to reference speakers optimally
(Hungarian) and returns the identification components (src/pyannote/metrics/identification.py):
missed detection, false alarm, confusion and total reference speech, in seconds, with the
reference boundaries' collar removed. `DiarizationSpeakerCountError` (same file) gives
|hypothesis speakers - reference speakers|.

Speaker labels are whatever the sender chose, names included: they are replaced by anonymous
ids per sample (`anonymize`) before anything is scored or stored. DER does not depend on the
labels, only on which segments share one, so the score is that of the labels as sent.

Groups aggregate DER as pyannote's accumulated `abs(metric)` does: the sum of the sessions'
errors over the sum of their reference speech (longer sessions weigh more), never a mean of
session DERs. Rollups keep each component in whole milliseconds, and `"error_ms:speech_ms"`
pairs (the WER pair codec of `collector.measures.wer`) for exact per-session thresholds and the
bootstrap interval over sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.measures.wer import utterance_wer

SegmentTuple = tuple[str, float, float]  # (speaker, start, end) in seconds

MAX_SEGMENTS = 1000  # per list and sample: pyannote's cost grows about with the square of it
# Both lists of every sample of one request, together: scoring runs in the request's ingest turn
# (on SQLite, one batch at a time), and 4000 segments in 1000-segment samples take a few seconds.
MAX_SEGMENTS_PER_REQUEST = 4000
MAX_SECONDS = 86_400.0  # a segment ends within a day of the session's start
REFERENCE_PREFIX, HYPOTHESIS_PREFIX = "R", "H"


@dataclass(frozen=True)
class DiarizationErrors:
    """One sample's DER components in seconds, as pyannote.metrics computed them, and its speakers."""

    missed_s: float
    false_alarm_s: float
    confusion_s: float
    speech_s: float  # total reference speech evaluated (pyannote's `total`)
    ref_speakers: int
    hyp_speakers: int
    speaker_count_error: int  # |hyp_speakers - ref_speakers| (pyannote's DiarizationSpeakerCountError)

    @property
    def error_s(self) -> float:
        return self.missed_s + self.false_alarm_s + self.confusion_s

    @property
    def der(self) -> float:
        return session_der(self.error_s, self.speech_s)

    def milliseconds(self) -> tuple[int, int, int, int]:
        """(missed, false alarm, confusion, speech) in whole milliseconds, as rollups add them up."""
        return (to_ms(self.missed_s), to_ms(self.false_alarm_s), to_ms(self.confusion_s), to_ms(self.speech_s))

    @property
    def pair(self) -> tuple[int, int]:
        """(error_ms, speech_ms): the rollups' pair, its error the sum of the rounded components."""
        missed, false_alarm, confusion, speech = self.milliseconds()
        return missed + false_alarm + confusion, speech


def to_ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def session_der(error: float, speech: float) -> float:
    """One session's DER as pyannote's `IdentificationErrorRate.compute_metric` gives it: error over
    reference speech; without reference speech 0 when nothing was said wrongly, else 1 (the rule
    of `wer.utterance_wer`, which the rollups' pairs are judged with: `wer.pairs_good`)."""
    return utterance_wer(error, speech)


def anonymize(segments: Sequence[SegmentTuple], prefix: str) -> list[SegmentTuple]:
    """The segments in time order with each speaker replaced by `<prefix><n>`, n counting speakers
    in the order they first speak (ties: as sent): stable within a sample, and nothing of the
    sender's label is kept."""
    ordered = sorted(enumerate(segments), key=lambda item: (item[1][1], item[1][2], item[0]))
    ids: dict[str, str] = {}
    out = []
    for _, (speaker, start, end) in ordered:
        anonymous = ids.get(speaker)
        if anonymous is None:
            anonymous = ids[speaker] = f"{prefix}{len(ids) + 1}"
        out.append((anonymous, float(start), float(end)))
    return out


def self_overlap(segments: Sequence[SegmentTuple]) -> tuple[int, int] | None:
    """(i, j): segment i overlaps an earlier-starting segment j of the same speaker, or None.
    Such segments are refused: one voice cannot overlap itself, and pyannote would count the
    overlap as that speaker's speech twice. Touching segments (one ends where the next starts)
    are fine."""
    last: dict[str, tuple[float, int]] = {}  # speaker -> (latest end so far, its segment)
    for i in sorted(range(len(segments)), key=lambda k: (segments[k][1], segments[k][2])):
        speaker, start, end = segments[i]
        before = last.get(speaker)
        if before is not None and start < before[0]:
            return i, before[1]
        if before is None or end > before[0]:
            last[speaker] = (end, i)
    return None


def annotation(segments: Sequence[SegmentTuple]):
    """A pyannote.core Annotation, one track per segment, as sent."""
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for track, (speaker, start, end) in enumerate(segments):
        out[Segment(start, end), track] = speaker
    return out


def evaluated_region(reference, hypothesis):
    """The union of both annotations' extents: what pyannote's `uemify` takes when no UEM is
    given (src/pyannote/metrics/utils.py), passed explicitly so that it does not warn per call."""
    from pyannote.core import Timeline

    extent = reference.get_timeline().extent() | hypothesis.get_timeline().extent()
    return Timeline(segments=[extent] if extent else [])


def diarization_errors(reference: Sequence[SegmentTuple], hypothesis: Sequence[SegmentTuple],
                       collar: float = 0.0) -> DiarizationErrors:
    """DER components of one sample by pyannote.metrics, overlap kept (skip_overlap=False) and
    `collar` seconds around reference boundaries removed (0: none, as the issue asks by default)."""
    from pyannote.metrics.diarization import DiarizationErrorRate, DiarizationSpeakerCountError

    ref, hyp = annotation(reference), annotation(hypothesis)
    uem = evaluated_region(ref, hyp)
    components = DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=uem, detailed=True)
    count = DiarizationSpeakerCountError()(ref, hyp, uem=uem, detailed=True)
    return DiarizationErrors(
        missed_s=float(components["missed detection"]), false_alarm_s=float(components["false alarm"]),
        confusion_s=float(components["confusion"]), speech_s=float(components["total"]),
        ref_speakers=len(ref.labels()), hyp_speakers=len(hyp.labels()),
        speaker_count_error=int(count["error"]))
