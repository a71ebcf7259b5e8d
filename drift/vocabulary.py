"""Vocabulary drift: out-of-vocabulary rate against the reference window's vocabulary, new
frequent terms, and which of them the model gets wrong.

Users start saying new product names long before anyone retrains; the first evidence is
in the human references (words the baseline never saw) and in the hypotheses that miss
them. Expected OOV is measured inside the reference window itself (its last stretch
against the rest), so a language's natural trickle of rare words is not an alarm.

Texts are tokenized once into integer ids (each distinct text once: short utterances recur);
a text's tokens are contiguous, so a slice reads only its own texts' tokens (50 slices cost
about five passes over the corpus, not fifty) and is then a few `np.bincount`s.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from itertools import chain
from operator import itemgetter

import numpy as np
from scipy import stats

from drift.statistics import benjamini_hochberg

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
TRAFFIC, REFERENCE, LABELED_HYPOTHESIS = 0, 1, 2  # text kinds


def tokenize(text: str | None) -> list[str]:
    return _TOKEN.findall(text.lower()) if text else []


@dataclass
class Corpus:
    """Tokenized texts. Per occurrence: `token` id and `text` index; per text: the rest."""

    token: np.ndarray
    text: np.ndarray
    terms: list[str]
    window: np.ndarray  # 1 current, 0 reference
    ts: np.ndarray
    session: np.ndarray  # index into session_ids
    session_ids: list[str]
    kind: np.ndarray  # TRAFFIC | REFERENCE | LABELED_HYPOTHESIS

    def __len__(self) -> int:
        return len(self.window)

    @cached_property
    def lengths(self) -> np.ndarray:
        """Tokens per text (a text's tokens are contiguous, in text order)."""
        return np.bincount(self.text, minlength=len(self)).astype(np.int64)

    @cached_property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.lengths) - self.lengths

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Each occurrence's (session, term) pair as an index into the distinct pairs, and
        each distinct pair's term: a slice then counts sessions per term without a sort."""
        V = len(self.terms)
        distinct, pair = np.unique(self.session[self.text] * V + self.token, return_inverse=True)
        return pair, distinct % V if V else distinct

    def sessions_per_term(self, positions: np.ndarray) -> np.ndarray:
        """Per term, the distinct sessions among the occurrences at `positions`."""
        pair, term = self._pairs
        seen = np.zeros(len(term), dtype=bool)
        seen[pair[positions]] = True
        return np.bincount(term[seen], minlength=len(self.terms))

    def occurrences(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The token positions of the texts selected by the boolean mask `texts`, in corpus
        order, and each one's text: what `np.flatnonzero(texts[self.text])` and
        `self.text[...]` give, in time proportional to the selected texts only."""
        chosen = np.flatnonzero(texts)
        lengths = self.lengths[chosen]
        offset = self.starts[chosen] - (np.cumsum(lengths) - lengths)  # corpus start - output start
        return np.repeat(offset, lengths) + np.arange(int(lengths.sum())), np.repeat(chosen, lengths)


def build_corpus(rows: Sequence[tuple[int, float, str, str | None, int]]) -> Corpus:
    """`rows` are (window, ts, session_id, text, kind); missing text (retention) is skipped."""
    # Not zip(*rows): its one iterator per row (200k) are objects the garbage collector walks again and again.
    column = [list(map(itemgetter(j), rows)) for j in range(5)]
    return corpus_of(np.asarray(column[0], dtype=np.int8), np.asarray(column[1], dtype=np.float64), column[2],
                     column[3], np.asarray(column[4], dtype=np.int8))


def corpus_of(window: np.ndarray, ts: np.ndarray, session_ids: list[str], texts: list[str | None],
              kind: np.ndarray) -> Corpus:
    """`build_corpus` of columns, one entry per text.

    Each distinct text is tokenized once, in first-seen order, so terms get their ids in the
    order of their first occurrence (as a row-by-row pass gives them); rows then take their
    text's tokens by one gather, and sessions are numbered in first-seen order too."""
    present = np.fromiter(map(bool, texts), dtype=bool, count=len(texts))
    if not present.all():
        rows = np.flatnonzero(present).tolist()
        texts, session_ids = [texts[i] for i in rows], [session_ids[i] for i in rows]
        window, ts, kind = window[present], ts[present], kind[present]
    ids: defaultdict[str, int] = defaultdict()
    ids.default_factory = ids.__len__  # a new term gets the next id
    distinct = {body: i for i, body in enumerate(dict.fromkeys(texts))}
    terms = [list(map(ids.__getitem__, _TOKEN.findall(body.lower()))) for body in distinct]
    counts = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
    flat = np.fromiter(chain.from_iterable(terms), dtype=np.int64, count=int(counts.sum()))
    which = np.fromiter(map(distinct.__getitem__, texts), dtype=np.int64, count=len(texts))
    lengths = counts[which]
    # Row r's tokens are flat[first[which[r]] : ...]: one offset per row, repeated per token.
    offset = (np.cumsum(counts) - counts)[which] - (np.cumsum(lengths) - lengths)
    token = flat[np.repeat(offset, lengths) + np.arange(int(lengths.sum()))]
    sessions = {sid: i for i, sid in enumerate(dict.fromkeys(session_ids))}
    return Corpus(
        token=token,
        text=np.repeat(np.arange(len(texts), dtype=np.int64), lengths),
        terms=list(ids),
        window=np.asarray(window, dtype=np.int8),
        ts=np.asarray(ts, dtype=np.float64),
        session=np.fromiter(map(sessions.__getitem__, session_ids), dtype=np.int64, count=len(session_ids)),
        session_ids=list(sessions),
        kind=np.asarray(kind, dtype=np.int8),
    )


@dataclass
class NewTerm:
    term: str
    current_count: int
    current_sessions: int
    baseline_count: int
    p_value: float
    p_adjusted: float = 1.0
    labeled_occurrences: int = 0  # current labeled sessions whose reference has the term
    missed: int = 0  # ... whose hypothesis lacks it
    example_session_ids: list[str] = field(default_factory=list)

    @property
    def miss_rate(self) -> float | None:
        return self.missed / self.labeled_occurrences if self.labeled_occurrences else None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["miss_rate"] = self.miss_rate
        return out


@dataclass
class VocabularyReport:
    tokens_reference: int
    tokens_current: int
    vocabulary_size: int
    oov_rate_current: float
    oov_rate_expected: float
    oov_z: float
    oov_p_value: float
    new_terms: list[NewTerm]
    misrecognized: list[NewTerm]
    misrecognized_share: float  # share of current tokens that are new, misrecognized terms

    def to_dict(self) -> dict:
        out = asdict(self)
        out["new_terms"] = [t.to_dict() for t in self.new_terms]
        out["misrecognized"] = [t.to_dict() for t in self.misrecognized]
        return out


def vocabulary_drift(
    corpus: Corpus,
    texts: np.ndarray,
    holdout_start: float,
    *,
    min_count: int = 5,
    min_sessions: int = 3,
    min_rate_ratio: float = 10.0,
    alpha: float = 0.05,
    max_miss_rate: float = 0.5,
    min_labeled: int = 3,
    examples: int = 5,
) -> VocabularyReport:
    """Compare the current texts selected by the boolean mask `texts` with the reference ones.

    `holdout_start` splits the reference window into a baseline and a holdout that
    measures the expected OOV rate.
    """
    V = len(corpus.terms)
    positions, owner = corpus.occurrences(texts)  # only the selected texts' tokens
    token = corpus.token[positions]
    win = corpus.window[owner]
    # A labeled utterance counts once, by its reference (what was said): its hypothesis is the
    # same speech again, and counting both doubles every word it holds, so a rare old word seen
    # in three labeled sessions passes `min_count` and the Poisson test. Hypotheses still show
    # which new terms the model misses (`_misses`).
    spoken = corpus.kind[owner] != LABELED_HYPOTHESIS
    ref_occ, cur_occ = (win == 0) & spoken, (win == 1) & spoken
    late = corpus.ts[owner] >= holdout_start
    baseline = np.bincount(token[ref_occ], minlength=V)
    early = np.bincount(token[ref_occ & ~late], minlength=V)
    holdout = np.bincount(token[ref_occ & late], minlength=V)
    current = np.bincount(token[cur_occ], minlength=V)
    n_base, n_cur, n_hold = int(baseline.sum()), int(current.sum()), int(holdout.sum())
    oov_cur, oov_hold = int(current[baseline == 0].sum()), int(holdout[early == 0].sum())
    rate_cur = oov_cur / n_cur if n_cur else 0.0
    rate_exp = oov_hold / n_hold if n_hold else 0.0
    z = 0.0
    if n_cur and n_hold:
        pooled = (oov_cur + oov_hold) / (n_cur + n_hold)
        se = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n_cur + 1 / n_hold))
        z = (rate_cur - rate_exp) / se if se > 0 else 0.0
    cur_token, cur_text = token[win == 1], owner[win == 1]
    sessions = corpus.sessions_per_term(positions[cur_occ])
    # Smoothed baseline rate, only to shortlist terms far above their old frequency.
    expected = (baseline + 0.5) / max(n_base, 1) * n_cur
    cand = np.flatnonzero((current >= min_count) & (sessions >= min_sessions) & (current >= min_rate_ratio * expected))
    # Exact conditional test of two Poisson rates: given a term's total count in both
    # windows, its current count is Binomial(total, current share of tokens) under H0.
    share = n_cur / max(n_cur + n_base, 1)
    p = stats.binom.sf(current[cand] - 1, current[cand] + baseline[cand], share)
    q = benjamini_hochberg(p) if len(cand) else p
    new_terms = [
        NewTerm(corpus.terms[t], int(current[t]), int(sessions[t]), int(baseline[t]), float(pv), float(qv))
        for t, pv, qv in zip(cand, p, q)
        if qv < alpha
    ]
    new_terms.sort(key=lambda t: (-t.current_count, t.term))
    _misses(corpus, cur_token, cur_text, texts, new_terms, examples)
    misrecognized = [
        t for t in new_terms if t.labeled_occurrences >= min_labeled and (t.miss_rate or 0.0) >= max_miss_rate
    ]
    return VocabularyReport(
        tokens_reference=n_base,
        tokens_current=n_cur,
        vocabulary_size=int(np.count_nonzero(baseline)),
        oov_rate_current=rate_cur,
        oov_rate_expected=rate_exp,
        oov_z=float(z),
        oov_p_value=float(stats.norm.sf(z)),
        new_terms=new_terms,
        misrecognized=misrecognized,
        misrecognized_share=(sum(t.current_count for t in misrecognized) / n_cur) if n_cur else 0.0,
    )


