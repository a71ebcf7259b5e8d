"""The measures, pure: WER (normalization, counts, corpus WER, bootstrap, the pair codec),
latency histograms, grouping, cost and redaction. No I/O and no storage imports; other
packages import only the names below."""

from collector.measures import cost, histogram, wer  # modules other packages use whole
from collector.measures.grouping import groups_of, sums
from collector.measures.json_safe import finite_or_null
from collector.measures.redact_values import redact_strings
from collector.measures.redaction import PLACEHOLDER, redact
from collector.measures.wer import WordErrors, normalizer, pair_key, word_errors
from collector.measures.word_count import hypothesis_words

__all__ = [
    "PLACEHOLDER",
    "cost",
    "finite_or_null",
    "groups_of",
    "histogram",
    "hypothesis_words",
    "normalizer",
    "pair_key",
    "redact",
    "redact_strings",
    "sums",
    "wer",
    "word_errors",
    "WordErrors",
]
