"""The measures, pure: WER and CER (normalization by language, counts, corpus WER, bootstrap, the
pair codec), entity recall, hallucination checks, latency histograms, grouping, cost and redaction. No I/O and no storage imports; other
packages import only the names below."""

from collector.measures import cost, entity_recall, histogram, wer  # modules other packages use whole
from collector.measures import diarization  # DER by pyannote.metrics (imported when first scored)
from collector.measures import hallucination  # label-free checks: Whisper's compression ratio, loops, no-speech
from collector.measures.grouping import groups_of, sums
from collector.measures.json_safe import finite_or_null
from collector.measures.redact_values import redact_strings
from collector.measures.redaction import PLACEHOLDER, redact
from collector.measures.wer import WordErrors, normalizer, pair_key, word_errors
from collector.measures.word_count import hypothesis_words

__all__ = [
    "PLACEHOLDER",
    "cost",
    "diarization",
    "entity_recall",
    "finite_or_null",
    "groups_of",
    "hallucination",
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
