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
