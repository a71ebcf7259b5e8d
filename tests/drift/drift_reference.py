"""The drift readers and vocabulary code as they were before the second speed pass (commit
e1fce33), kept only as the reference the differential tests compare the new paths with; and the
SQL word count of the session readers before ingest stored it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from collector.store.database import read_connection
from collector.store.models import Sample, Session
from drift import scan, vocabulary
from drift.config import DriftConfig, Windows
from drift.features import SLICE_DIMENSIONS
from drift.findings import Finding
from drift.scan import TextRow
from drift.slices import GLOBAL, Slice
from drift.source import Pins, _partitions, _windows_filter, samples_since
from drift.statistics import benjamini_hochberg
from drift.vocabulary import _TOKEN, LABELED_HYPOTHESIS, REFERENCE, TRAFFIC, Corpus, NewTerm, VocabularyReport


def word_count(column):
    """The word count drift's session reader computed in SQL on every scan, before ingest stored
    it (`sessions.hypothesis_words`): NULL without text, 0 when blank after trimming spaces, else
    the single spaces of the trimmed text plus one."""
    trimmed = func.trim(column)
    return case(
        (column.is_(None), None),
        (func.length(trimmed) == 0, 0),
        else_=func.length(trimmed) - func.length(func.replace(trimmed, " ", "")) + 1,
    )


def load_samples(engine: Engine, windows: Windows, config: DriftConfig, pins: Pins) -> dict:
    """Labeled samples joined to their sessions; `window` 1 current, 0 reference, -1 neither."""
    s, m = Session.__table__.c, Sample.__table__.c
    current, in_window = _windows_filter(s.ts, s.model_version, windows, pins)
    window = case((current, 1), (in_window, 0), else_=-1).label("window")
    query = (
        select(m.session_id, s.ts, window, m.substitutions, m.deletions, m.insertions, m.ref_words,
               s.confidence, m.reference, m.hypothesis, *[s[d] for d in SLICE_DIMENSIONS])
        .select_from(Sample.__table__.join(Session.__table__, m.session_id == s.session_id))
        .where(s.ts >= samples_since(windows, config, pins), s.ts < windows.at)
    )
    names = ["session_id", "ts", "window", "substitutions", "deletions", "insertions", "ref_words", "confidence",
             "reference", "hypothesis", *SLICE_DIMENSIONS]
    cols: dict[str, list] = {name: [] for name in names}
    for rows in _partitions(engine, query):
        for name, values in zip(names, zip(*rows)):
            cols[name].extend(values)
    cols["ts"] = [t.timestamp() for t in cols["ts"]]
    return cols


def load_texts(engine: Engine, windows: Windows, config: DriftConfig, pins: Pins, samples: dict) -> list[TextRow]:
    """Transcripts for vocabulary drift: every labeled sample's reference and hypothesis,
    plus a time-stratified sample of session hypotheses (at most `max_hypotheses` per
    window: 24 equal slots, the first rows of each), all with their slice labels."""
    texts: list[TextRow] = []
    for i, w in enumerate(samples["window"]):
        if w < 0:
            continue
        labels = {d: samples[d][i] for d in SLICE_DIMENSIONS}
        sid, ts = samples["session_id"][i], samples["ts"][i]
        texts.append(TextRow(int(w), ts, sid, samples["reference"][i], labels, REFERENCE))
        texts.append(TextRow(int(w), ts, sid, samples["hypothesis"][i], labels, LABELED_HYPOTHESIS))
    if config.max_hypotheses <= 0:
        return texts
    s = Session.__table__.c
    current, keep = _windows_filter(s.ts, s.model_version, windows, pins)
    per_slot = max(config.max_hypotheses // 24, 1)
    for start, end, flag in ((windows.reference_start, windows.current_start, 0), (windows.current_start, windows.at, 1)):
        if pins and flag == 0:
            starts = [start] + [a for a, _ in pins.values()]
            ends = [end] + [b for _, b in pins.values()]
            start, end = min(starts), max(ends)
        step = (end - start) / 24
        for k in range(24):
            a, b = start + k * step, start + (k + 1) * step
            query = (
                select(s.session_id, s.ts, s.hypothesis, *[s[d] for d in SLICE_DIMENSIONS])
                .where(keep, s.ts >= a, s.ts < b, s.hypothesis.is_not(None), current if flag else ~current)
                .order_by(s.ts)
                .limit(per_slot)
            )
            with read_connection(engine) as conn:
                for row in conn.execute(query):
                    texts.append(TextRow(flag, row.ts.timestamp(), row.session_id, row.hypothesis,
                                         {d: getattr(row, d) for d in SLICE_DIMENSIONS}, TRAFFIC))
    return texts


def build_corpus(rows: Sequence[tuple[int, float, str, str | None, int]]) -> Corpus:
    """`rows` are (window, ts, session_id, text, kind); missing text (retention) is skipped."""
    ids: defaultdict[str, int] = defaultdict()
    ids.default_factory = ids.__len__  # a new term gets the next id
    sessions: dict[str, int] = {}
    token: list[int] = []
    text: list[int] = []
    window, ts, session, kind = [], [], [], []
    for w, t, sid, body, k in rows:
        if not body:
            continue
        i = len(window)
        window.append(w)
        ts.append(t)
        session.append(sessions.setdefault(sid, len(sessions)))
        kind.append(k)
        before = len(token)
        token.extend(map(ids.__getitem__, _TOKEN.findall(body.lower())))
        text.extend([i] * (len(token) - before))
    return Corpus(
        token=np.asarray(token, dtype=np.int64),
        text=np.asarray(text, dtype=np.int64),
        terms=list(ids),
        window=np.asarray(window, dtype=np.int8),
        ts=np.asarray(ts, dtype=np.float64),
        session=np.asarray(session, dtype=np.int64),
        session_ids=list(sessions),
        kind=np.asarray(kind, dtype=np.int8),
    )


def _distinct_sessions_per_term(corpus: Corpus, occurrences: np.ndarray, n_terms: int) -> np.ndarray:
    pairs = np.unique(corpus.session[corpus.text[occurrences]] * n_terms + corpus.token[occurrences])
    return np.bincount(pairs % n_terms, minlength=n_terms)


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
    occ = texts[corpus.text]
    win = corpus.window[corpus.text]
    spoken = corpus.kind[corpus.text] != LABELED_HYPOTHESIS
    ref_occ, cur_occ = occ & (win == 0) & spoken, occ & (win == 1) & spoken
    late = corpus.ts[corpus.text] >= holdout_start
    baseline = np.bincount(corpus.token[ref_occ], minlength=V)
    early = np.bincount(corpus.token[ref_occ & ~late], minlength=V)
    holdout = np.bincount(corpus.token[ref_occ & late], minlength=V)
    current = np.bincount(corpus.token[cur_occ], minlength=V)
    n_base, n_cur, n_hold = int(baseline.sum()), int(current.sum()), int(holdout.sum())
    oov_cur, oov_hold = int(current[baseline == 0].sum()), int(holdout[early == 0].sum())
    rate_cur = oov_cur / n_cur if n_cur else 0.0
    rate_exp = oov_hold / n_hold if n_hold else 0.0
    z = 0.0
    if n_cur and n_hold:
        pooled = (oov_cur + oov_hold) / (n_cur + n_hold)
        se = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n_cur + 1 / n_hold))
        z = (rate_cur - rate_exp) / se if se > 0 else 0.0
    sessions = _distinct_sessions_per_term(corpus, cur_occ, V)
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
    _misses(corpus, occ & (win == 1), texts, new_terms, examples)
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


def _misses(corpus: Corpus, cur_occ: np.ndarray, texts: np.ndarray, terms: list[NewTerm], examples: int) -> None:
    """For each new term: labeled current sessions whose reference has it, and how many of
    their hypotheses lack it."""
    if not terms:
        return
    index = {t: i for i, t in enumerate(corpus.terms)}
    wanted = np.array([index[t.term] for t in terms])
    labeled = texts & (corpus.window == 1) & (corpus.kind == LABELED_HYPOTHESIS)
    has_hypothesis = set(corpus.session[labeled].tolist())
    hit = cur_occ & np.isin(corpus.token, wanted)
    kinds = corpus.kind[corpus.text]
    in_ref: dict[int, set[int]] = {}
    in_hyp: dict[int, set[int]] = {}
    for occ, kind in ((hit & (kinds == REFERENCE), in_ref), (hit & (kinds == LABELED_HYPOTHESIS), in_hyp)):
        for tok, sess in zip(corpus.token[occ].tolist(), corpus.session[corpus.text[occ]].tolist()):
            kind.setdefault(tok, set()).add(sess)
    for term, tok in zip(terms, wanted.tolist()):
        refs = sorted(s for s in in_ref.get(tok, set()) if s in has_hypothesis)
        missed = [s for s in refs if s not in in_hyp.get(tok, set())]
        term.labeled_occurrences, term.missed = len(refs), len(missed)
        term.example_session_ids = [corpus.session_ids[s] for s in missed[:examples]]


def scan_vocabulary(texts: Sequence[TextRow], windows: Windows, config: DriftConfig
                    ) -> tuple[list[Finding], dict[str, Any] | None]:
    """`drift.scan._vocabulary`: TextRows with a labels dict each, masks by object comparison."""
    if not texts:
        return [], None
    corpus = vocabulary.build_corpus([(t.window, t.ts, t.session_id, t.text, t.kind) for t in texts])
    kept = [t for t in texts if t.text]
    masks: dict[Slice, np.ndarray] = {GLOBAL: np.ones(len(kept), dtype=bool)}
    for dim in config.dimensions:
        values = np.array([t.labels.get(dim, "") for t in kept], dtype=object)
        for value in sorted(set(values.tolist()) - {""}):
            masks[Slice(((dim, value),))] = values == value
    current = corpus.window == 1
    eligible = {s: m for s, m in masks.items() if int((m & current).sum()) >= config.min_current}
    # The reference window's last stretch, as long as the current window, measures expected OOV.
    hold = windows.current_start.timestamp() - min(config.current_hours * 3600, config.reference_days * 43200)
    alpha = config.alpha / max(len(eligible), 1)  # Bonferroni over slices, BH over terms within
    results = {
        slice_: vocabulary.vocabulary_drift(
            corpus, mask, hold, min_count=config.vocabulary_min_count, min_sessions=config.vocabulary_min_sessions,
            alpha=alpha, min_labeled=config.vocabulary_min_labeled, examples=config.examples)
        for slice_, mask in eligible.items()
    }
    # As for distributions: most concentrated first; a slice whose misrecognized new terms
    # vanish without a kept slice's texts (the fleet without retail-co) is explained by it.
    explained: dict[Slice, str] = {}
    kept: list[Slice] = []
    for slice_ in sorted((s for s, r in results.items() if r.misrecognized),
                         key=lambda s: -results[s].misrecognized_share):
        for other in kept[:scan.MAX_EXPLAINERS]:
            rest = eligible[slice_] & ~eligible[other]
            if (eligible[slice_] & eligible[other]).any() and not vocabulary.vocabulary_drift(
                    corpus, rest, hold, min_count=config.vocabulary_min_count,
                    min_sessions=config.vocabulary_min_sessions, alpha=alpha,
                    min_labeled=config.vocabulary_min_labeled).misrecognized:
                explained[slice_] = other.key
                break
        else:
            kept.append(slice_)
    findings = []
    for slice_, rep in results.items():
        if rep.new_terms:
            severity = "ticket" if rep.misrecognized and slice_ not in explained else "info"
            findings.append(scan._vocabulary_finding(slice_, rep, severity, explained.get(slice_), config))
    glob = results.get(GLOBAL)
    return findings, (glob.to_dict() if glob else None)
