"""A full drift scan: every feature x slice, WER per slice, vocabulary, label-free WER.

Pure: it takes the tables `drift.source` read and returns a report. All distribution and
WER tests of one scan form one family for Benjamini-Hochberg; a verdict needs the
adjusted p-value under `alpha` and the effect at its floor. A slice whose shift is no
bigger than its parent's (`explained_ratio`) is reported as explained by the parent and
kept at info, so one regression raises one ticket, named after the slice that carries it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from drift import calibration_health, label_free, statistics, vocabulary
from drift.config import DriftConfig, Windows
from drift.features import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    Binning,
    SampleTable,
    SessionTable,
    bin_numeric,
)
from drift.findings import SEVERITY_RANK, Finding, sort_findings
from drift.slices import GLOBAL, Grouping, Slice, grouped_counts, groupings, histogram_moments, window_keys
from drift.wer_drift import WerComparison, compare_wer, weekly_trend

MAX_EXPLAINERS = 5  # kept slices a candidate is checked against (bounds the rechecks)
WER_BINS = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, np.inf])


@dataclass(frozen=True)
class TextRow:
    """A transcript for vocabulary drift: window (1 current, 0 reference), its slice labels."""

    window: int
    ts: float
    session_id: str
    text: str | None
    labels: dict[str, str]
    kind: int = vocabulary.TRAFFIC  # TRAFFIC | REFERENCE | LABELED_HYPOTHESIS


@dataclass
class Texts:
    """Transcripts for vocabulary drift as columns, one entry per text: what a list of `TextRow`s
    holds without an object and a labels dict per text (200k of each at a million sessions)."""

    window: np.ndarray  # int8: 1 current, 0 reference
    ts: np.ndarray  # float64 epoch seconds
    session_id: list[str]
    text: list[str | None]
    kind: np.ndarray  # int8: TRAFFIC | REFERENCE | LABELED_HYPOTHESIS
    labels: dict[str, list[str]]  # slice dimension -> each text's label

    def __len__(self) -> int:
        return len(self.text)

    def select(self, keep: Sequence[bool]) -> "Texts":
        """The texts where `keep` is true, in order."""
        mask = np.asarray(keep, dtype=bool)
        index = np.flatnonzero(mask).tolist()
        return Texts(window=self.window[mask], ts=self.ts[mask], session_id=[self.session_id[i] for i in index],
                     text=[self.text[i] for i in index], kind=self.kind[mask],
                     labels={dim: [values[i] for i in index] for dim, values in self.labels.items()})

    @classmethod
    def of(cls, rows: Sequence[TextRow] | Texts) -> Texts:
        if isinstance(rows, Texts):
            return rows
        dims = dict.fromkeys(dim for row in rows for dim in row.labels)
        return cls(window=np.array([r.window for r in rows], dtype=np.int8),
                   ts=np.array([r.ts for r in rows], dtype=np.float64), session_id=[r.session_id for r in rows],
                   text=[r.text for r in rows], kind=np.array([r.kind for r in rows], dtype=np.int8),
                   labels={dim: [r.labels.get(dim, "") for r in rows] for dim in dims})

    def rows(self) -> list[TextRow]:
        """As `TextRow`s (for comparisons; the scan reads the columns)."""
        labels = [dict(zip(self.labels, values)) for values in zip(*self.labels.values())] if self.labels \
            else [{} for _ in self.text]
        return [TextRow(*values) for values in zip(self.window.tolist(), self.ts.tolist(), self.session_id, self.text,
                                                  labels, self.kind.tolist())]


@dataclass
class _Test:
    kind: str
    feature: str
    slice: Slice
    p_value: float
    effect: float
    floor: float
    severity_rule: Callable[[float], str | None]
    build: Callable[[str, float, str | None], Finding]
    noise: float = 0.0
    rows: Callable[[], np.ndarray] | None = None  # the slice's rows in its table
    recheck: Callable[[np.ndarray], bool] | None = None  # still ticket-worthy on these rows?
    p_adjusted: float = 1.0
    severity: str | None = None
    explained_by: str | None = None


@dataclass
class ScanReport:
    at: datetime
    windows: Windows
    findings: list[Finding]
    worst_slices: list[dict[str, Any]]
    insufficient: list[dict[str, Any]]
    label_free: list[dict[str, Any]]
    wer_trend: dict[str, list[dict[str, Any]]]
    vocabulary: dict[str, Any] | None
    tests_run: int
    slices_evaluated: int
    counts: dict[str, int] = field(default_factory=dict)
    # Under sampled storage (`collector.store.sampling`): the share stored and, per window, the
    # sessions stored, those the scan used (the share drawn by id: "scanned") and those the
    # rollups counted; None when all are stored.
    sample: dict[str, Any] | None = None

    def tickets(self) -> list[Finding]:
        return [f for f in self.findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["ticket"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "windows": self.windows.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "worst_slices": self.worst_slices,
            "insufficient_data": self.insufficient,
            "label_free": self.label_free,
            "wer_trend": self.wer_trend,
            "vocabulary": self.vocabulary,
            "tests_run": self.tests_run,
            "slices_evaluated": self.slices_evaluated,
            "counts": self.counts,
            "sample": self.sample,
        }


# -- evidence helpers -------------------------------------------------------------------------


def _fractions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def _numeric_chart(ref: np.ndarray, cur: np.ndarray, binning: Binning, bins: int) -> dict[str, Any]:
    groups = statistics.decile_groups(ref + cur, bins)
    used = np.unique(groups)
    remap = np.searchsorted(used, groups)  # drop empty coarse groups
    r, c = statistics.coarsen(ref, remap), statistics.coarsen(cur, remap)
    first = np.array([np.flatnonzero(remap == g)[0] for g in range(len(used))])
    edges = [float(binning.edges[i]) for i in first] + [float(binning.edges[-1])]
    return {"kind": "numeric", "edges": edges, "reference": _fractions(r), "current": _fractions(c),
            "reference_count": int(ref.sum()), "current_count": int(cur.sum())}


def _categorical_chart(ref: np.ndarray, cur: np.ndarray, levels: list[str]) -> dict[str, Any]:
    used = np.flatnonzero(ref + cur)
    return {"kind": "categorical", "categories": [levels[i] for i in used],
            "reference": _fractions(ref[used]), "current": _fractions(cur[used]),
            "reference_count": int(ref.sum()), "current_count": int(cur.sum())}


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


# -- distribution tests -----------------------------------------------------------------------


class _Distribution:
    def __init__(self, sessions: SessionTable, groups: list[Grouping], config: DriftConfig) -> None:
        self.s, self.groups, self.config = sessions, groups, config
        self.keys = [window_keys(g, sessions.is_current.astype(np.int64)) for g in groups]
        self.tests: list[_Test] = []
        self.insufficient: list[dict[str, Any]] = []
        self.slices: set[str] = set()

    def _eligible(self, counts: np.ndarray, grouping: Grouping, feature: str) -> np.ndarray:
        n = counts.sum(axis=2)
        enough = (n[:, 0] >= self.config.min_reference) & (n[:, 1] >= self.config.min_current)
        for g in np.flatnonzero((n.sum(axis=1) > 0) & ~enough):
            self.insufficient.append({"slice": grouping.slices[g].key, "feature": feature,
                                      "n_reference": int(n[g, 0]), "n_current": int(n[g, 1]),
                                      "verdict": "insufficient data"})
        return np.flatnonzero(enough)

    def numeric(self, feature: str) -> None:
        values = self.s.numeric[feature]
        binning = bin_numeric(values)
        if binning.n_bins == 0:
            return
        for grouping, keys in zip(self.groups, self.keys):
            counts = grouped_counts(keys, grouping.n_groups, binning.index, binning.n_bins)
            moments = histogram_moments(counts, binning.support)
            eligible = self._eligible(counts, grouping, feature)
            if not len(eligible):
                continue
            comps = statistics.compare_numeric_batch(counts[eligible, 0], counts[eligible, 1], binning.support,
                                                     moments[eligible, 0, 2])
            for g, comp in zip(eligible.tolist(), comps):
                floor = self.config.numeric_floor if comp.kind == "numeric" else self.config.categorical_floor
                self._add(feature, grouping, g, comp, floor, binning.index, binning.n_bins,
                          self._numeric_builder(feature, grouping, g, comp, floor, counts, moments, binning),
                          binning.support)

    def categorical(self, feature: str) -> None:
        enc = self.s.categorical[feature]
        for grouping, keys in zip(self.groups, self.keys):
            if feature in grouping.dimensions:
                continue  # the channel mix of a channel slice is constant
            counts = grouped_counts(keys, grouping.n_groups, enc.codes, len(enc.levels))
            eligible = self._eligible(counts, grouping, feature)
            if not len(eligible):
                continue
            comps = statistics.compare_categorical_batch(counts[eligible, 0], counts[eligible, 1])
            for g, comp in zip(eligible.tolist(), comps):
                self._add(feature, grouping, g, comp, self.config.categorical_floor, enc.codes, len(enc.levels),
                          self._categorical_builder(feature, grouping, g, comp, counts, enc.levels))

    def _add(self, feature, grouping, g, comp, floor, bins, n_bins, build, support=None) -> None:
        slice_ = grouping.slices[g]
        self.slices.add(slice_.key)
        rule = lambda q, c=comp, f=floor: statistics.severity_for(q, c.effect, f, self.config.alpha, c.noise)  # noqa: E731
        config, cur = self.config, self.s.is_current

        def recheck(mask: np.ndarray) -> bool:
            """Is the shift still there on these rows alone?"""
            sel = mask & (bins >= 0)
            r = np.bincount(bins[sel & ~cur], minlength=n_bins).astype(np.float64)
            c = np.bincount(bins[sel & cur], minlength=n_bins).astype(np.float64)
            if r.sum() < config.min_reference or c.sum() < config.min_current:
                return False
            if support is None:
                again = statistics.compare_categorical(r, c)
            else:
                std = float(histogram_moments(r, support)[2])
                again = statistics.compare_numeric(r, c, support, std)
            return statistics.severity_for(again.p_value, again.effect, floor, config.alpha, again.noise) == "ticket"

        self.tests.append(_Test("distribution", feature, slice_, comp.p_value, comp.effect, floor, rule, build,
                                noise=comp.noise, rows=lambda: grouping.codes == g, recheck=recheck))

    def _numeric_builder(self, feature, grouping, g, comp, floor, counts, moments, binning):
        def build(severity: str, q: float, explained: str | None) -> Finding:
            ref_mean, cur_mean = float(moments[g, 0, 1]), float(moments[g, 1, 1])
            mask = (grouping.codes == g) & self.s.is_current & np.isfinite(self.s.numeric[feature])
            idx = np.flatnonzero(mask)
            vals = self.s.numeric[feature][idx]
            key = vals if cur_mean < ref_mean else -vals
            k = min(self.config.examples, len(key))
            top = np.argpartition(key, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
            order = top[np.argsort(key[top], kind="stable")]
            slice_ = grouping.slices[g]
            direction = "down" if cur_mean < ref_mean else "up"
            return Finding(
                kind="distribution", feature=feature, slice=slice_.as_dict(), test=comp.test,
                statistic=comp.statistic, p_value=comp.p_value, p_adjusted=q, severity=severity,
                effect=comp.effect, effect_floor=floor, psi=comp.psi,
                reference_value={"mean": ref_mean, "std": float(moments[g, 0, 2])},
                current_value={"mean": cur_mean, "std": float(moments[g, 1, 2])},
                n_reference=comp.n_reference, n_current=comp.n_current,
                summary=(f"{feature} drifted {direction} in {slice_.key}: mean {_fmt(ref_mean)} -> {_fmt(cur_mean)} "
                         f"({comp.test} {_fmt(comp.statistic)}, effect {_fmt(comp.effect)}, q={_fmt(q)})"),
                example_session_ids=[str(self.s.session_id[idx[i]]) for i in order[: self.config.examples]],
                histogram=_numeric_chart(counts[g, 0], counts[g, 1], binning, self.config.chart_bins),
                details={"noise": comp.noise, "effect_threshold": floor + comp.noise},
                explained_by=explained,
            )
        return build

    def _categorical_builder(self, feature, grouping, g, comp, counts, levels):
        def build(severity: str, q: float, explained: str | None) -> Finding:
            ref, cur = counts[g, 0].astype(float), counts[g, 1].astype(float)
            share_ref, share_cur = ref / ref.sum(), cur / cur.sum()
            grown = int(np.argmax(share_cur - share_ref))
            mask = (grouping.codes == g) & self.s.is_current & (self.s.categorical[feature].codes == grown)
            slice_ = grouping.slices[g]
            return Finding(
                kind="distribution", feature=feature, slice=slice_.as_dict(), test=comp.test,
                statistic=comp.statistic, p_value=comp.p_value, p_adjusted=q, severity=severity,
                effect=comp.effect, effect_floor=self.config.categorical_floor, psi=comp.psi,
                reference_value={levels[i]: float(share_ref[i]) for i in np.flatnonzero(ref + cur)},
                current_value={levels[i]: float(share_cur[i]) for i in np.flatnonzero(ref + cur)},
                n_reference=comp.n_reference, n_current=comp.n_current,
                summary=(f"{feature} mix shifted in {slice_.key}: '{levels[grown]}' {share_ref[grown]:.1%} -> "
                         f"{share_cur[grown]:.1%} ({comp.test} {_fmt(comp.statistic)}, q={_fmt(q)})"),
                example_session_ids=[str(s) for s in self.s.session_id[np.flatnonzero(mask)[: self.config.examples]]],
                histogram=_categorical_chart(counts[g, 0], counts[g, 1], levels),
                details={"noise": comp.noise, "effect_threshold": self.config.categorical_floor + comp.noise},
                explained_by=explained,
            )
        return build


# -- WER --------------------------------------------------------------------------------------


def _with_bootstrap(samples: SampleTable, ref_i: np.ndarray, cur_i: np.ndarray, config: DriftConfig) -> WerComparison:
    """The comparison with a bootstrap interval; seeded per slice so evidence is reproducible."""
    rng = np.random.default_rng([config.seed, len(ref_i), len(cur_i)])
    return compare_wer(samples.errors[ref_i], samples.ref_words[ref_i], samples.errors[cur_i],
                       samples.ref_words[cur_i], rng, config.bootstrap_rounds)


def _wer_tests(samples: SampleTable, config: DriftConfig, rng: np.random.Generator,
               insufficient: list[dict[str, Any]]) -> tuple[list[_Test], list[tuple]]:
    tests: list[_Test] = []
    compared: list[tuple] = []
    in_window = samples.window >= 0
    if not in_window.any():
        return tests, compared
    per_utt = np.divide(samples.errors, samples.ref_words, out=np.zeros(len(samples)), where=samples.ref_words > 0)
    for grouping in groupings(samples.categorical, config.dimensions, config.pairs):
        codes = grouping.codes
        order = np.argsort(codes[in_window], kind="stable")
        rows = np.flatnonzero(in_window)[order]
        bounds = np.searchsorted(codes[rows], np.arange(grouping.n_groups + 1))
        for g in range(grouping.n_groups):
            idx = rows[bounds[g]: bounds[g + 1]]
            if len(idx) == 0:
                continue
            ref_i, cur_i = idx[samples.window[idx] == 0], idx[samples.window[idx] == 1]
            slice_ = grouping.slices[g]
            if len(ref_i) < config.wer_min_utterances or len(cur_i) < config.wer_min_utterances:
                insufficient.append({"slice": slice_.key, "feature": "wer", "n_reference": len(ref_i),
                                     "n_current": len(cur_i), "verdict": "insufficient data"})
                continue
            comp = compare_wer(samples.errors[ref_i], samples.ref_words[ref_i], samples.errors[cur_i],
                               samples.ref_words[cur_i], rng, rounds=0)
            compared.append((slice_, comp, ref_i, cur_i))
            effect = comp.relative_delta if math.isfinite(comp.relative_delta) else 10.0
            tests.append(_Test("wer", "wer", slice_, comp.p_value, effect, config.wer_relative_floor,
                               _wer_rule(comp, slice_, config),
                               _wer_builder(slice_, comp, samples, per_utt, ref_i, cur_i, config),
                               noise=_wer_noise(comp), rows=_rows_of(np.concatenate([ref_i, cur_i]), len(samples)),
                               recheck=_wer_recheck(samples, config)))
    return tests, compared


def _rows_of(index: np.ndarray, n: int) -> Callable[[], np.ndarray]:
    def rows() -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        mask[index] = True
        return mask
    return rows


def _wer_recheck(samples: SampleTable, config: DriftConfig) -> Callable[[np.ndarray], bool]:
    def recheck(mask: np.ndarray) -> bool:
        ref_i = np.flatnonzero(mask & (samples.window == 0))
        cur_i = np.flatnonzero(mask & (samples.window == 1))
        if len(ref_i) < config.wer_min_utterances or len(cur_i) < config.wer_min_utterances:
            return False
        comp = compare_wer(samples.errors[ref_i], samples.ref_words[ref_i], samples.errors[cur_i],
                           samples.ref_words[cur_i], np.random.default_rng(config.seed), rounds=0)
        return _wer_rule(comp, Slice((("subset", "rest"),)), config)(comp.p_value) == "ticket"
    return recheck


def _wer_noise(comp: WerComparison) -> float:
    """99.9th percentile (one-sided) of the relative delta when nothing changed."""
    if comp.reference_wer <= 0 or not math.isfinite(comp.standard_error):
        return 0.0
    return 3.09 * comp.standard_error / comp.reference_wer


def _wer_rule(comp: WerComparison, slice_: Slice, config: DriftConfig):
    noise = _wer_noise(comp)

    def rule(q: float) -> str | None:
        if q >= config.alpha or comp.absolute_delta < config.wer_absolute_floor:
            return None
        if slice_ == GLOBAL and math.isfinite(comp.ci_low) and comp.ci_low >= config.wer_page_relative:
            return "page"
        if comp.relative_delta >= config.wer_relative_floor + noise:
            return "ticket"
        return "info" if comp.relative_delta >= config.wer_relative_floor / 2 + noise else None
    return rule


def _wer_builder(slice_, comp, samples, per_utt, ref_i, cur_i, config):
    def build(severity: str, q: float, explained: str | None) -> Finding:
        comp_ = _with_bootstrap(samples, ref_i, cur_i, config)
        worst = cur_i[np.argsort(-per_utt[cur_i], kind="stable")]
        r = np.histogram(per_utt[ref_i], WER_BINS)[0]
        c = np.histogram(per_utt[cur_i], WER_BINS)[0]
        return Finding(
            kind="wer", feature="wer", slice=slice_.as_dict(), test="corpus_wer_z", statistic=comp.z,
            p_value=comp.p_value, p_adjusted=q, severity=severity, effect=comp.relative_delta,
            effect_floor=config.wer_relative_floor, reference_value=comp.reference_wer,
            current_value=comp.current_wer, n_reference=comp.n_reference, n_current=comp.n_current,
            summary=(f"WER regressed in {slice_.key}: {comp.reference_wer:.2%} -> {comp.current_wer:.2%} "
                     f"({comp.relative_delta:+.0%}, 95% CI {_fmt(comp_.ci_low)}..{_fmt(comp_.ci_high)}, q={_fmt(q)})"),
            example_session_ids=[str(samples.session_id[i]) for i in worst[: config.examples]],
            histogram={"kind": "numeric", "edges": [float(e) for e in WER_BINS[:-1]] + [None],
                       "reference": _fractions(r), "current": _fractions(c),
                       "reference_count": int(r.sum()), "current_count": int(c.sum())},
            details={**comp_.to_dict(), "noise": _wer_noise(comp),
                     "effect_threshold": config.wer_relative_floor + _wer_noise(comp)},
            explained_by=explained,
        )
    return build


# -- judging ----------------------------------------------------------------------------------


def _judge(tests: list[_Test], config: DriftConfig) -> None:
    if not tests:
        return
    adjusted = statistics.benjamini_hochberg(np.array([t.p_value for t in tests]))
    for t, q in zip(tests, adjusted):
        t.p_adjusted = float(q)
        t.severity = t.severity_rule(float(q))
    _explain(tests, config)


def _explain(tests: list[_Test], config: DriftConfig) -> None:
    """Keep one ticket per regression, on the slice that carries it.

    1. A slice no worse than its flagged parent (effect under `explained_ratio` x the
       parent's, plus noise) adds nothing: info, explained by the parent.
    2. Among the rest, most concentrated first: a slice whose shift vanishes once the rows
       of an already kept slice are removed (the fleet without mobile; retail-co without
       mobile) is explained by that slice.
    """
    flagged = {(t.kind, t.feature, t.slice): t for t in tests if t.severity in ("ticket", "page")}
    for t in sorted(tests, key=lambda t: len(t.slice.labels)):
        if t.severity not in ("ticket", "page"):
            continue
        for parent in t.slice.parents():
            p = flagged.get((t.kind, t.feature, parent))
            if p is not None and t.effect < config.explained_ratio * p.effect + t.noise:
                t.severity, t.explained_by = "info", parent.key
                break
    kept: dict[tuple[str, str], list[tuple[_Test, np.ndarray]]] = {}
    for t in sorted((t for t in tests if t.severity in ("ticket", "page")), key=lambda t: -t.effect):
        group = kept.setdefault((t.kind, t.feature), [])
        if t.rows is None or t.recheck is None:
            continue
        mine = t.rows()
        for other, rows in group[:MAX_EXPLAINERS]:
            if (mine & rows).any() and not t.recheck(mine & ~rows):
                t.severity, t.explained_by = "info", other.slice.key
                break
        else:
            group.append((t, mine))


# -- vocabulary -------------------------------------------------------------------------------


def _label_masks(labels: list[str]) -> dict[str, np.ndarray]:
    """label -> its texts, for every label but '' (none): integer codes, one comparison each."""
    index = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    codes = np.fromiter(map(index.__getitem__, labels), dtype=np.int64, count=len(labels))
    return {label: codes == index[label] for label in sorted(set(index) - {""})}


def _vocabulary(texts: Sequence[TextRow] | Texts, windows: Windows, config: DriftConfig
                ) -> tuple[list[Finding], dict[str, Any] | None]:
    if not len(texts):
        return [], None
    texts = Texts.of(texts)
    corpus = vocabulary.corpus_of(texts.window, texts.ts, texts.session_id, texts.text, texts.kind)
    kept = np.fromiter(map(bool, texts.text), dtype=bool, count=len(texts))  # the corpus' texts
    masks: dict[Slice, np.ndarray] = {GLOBAL: np.ones(len(corpus), dtype=bool)}
    for dim in config.dimensions:
        labels = texts.labels.get(dim)
        if labels is None:
            continue  # no text has the label: no slice (as if every label were '')
        for value, mask in _label_masks(labels).items():
            if mask[kept].any():  # a label only texts without words have makes no slice
                masks[Slice(((dim, value),))] = mask[kept]
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
        for other in kept[:MAX_EXPLAINERS]:
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
            findings.append(_vocabulary_finding(slice_, rep, severity, explained.get(slice_), config))
    glob = results.get(GLOBAL)
    return findings, (glob.to_dict() if glob else None)


def _vocabulary_finding(slice_: Slice, rep, severity: str, explained: str | None, config: DriftConfig) -> Finding:
    terms = rep.misrecognized or rep.new_terms
    top = terms[:10]
    q = min(t.p_adjusted for t in terms)
    examples = [sid for t in top for sid in t.example_session_ids][: config.examples]
    names = ", ".join(f"'{t.term}'" for t in top[:5])
    what = "new terms misrecognized" if rep.misrecognized else "new frequent terms"
    return Finding(
        kind="vocabulary", feature="vocabulary", slice=slice_.as_dict(), test="poisson_new_terms",
        statistic=rep.oov_rate_current, p_value=min(t.p_value for t in terms), p_adjusted=q, severity=severity,
        effect=rep.misrecognized_share, effect_floor=None,
        reference_value={"oov_rate": rep.oov_rate_expected, "vocabulary_size": rep.vocabulary_size},
        current_value={"oov_rate": rep.oov_rate_current, "new_terms": len(rep.new_terms),
                       "misrecognized": len(rep.misrecognized)},
        n_reference=rep.tokens_reference, n_current=rep.tokens_current,
        summary=f"{what} in {slice_.key}: {names} (OOV {rep.oov_rate_expected:.2%} -> {rep.oov_rate_current:.2%})",
        example_session_ids=examples,
        histogram={"kind": "categorical", "categories": [t.term for t in top],
                   "reference": [t.baseline_count for t in top], "current": [t.current_count for t in top],
                   "reference_count": rep.tokens_reference, "current_count": rep.tokens_current},
        details={"terms": [t.to_dict() for t in top], "oov_z": rep.oov_z, "oov_p_value": rep.oov_p_value},
        explained_by=explained,
    )


# -- label-free WER ---------------------------------------------------------------------------


def _label_free(sessions: SessionTable, samples: SampleTable, windows: Windows, config: DriftConfig,
                rng: np.random.Generator, drift: Sequence[Finding] = ()) -> tuple[list[dict[str, Any]], list[Finding]]:
    versions = sessions.categorical["model_version"]
    sample_versions = samples.categorical["model_version"]
    words = sessions.hypothesis_words
    fill = float(np.nanmedian(words)) if np.isfinite(words).any() else 1.0
    weights = np.where(np.isfinite(words), words, fill)
    at = windows.at.timestamp()
    out, findings = [], []
    health = calibration_health.HealthRule(
        min_samples=config.min_labeled, slope_min=config.calibration_slope_min, slope_max=config.calibration_slope_max,
        max_intercept=config.calibration_max_intercept, max_ece=config.calibration_max_ece, bins=config.calibration_bins)
    slice_dims = [d for d in config.dimensions if d != "model_version" and d in samples.categorical]
    for code, version in enumerate(versions.levels):
        traffic = (versions.codes == code) & sessions.is_current
        if not traffic.any():
            continue
        lab = (sample_versions.codes == sample_versions.levels.index(version)) if version in sample_versions.levels \
            else np.zeros(len(samples), dtype=bool)
        lab &= samples.ts >= at - config.calibration_days * 86400
        lab &= samples.ts < at
        est = label_free.estimate_label_free_wer(
            version, samples.confidence[lab], samples.errors[lab], samples.ref_words[lab],
            (at - samples.ts[lab]) / 86400.0, sessions.numeric["confidence"][traffic], weights[traffic], rng,
            rounds=config.label_free_rounds, min_labeled=config.min_labeled,
            max_label_age_days=config.label_max_age_days, max_out_of_range=config.label_free_max_out_of_range,
            max_shift=config.label_free_max_shift, health=health,
            labeled_slices={d: (samples.categorical[d].codes[lab], samples.categorical[d].levels) for d in slice_dims},
            drift_reasons=label_free.assumption_drift(version, list(drift), config.label_free_drift_features))
        out.append(est.to_dict())
        if est.warnings or est.withheld_reason:
            findings.append(Finding(
                kind="label_free", feature="label_free_wer", slice={"model_version": version},
                test="isotonic_calibration", statistic=est.estimated_wer if est.estimated_wer is not None else math.nan,
                p_value=None, p_adjusted=None, severity="info", effect=est.confidence_shift, effect_floor=None,
                reference_value={"labeled_wer": est.labeled_wer, "calibrated_range": est.calibrated_range},
                current_value={"estimated_wer": est.estimated_wer, "ci": [est.ci_low, est.ci_high],
                               "withheld_reason": est.withheld_reason,
                               "out_of_range_fraction": est.out_of_range_fraction},
                n_reference=est.n_labeled, n_current=est.n_unlabeled,
                summary=(f"label-free WER for {version} withheld: {est.withheld_reason}" if est.withheld_reason
                         else f"label-free WER for {version} is unreliable: " + "; ".join(est.warnings)),
                details=est.to_dict()))
    return out, findings


# -- the scan ---------------------------------------------------------------------------------


def run_scan(
    sessions: SessionTable,
    samples: SampleTable,
    windows: Windows,
    config: DriftConfig,
    texts: Sequence[TextRow] | Texts = (),
    progress: Callable[[str], None] | None = None,
) -> ScanReport:
    rng = np.random.default_rng(config.seed)
    step = progress or (lambda _: None)
    groups = groupings(sessions.categorical, config.dimensions, config.pairs)
    dist = _Distribution(sessions, groups, config)
    for feature in NUMERIC_FEATURES:
        step(feature)
        dist.numeric(feature)
    for feature in CATEGORICAL_FEATURES:
        step(feature)
        dist.categorical(feature)
    step("wer")
    wer_tests, compared = _wer_tests(samples, config, rng, dist.insufficient)
    tests = dist.tests + wer_tests
    _judge(tests, config)
    findings = [t.build(t.severity, t.p_adjusted, t.explained_by) for t in tests if t.severity]
    step("vocabulary")
    vocab_findings, vocab = _vocabulary(texts, windows, config)
    step("label-free WER")
    lf, lf_findings = _label_free(sessions, samples, windows, config, rng, findings)
    findings = sort_findings(findings + vocab_findings + lf_findings)
    by_slice = {t.slice: t for t in wer_tests}
    # Rank by the lower end of the relative change: a small region's clear regression ranks
    # above the fleet's flat average, and a noisy tiny slice does not.
    worst = sorted(compared, key=lambda sc: -(sc[1].ci_low if math.isfinite(sc[1].ci_low) else -math.inf))[:10]
    worst_slices = []
    for s, _, ref_i, cur_i in worst:
        c = _with_bootstrap(samples, ref_i, cur_i, config)
        worst_slices.append({"slice": s.key, "slice_labels": s.as_dict(), **c.to_dict(),
                             "p_adjusted": by_slice[s].p_adjusted, "severity": by_slice[s].severity})
    trend_slices = [GLOBAL] + [Slice(tuple(f.slice.items())) for f in findings if f.kind == "wer" and f.slice
                               and f.severity != "info"]
    trend = {}
    for slice_ in dict.fromkeys(trend_slices):
        mask = np.ones(len(samples), dtype=bool)
        for dim, value in slice_.labels:
            enc = samples.categorical[dim]
            mask &= enc.codes == (enc.levels.index(value) if value in enc.levels else -1)
        trend[slice_.key] = weekly_trend(samples.ts[mask], samples.errors[mask], samples.ref_words[mask],
                                         windows.at, config.trend_weeks)
    return ScanReport(
        at=windows.at, windows=windows, findings=findings, worst_slices=worst_slices,
        insufficient=dist.insufficient, label_free=lf, wer_trend=trend, vocabulary=vocab,
        tests_run=len(tests), slices_evaluated=len(dist.slices | {c[0].key for c in compared}),
        counts={"sessions_reference": int((~sessions.is_current).sum()), "sessions_current": int(sessions.is_current.sum()),
                "samples_reference": int((samples.window == 0).sum()), "samples_current": int((samples.window == 1).sum()),
                "texts": len(texts)},
    )
