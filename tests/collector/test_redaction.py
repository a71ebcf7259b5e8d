import pytest

from collector.measures.redaction import redact


@pytest.mark.parametrize("text, leaked, placeholder", [
    ("sure, send it to jane.doe+billing@acme-corp.co.uk thanks", "jane.doe", "[EMAIL]"),
    ("my card is 4111 1111 1111 1111 expiring soon", "4111", "[CARD]"),
    ("card number 5500-0000-0000-0004", "5500", "[CARD]"),
    ("you can reach me on +44 20 7946 0958 after five", "7946", "[PHONE]"),
    ("call (415) 555-2671 tomorrow", "555", "[PHONE]"),
    ("the number is five five five two six seven one", "five five five", "[PHONE]"),
])
def test_pii_is_replaced(text, leaked, placeholder):
    out = redact(text)
    assert leaked not in out
    assert placeholder in out


@pytest.mark.parametrize("text", [
    "order 1234567890123 shipped",          # 13 digits failing Luhn: an order id, not a card
    "set a timer for 25 minutes",
    "the meeting is at 10 30 in room 4",
])
def test_ordinary_numbers_survive(text):
    assert redact(text) == text
