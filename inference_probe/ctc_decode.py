"""Greedy CTC decoding (pure): best path, merge repeats, drop blanks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CtcPath:
    ids: list[int]
    logprobs: list[float]  # per emitted token: mean frame log-prob over its run


def ctc_greedy(logprobs: np.ndarray, blank_id: int) -> CtcPath:
    """`logprobs`: (frames, vocab) log-softmax output of one utterance, padding removed."""
    if logprobs.ndim != 2:
        raise ValueError(f"logprobs must be (frames, vocab), got shape {logprobs.shape}")
    best = logprobs.argmax(axis=1)
    best_lp = logprobs[np.arange(len(best)), best]
    ids: list[int] = []
    scores: list[float] = []
    run: list[float] = []
    prev = -1
    for tok, lp in zip(best.tolist(), best_lp.tolist()):
        if tok == prev:
            run.append(lp)
            continue
        if run and prev != blank_id:
            scores.append(float(np.mean(run)))
        run, prev = [lp], tok
        if tok != blank_id:
            ids.append(tok)
    if run and prev != blank_id:
        scores.append(float(np.mean(run)))
    return CtcPath(ids, scores)