def _misses(corpus: Corpus, cur_token: np.ndarray, cur_text: np.ndarray, texts: np.ndarray, terms: list[NewTerm],
            examples: int) -> None:
    """For each new term: labeled current sessions whose reference has it, and how many of
    their hypotheses lack it. `cur_token`, `cur_text`: the selected current texts' tokens."""
    if not terms:
        return
    index = {t: i for i, t in enumerate(corpus.terms)}
    wanted = np.array([index[t.term] for t in terms])
    labeled = texts & (corpus.window == 1) & (corpus.kind == LABELED_HYPOTHESIS)
    has_hypothesis = set(corpus.session[labeled].tolist())
    hit = np.isin(cur_token, wanted)
    kinds = corpus.kind[cur_text]
    in_ref: dict[int, set[int]] = {}
    in_hyp: dict[int, set[int]] = {}
    for occ, kind in ((hit & (kinds == REFERENCE), in_ref), (hit & (kinds == LABELED_HYPOTHESIS), in_hyp)):
        for tok, sess in zip(cur_token[occ].tolist(), corpus.session[cur_text[occ]].tolist()):
            kind.setdefault(tok, set()).add(sess)
    for term, tok in zip(terms, wanted.tolist()):
        refs = sorted(s for s in in_ref.get(tok, set()) if s in has_hypothesis)
        missed = [s for s in refs if s not in in_hyp.get(tok, set())]
        term.labeled_occurrences, term.missed = len(refs), len(missed)
        term.example_session_ids = [corpus.session_ids[s] for s in missed[:examples]]
