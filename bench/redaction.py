"""Transcript redaction: recall and near-miss alteration on the labelled PII corpus, and throughput,
for asrwatch's `redact` and, side by side on the same corpus, Presidio's pattern recognizers.

The corpus is tests/collector/pii_corpus.py (issue #19: >= 150 positives with the exact spans that
must be replaced, >= 100 near-misses that must stay). Recall is the share of positive spans fully
masked; "altered" is the share of near-misses changed at all. Goals: recall >= 95%, altered <= 3%.

Presidio runs without its NLP engine (no spaCy model is downloaded): its predefined
PatternRecognizer-based recognizers are called directly, as `AnalyzerEngine` would call them,
with every result kept (AnalyzerEngine's default score_threshold is 0): EmailRecognizer,
PhoneRecognizer (Google's libphonenumber via `phonenumbers`), CreditCardRecognizer,
UsSsnRecognizer, IbanRecognizer. Without the NLP engine, Presidio's context words cannot raise a
low-score match (UsSsnRecognizer's), but low-score matches are kept anyway, so this is the most
Presidio's patterns can mask. Presidio has no pattern recognizer for street addresses or spoken
forms. Throughput is texts per second, one thread, on the corpus texts and on PII-free
transcripts (the common case on ingest).

    python bench/redaction.py [--seconds 2] [--json out.json] [--no-presidio]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "collector"))

import pii_corpus  # noqa: E402
from collector.measures.redaction import redact  # noqa: E402

CLEAN = [
    "turn on the lights in the kitchen",
    "what's the weather like in seattle tomorrow",
    "play some jazz in the living room",
    "i'd like to check the status of my order please",
    "can you move my appointment to next week",
    "yeah that sounds good to me thanks",
    "no i said the blue one not the red one",
    "how long will the delivery take",
    "set an alarm for seven thirty",
    "i'm calling about the invoice you sent me last month",
    "could you repeat that please i didn't catch it",
    "transfer me to someone in billing",
    "the app keeps crashing when i open the camera",
    "i want to cancel my subscription",
    "remind me to call mom at five",
    "what time does the store close today",
]


def presidio_redactor() -> tuple[Callable[[str], str], str]:
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # it tries to fetch a suffix list
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from importlib.metadata import version

    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          PhoneRecognizer, UsSsnRecognizer)
    recognizers = [EmailRecognizer(), PhoneRecognizer(), CreditCardRecognizer(), UsSsnRecognizer(), IbanRecognizer()]

    def run(text: str) -> str:
        found = []
        for recognizer in recognizers:
            for result in recognizer.analyze(text, entities=recognizer.supported_entities, nlp_artifacts=None) or []:
                found.append((result.start, result.end, result.entity_type))
        # Merge overlaps (as presidio-anonymizer does) and replace each with [ENTITY_TYPE].
        merged: list[list] = []
        for start, end, kind in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, kind])
        out, last = [], 0
        for start, end, kind in merged:
            out += [text[last:start], f"[{kind}]"]
            last = end
        return "".join(out) + text[last:]

    return run, f"presidio-analyzer {version('presidio-analyzer')} (phonenumbers {version('phonenumbers')})"


def phonenumbers_only(seconds: float) -> list[str]:
    """The phone categories alone, asrwatch vs Google's libphonenumber matcher (`phonenumbers`)
    with a US default region at two leniencies: whether the library should replace our phone
    patterns (issue #19: use a maintained library wherever it does better)."""
    try:
        from phonenumbers import Leniency, PhoneNumberMatcher
    except ImportError:
        return ["phonenumbers not installed: pip install phonenumbers"]

    def matcher(leniency):
        def run(text: str) -> str:
            out, last = [], 0
            for match in PhoneNumberMatcher(text, "US", leniency=leniency):
                out += [text[last:match.start], "[PHONE]"]
                last = match.end
            return "".join(out) + text[last:]
        return run

    positives = [(text, spans) for category, text, spans in pii_corpus.POSITIVES if category in ("phone", "phone_intl")]
    lines = [f"phone numbers only ({len(positives)} positives, all {len(pii_corpus.NEAR_MISSES)} near-misses):"]
    for name, fn in [("asrwatch", redact), ("phonenumbers, POSSIBLE", matcher(Leniency.POSSIBLE)),
                     ("phonenumbers, VALID", matcher(Leniency.VALID))]:
        masked = sum(all(pii_corpus._covered(pii_corpus.span_of(text, span), pii_corpus.masked_intervals(text, fn(text)))
                         for span in spans) for text, spans in positives)
        altered = sum(fn(text) != text for _, text in pii_corpus.NEAR_MISSES)
        rate = throughput(fn, [text for text, _ in positives], seconds)
        lines.append(f"  {name:<24} recall {masked / len(positives):>5.0%}  altered {altered / len(pii_corpus.NEAR_MISSES):>5.1%}"
                     f"  {rate:>9,.0f} texts/s")
    return lines


def throughput(fn: Callable[[str], str], texts: list[str], seconds: float) -> float:
    done, started = 0, time.perf_counter()
    while True:
        for text in texts:
            fn(text)
        done += len(texts)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def measure(name: str, fn: Callable[[str], str], seconds: float) -> dict:
    result = pii_corpus.score(fn)
    corpus_texts = [text for _, text, _ in pii_corpus.POSITIVES] + [text for _, text in pii_corpus.NEAR_MISSES]
    result["name"] = name
    result["corpus_texts_per_s"] = throughput(fn, corpus_texts, seconds)
    result["clean_texts_per_s"] = throughput(fn, CLEAN, seconds)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput measurement")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--show-failures", action="store_true", help="print the missed spans and altered near-misses")
    args = parser.parse_args()

    runs = [measure("asrwatch", redact, args.seconds)]
    if not args.no_presidio:
        try:
            fn, label = presidio_redactor()
        except ImportError as exc:
            print(f"presidio-analyzer not installed ({exc}); pip install presidio-analyzer", file=sys.stderr)
        else:
            runs.append(measure(label, fn, args.seconds))

    load = os.getloadavg()
    print(f"\nPII corpus: {len(pii_corpus.POSITIVES)} positives ({runs[0]['spans']} spans), "
          f"{len(pii_corpus.NEAR_MISSES)} near-misses; {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    width = max(len(r["name"]) for r in runs)
    print(f"{'':{width}}  {'recall':>7}  {'altered':>7}  {'corpus texts/s':>14}  {'clean texts/s':>13}  goal met")
    for r in runs:
        met = r["recall"] >= 0.95 and r["altered_rate"] <= 0.03
        print(f"{r['name']:{width}}  {r['recall']:>7.1%}  {r['altered_rate']:>7.1%}  {r['corpus_texts_per_s']:>14,.0f}"
              f"  {r['clean_texts_per_s']:>13,.0f}  {'yes' if met else 'no'}")
    print("\nrecall by category" + "".join(f"  {r['name'].split()[0]:>9}" for r in runs))
    for category in runs[0]["recall_by_category"]:
        print(f"  {category:<16}" + "".join(f"  {r['recall_by_category'].get(category, 0):>9.0%}" for r in runs))
    print("near-misses altered by category" + "".join(f"  {r['name'].split()[0]:>9}" for r in runs))
    for category in runs[0]["altered_by_category"]:
        print(f"  {category:<16}" + "".join(f"  {r['altered_by_category'].get(category, 0):>9.0%}" for r in runs))
    if not args.no_presidio:
        print("\n" + "\n".join(phonenumbers_only(args.seconds / 2)))
    if args.show_failures:
        for r in runs:
            print(f"\n{r['name']}:")
            for category, text, span in r["missed"]:
                print(f"  missed   {category}: {span!r} in {text!r}")
            for category, text, out in r["altered_texts"]:
                print(f"  altered  {category}: {text!r} -> {out!r}")
    if args.json:
        keep = ("name", "positives", "spans", "recall", "near_misses", "altered_rate", "recall_by_category",
                "altered_by_category", "corpus_texts_per_s", "clean_texts_per_s")
        args.json.write_text(json.dumps({"runs": [{k: r[k] for k in keep} for r in runs],
                                         "load": load, "cores": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
