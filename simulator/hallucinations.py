"""Text a model hallucinates on audio that holds no speech, for the `hallucination-burst` scenario.

Whisper's best-known failures: on silence it writes a stock phrase from its training subtitles
("thank you", "thank you for watching"), on noise it loops a short phrase until its token budget
runs out. A hallucinated session here is one or the other, with equal odds:
- silent audio: the phrase once to a few times, and a no-speech probability of 0.65 to 0.99
  (over Whisper's `no_speech_threshold` of 0.6, so the collector flags the text as said on
  non-speech audio);
- noise-only audio: the phrase 5 to 12 times back to back (an n-gram loop the collector flags:
  every phrase has at most 4 words), and a no-speech probability of 0.02 to 0.4 (noise looks
  like speech to the model).
Either way the audio held no words: a labeled sample's reference is empty and every
hypothesis word is an insertion. The phrases are plain lowercase words that the normalizers
leave as they are, so the insertions the collector counts are the phrase's words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PHRASES = ("thank you", "thank you for watching", "please subscribe", "see you next time", "bye", "thanks")


@dataclass(frozen=True)
class Hallucination:
    text: str
    no_speech_prob: float
    silent: bool  # silent audio (else noise only)

    @property
    def words(self) -> int:
        return len(self.text.split())


def hallucinate(rng: random.Random, probability: float) -> Hallucination | None:
    """With `probability`, the text hallucinated on a session's speechless audio; else None."""
    if rng.random() >= probability:
        return None
    silent = rng.random() < 0.5
    phrase = rng.choice(PHRASES)
    if silent:
        return Hallucination(" ".join([phrase] * rng.choice((1, 1, 2, 3))), round(rng.uniform(0.65, 0.99), 3), True)
    return Hallucination(" ".join([phrase] * rng.randint(5, 12)), round(rng.uniform(0.02, 0.4), 3), False)
