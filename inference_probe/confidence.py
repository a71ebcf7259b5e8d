"""Utterance confidence from token log-probabilities (pure functions)."""

from __future__ import annotations

import math


def utterance_confidence(logprobs: list[float], eot_logprob: float | None = None) -> float:
    """exp(mean token log-prob), the end token included like whisper's `avg_logprob`.

    An utterance with no tokens at all has no evidence of speech: confidence 0.
    """
    values = list(logprobs) + ([eot_logprob] if eot_logprob is not None else [])
    if not values:
        return 0.0
    return math.exp(sum(values) / len(values))


def token_probabilities(logprobs: list[float], ndigits: int = 6) -> list[float]:
    return [round(math.exp(lp), ndigits) for lp in logprobs]


def whisper_avg_logprob(logprobs: list[float], eot_logprob: float | None = None) -> float:
    """Whisper's `avg_logprob`: the sum of the sampled tokens' log-probabilities, the end token's
    included when it was sampled, over the token count plus one (openai/whisper
    whisper/decoding.py `DecodingTask.run`: `lp / (len(t) + 1)`, the sum kept by
    `GreedyDecoder.update`). The same as log(`utterance_confidence`) unless the token budget cut
    the decode before its end token, where Whisper still divides by count plus one."""
    return (sum(logprobs) + (eot_logprob or 0.0)) / (len(logprobs) + 1)
