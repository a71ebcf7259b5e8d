"""Redaction against the labelled PII corpus (tests/collector/pii_corpus.py), issue #19 item 3:
at least 95% of positive spans fully masked and at most 3% of near-misses altered. These are
correctness thresholds on a fixed corpus, not timings. bench/redaction.py prints the same figures
with Presidio's pattern recognizers beside them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.measures.redaction import IBAN_LENGTHS, PLACEHOLDER, PLACEHOLDERS, _iban_ok, _luhn_ok, redact

sys.path.insert(0, str(Path(__file__).parent))  # the corpus beside this file
import pii_corpus  # noqa: E402


def test_corpus_is_big_enough_and_well_formed():
    assert len(pii_corpus.POSITIVES) >= 150, "issue #19 asks for at least 150 positives"
    assert len(pii_corpus.NEAR_MISSES) >= 100, "issue #19 asks for at least 100 near-misses"
    for _, text, spans in pii_corpus.POSITIVES:
        assert spans, text
        for span in spans:
            pii_corpus.span_of(text, span)  # exactly once, or it raises naming the span
    categories = {category for category, _, _ in pii_corpus.POSITIVES}
    assert {"email", "email_spoken", "phone_intl", "phone", "spoken_digits", "card", "ssn", "iban",
            "address"} <= categories
    near = {category for category, _ in pii_corpus.NEAR_MISSES}
    assert {"price", "date", "time", "id", "version", "ip", "decimal", "isbn"} <= near


def test_corpus_cards_pass_luhn_and_ibans_pass_mod97():
    cards = [span for category, _, spans in pii_corpus.POSITIVES if category == "card" for span in spans]
    assert len(cards) >= 15
    for card in cards:
        assert _luhn_ok(re.sub(r"\D", "", card)), card
    ibans = [span for category, _, spans in pii_corpus.POSITIVES if category == "iban" for span in spans]
    assert len(ibans) >= 12
    for iban in ibans:
        compact = re.sub(r"[ -]", "", iban).upper()
        assert len(compact) == IBAN_LENGTHS[compact[:2]], iban
        assert _iban_ok(compact), iban


def test_recall_and_near_miss_goals():
    result = pii_corpus.score(redact)
    missed = "\n".join(f"  {category}: {span!r} in {text!r}" for category, text, span in result["missed"])
    altered = "\n".join(f"  {category}: {text!r} -> {out!r}" for category, text, out in result["altered_texts"])
    assert result["recall"] >= 0.95, f"recall {result['recall']:.1%} < 95%; missed:\n{missed}"
    assert result["altered_rate"] <= 0.03, f"{result['altered_rate']:.1%} of near-misses altered:\n{altered}"
    # No category may be left behind by the overall figure.
    for category, recall in result["recall_by_category"].items():
        assert recall >= 0.9, f"{category}: recall {recall:.0%}; missed:\n{missed}"


def test_scoring_catches_a_redactor_that_leaks_and_one_that_over_redacts():
    # The measure itself must be able to fail: a redactor that does nothing has recall 0, one that
    # replaces everything alters every near-miss, and one that masks half a span does not count.
    assert pii_corpus.score(lambda text: text)["recall"] == 0
    assert pii_corpus.score(lambda text: "[ALL]")["altered_rate"] == 1
    text = "my social is 123-45-6789"
    intervals = pii_corpus.masked_intervals(text, "my social is 123-45-[SSN]")
    assert not pii_corpus._covered(pii_corpus.span_of(text, "123-45-6789"), intervals)
    with pytest.raises(AssertionError, match="not the original"):
        pii_corpus.masked_intervals(text, "my social is gone")


@pytest.mark.parametrize("text, placeholder", [
    ("it's bob at example dot com", "[EMAIL]"),
    ("call me on +91 98765 43210 after six", "[PHONE]"),
    ("my social is 123456789", "[SSN]"),
    ("my iban is GB82 WEST 1234 5698 7654 32", "[IBAN]"),
    ("i live at 221 baker street", "[ADDRESS]"),
    ("my number is oh seven seven double oh nine double oh one two three", "[PHONE]"),
    ("the card is four one one one one one one one one one one one one one one one", "[CARD]"),
])
def test_placeholders_name_the_kind(text, placeholder):
    assert placeholder in redact(text)


@pytest.mark.parametrize("text", [
    "GB82 WEST 1234 5698 7654 33",       # one digit off: mod-97 fails
    "4111 1111 1111 1112",               # Luhn fails
    "666-12-3456",                       # area 666 is never issued
    "ticket 123456789 is open",          # nine bare digits without "social"/"ssn" before them
    "isbn 978-3-16-148410-0",
    "pi is 3.14159265358979",
    "the server is 192.168.1.100",
])
def test_validators_keep_look_alikes(text):
    assert redact(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.lists(st.sampled_from(
    ["one", "oh", "o", "double", "triple", "plus", "twenty", "hundred", "at", "dot", "com", "social", "street",
     "GB82", "4111", "-", ".", ",", " ", "+44", "(0)", "12", "\u212a", "\u017f", "\u0663", "\u00a0", "@", "é"]),
    max_size=40).map(" ".join))
def test_redact_never_raises_and_only_inserts_placeholders(text):
    # Arbitrary text (other scripts' digits, the Kelvin sign, fragments of every pattern) either
    # comes back as is or as itself with placeholders in place of some substrings.
    out = redact(text)
    assert isinstance(out, str)
    pii_corpus.masked_intervals(text, out)  # raises unless out is text with placeholders


@pytest.mark.parametrize("without_cue, with_cue", [
    # A website read out is not an email; the same words after an email cue are.
    ("contact support at apple dot com", "email support at apple dot com"),
    ("shop online at target dot com", "my email is target at target dot com"),
    ("sign up for email offers at target dot com", "send the offers to sam at target dot com"),
    # An ordinary word as a street suffix is an address only after an address cue...
    ("the 5 oak court", "i live at 5 oak court"),
    ("4 new tire close", "my address is 4 new tire close"),
    # ...and a range or an id of a phone number's shape is a phone number only after a phone cue.
    ("pages 250-1000", "call me on 250-1000"),
    ("order number 81234-56789", "my mobile number is 81234-56789"),
    ("the 555 0199 batch", "call 555 0199 today"),
])
def test_cues_decide_the_ambiguous_shapes(without_cue, with_cue):
    assert redact(without_cue) == without_cue
    assert redact(with_cue) != with_cue and "[" in redact(with_cue)


@pytest.mark.parametrize("text", [
    "i live at 2 teams square",          # a plural noun before an ambiguous suffix: not a street name
    "at 2 pm way across town",           # am/pm/o'clock are never a street name
    "between 500-1500 dollars to call",  # a phone cue after the number does not count
    "call about 500-1500 units",         # a range word right before the number wins over the cue
    "call ref 81234-56789",              # so does an id's name
])
def test_the_refusals_hold_even_near_a_cue(text):
    assert redact(text) == text


def test_written_and_strong_spoken_emails_need_no_cue():
    for text in ("contact bob dot smith at apple dot com", "ask jane underscore doe at acme dot io",
                 "ping bob42 at example dot com", "try priya at the rate example dot com",
                 "shop at bob@target.com", "john at gmail dot com"):
        assert "[EMAIL]" in redact(text), text


def test_every_placeholder_redact_writes_is_listed():
    """`PLACEHOLDERS` is what ingest recognises as redacted text: it must name every mark redact writes."""
    written = set()
    for _, text, _ in pii_corpus.POSITIVES:
        written |= set(re.findall(r"\[[A-Z]+\]", redact(text)))
    assert written == set(PLACEHOLDERS)
    assert PLACEHOLDER.search("call [PHONE] now") and not PLACEHOLDER.search("[NOISE] <UNK> [phone]")
