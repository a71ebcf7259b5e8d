"""The measures, pure: WER (normalization, counts, corpus WER, bootstrap, the pair codec),
latency histograms, grouping, cost and redaction. No I/O and no storage imports; other
packages import only the names below."""

from collector.measures.grouping import groups_of, sums
from collector.measures.json_safe import finite_or_null
from collector.measures.redaction import redact
from collector.measures.wer import WordErrors, normalizer, pair_key, word_errors

__all__ = [
    "WordErrors",
    "finite_or_null",
    "groups_of",
    "normalizer",
    "pair_key",
    "redact",
    "sums",
    "word_errors",
]

from collector.measures.word_count import hypothesis_words

__all__ = [
    "groups_of",
    "hypothesis_words",
    "redact",
]
