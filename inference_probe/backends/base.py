"""What every backend returns per utterance."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Transcription:
    text: str
    confidence: float | None = None
    token_probs: list[float] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    no_speech_prob: float | None = None
    # Whisper's per-window figures (openai/whisper whisper/decoding.py `DecodingResult`): the mean
    # log-probability over the tokens and the end token, and the text's zlib compression ratio.
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    eot_prob: float | None = None  # probability of the end token, part of the confidence
    status: str = "ok"  # a session status: ok, decode_error, dropped, timeout
    error: str | None = None
    truncated: bool = False
