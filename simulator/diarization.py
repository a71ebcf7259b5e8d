"""Speaker turns of multi-speaker calls, and what a diarizer made of them.

Telephony calls are conversations: an agent and a caller taking turns (now and then a third party
after a transfer), with short gaps and some crosstalk at turn changes. The diarizer's output keeps
each turn with its boundaries a little off; `swap_p` is the share of turns it attributes to the
wrong speaker (speaker confusion), the knob a diarization regression turns. Samples of such calls
carry both lists, so the collector scores their DER (pyannote.metrics).

Speaker labels are role names, never people's names; the collector anonymizes them anyway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MULTI_SPEAKER_CHANNELS = ("telephony",)
BASELINE_SWAP_P = 0.02  # a healthy diarizer still mislabels a few short turns
BOUNDARY_JITTER_S = 0.15  # how far its turn boundaries land from the reference's
TRANSFER_P = 0.15  # calls that bring in a third party

Segment = dict  # {"speaker", "start", "end"} as the samples API takes it


@dataclass(frozen=True)
class Diarization:
    reference: list[Segment]
    hypothesis: list[Segment]


def diarize(rng: random.Random, audio_seconds: float, swap_p: float) -> Diarization:
    """A call of about `audio_seconds` split into turns, and the diarizer's view of it."""
    speakers = ["agent", "caller"] + (["specialist"] if rng.random() < TRANSFER_P else [])
    reference, hypothesis = [], []
    clock, turn = 0.0, 0
    end_of_call = max(audio_seconds, 4.0)
    while clock < end_of_call:
        # Agent and caller alternate; after a transfer the specialist takes about half the agent's turns.
        if turn % 2:
            speaker = "caller"
        else:
            speaker = "specialist" if len(speakers) == 3 and rng.random() < 0.5 else "agent"
        start, end = round(clock, 3), round(min(clock + rng.uniform(1.0, 6.0), end_of_call + 0.5), 3)
        reference.append({"speaker": speaker, "start": start, "end": end})
        label = speaker
        if rng.random() < swap_p:
            label = rng.choice([s for s in speakers if s != speaker])
        hyp_start = round(max(0.0, start + rng.uniform(-BOUNDARY_JITTER_S, BOUNDARY_JITTER_S)), 3)
        hyp_end = round(end + rng.uniform(-BOUNDARY_JITTER_S, BOUNDARY_JITTER_S), 3)
        if hyp_end > hyp_start:
            hypothesis.append({"speaker": f"spk_{speakers.index(label)}", "start": hyp_start, "end": hyp_end})
        clock = end + rng.uniform(0.1, 0.8)
        turn += 1
    return Diarization(reference, _no_self_overlap(hypothesis))


def _no_self_overlap(segments: list[Segment]) -> list[Segment]:
    """Jittered boundaries can make one speaker's consecutive turns overlap, which no diarizer
    outputs (and the collector refuses): a turn then starts where the speaker's last one ended."""
    out: list[Segment] = []
    last_end: dict[str, float] = {}
    for s in sorted(segments, key=lambda s: s["start"]):
        start = max(s["start"], last_end.get(s["speaker"], 0.0))
        if s["end"] > start:
            out.append({**s, "start": start})
            last_end[s["speaker"]] = s["end"]
    return out
