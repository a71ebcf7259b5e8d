"""PII redaction for transcripts at ingest: emails (written and spoken), IBANs, card numbers,
US SSNs, phone numbers (international, national and spoken), street addresses.

Transcripts are redacted before they are stored, so the raw text never reaches the database
or the logs. Every pattern that could also match an ordinary number is checked by a validator:
card numbers by their issuer prefix and the Luhn checksum (order ids, ISBNs survive), IBANs by
the country's length and the ISO 13616 mod-97 check, SSNs by the SSA's area/group/serial rules
(and a bare nine-digit number only after "social"/"ssn"), phone numbers by shape with
lookarounds that keep dates, versions, IP addresses and decimals out. ASR output often spells
digits out ("four one five, five five five, oh one nine nine", "double oh", "triple three"):
runs of spoken digits are normalised to digits and redacted when they hold seven or more.
Shapes that ordinary speech also takes need a cue word before them: a spoken email without a
separator, digits or a mail provider ("bob at example dot com" after "email", "send to", "it's";
not "shop online at target dot com"), a street address ending in a word like "way", "drive",
"close" or "square" ("live at", "address is", "ship to"), a seven-digit local number or a dashed
Indian mobile ("call", "cell", "number"; not "pages 250-1000" or "order number 81234-56789").

Placeholders: [EMAIL], [IBAN], [CARD], [SSN], [PHONE], [ADDRESS]. The labelled corpus in
tests/collector/pii_corpus.py measures recall and near-miss alteration (bench/redaction.py
prints them, with Presidio's pattern recognizers on the same corpus for comparison).
"""

from __future__ import annotations

import re

# Every pattern but the written email is ASCII-only: the validators below turn the characters they
# match into numbers (int(ch), int(ch, 36)), and re's Unicode \d and case folding would hand them
# other scripts' digits or the Kelvin sign. A written email keeps Unicode (josé@example.com).

# --- emails -----------------------------------------------------------------------------------

# What `redact` writes in place of PII, each one of these and nothing else: a text holding one of
# them was changed by redaction (collector.store.ingest scores a redacted hypothesis by this).
PLACEHOLDERS = ("[EMAIL]", "[IBAN]", "[CARD]", "[SSN]", "[PHONE]", "[ADDRESS]")
PLACEHOLDER = re.compile("|".join(map(re.escape, PLACEHOLDERS)))

EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+\b")
_TLDS = ("com|net|org|edu|gov|mil|int|io|co|uk|us|de|in|fr|ca|au|nl|es|it|ch|se|no|dk|fi|ie|be|at|pl"
         "|br|mx|jp|cn|kr|ru|za|nz|sg|info|biz|me|ai|dev|app|tv|cc|eu")
# Words that precede "at" in ordinary speech ("look at", "me at", "sign in at", "available at")
# or follow it ("at the office"): never the local part or the first label of a spoken email address.
_NOT_LOCAL = ("look|looking|looked|me|us|him|her|them|it|is|was|be|are|am|arrive|arrived|here|there"
              "|that|this|what|where|meet|met|home|work|stay|staying|stayed|email|mail|address"
              "|in|on|up|out|off|back|online|over|down|into|onto|from|for|with|to|of|by|and|or|but|not"
              "|now|just|only|also|still|even|all|available|cheaper|cheapest|cheap|free|listed|sold|open"
              "|live|posted|shown|found|hosted|located|better|best|same|ready|due|more|less")
_NOT_DOMAIN = "the|this|that|a|an|my|your|our|his|her|their|home|work|noon|night|least|last|first"
_LABEL = r"[a-z0-9]+"                    # a local-part word; "-" is a separator below
_DOMAIN_LABEL = r"[a-z0-9]+(?:-[a-z0-9]+)*+"
_SPOKEN_SEP = r"(?:\s+(?:dot|period|underscore|dash|hyphen)\s+|[._-])"
_SPOKEN_AT = r"(?:\s*@\s*|\s+at(?:\s+the\s+rate(?:\s+of)?)?\s+)"
_SPOKEN_DOT = r"(?:\s+(?:dot|period)\s+|\.)"
# "bob at example dot com", "jane dot doe at gmail dot com", "priya at the rate gmail dot com",
# "ravi@example dot in". Written emails are replaced first, so what this finds has a spoken part.
# The chains are bounded (five separators in the local part, four dots in the domain) and no
# character can belong to both a word and a separator, so a long "a dot a dot..." stays linear.
SPOKEN_EMAIL = re.compile(
    rf"\b(?!(?:{_NOT_LOCAL})\b)(?P<local>{_LABEL}(?:{_SPOKEN_SEP}{_LABEL}){{0,5}})"
    rf"(?P<at>{_SPOKEN_AT})(?!(?:{_NOT_DOMAIN})\b)(?P<domain>{_DOMAIN_LABEL})(?:{_SPOKEN_DOT}{_DOMAIN_LABEL}){{0,4}}{_SPOKEN_DOT}(?:{_TLDS})\b",
    re.IGNORECASE | re.ASCII,
)

# A dot (written or spoken) before a known top-level domain: without one, no spoken email.
SPOKEN_EMAIL_HINT = re.compile(rf"(?:\.|\b(?:dot|period)\s+)(?:{_TLDS})\b", re.IGNORECASE | re.ASCII)


def _last_word(text: str, end: int) -> str:
    """The word right before `end` (lower case, past spaces, ":" and "#"): every cue below ends
    in one of a few words, so this set test spares the cue's regex (anchored at the end, it would
    be tried from every position of its window) on a long run of look-alikes."""
    i = end
    while i > 0 and end - i < 8 and text[i - 1] in " \t\n:#":
        i -= 1
    j = i
    while j > 0 and i - j < 16 and (text[j - 1].isalpha() or text[j - 1] == "'"):
        j -= 1
    return text[j:i].lower()


# A website read out has the same shape as a spoken email: "shop online at target dot com",
# "contact support at apple dot com". A spoken match is an email only with one of these:
# - a written "@" or "at the rate" (Indian English for "@"), or a separator ("bob dot smith at",
#   "jane underscore doe at") or a name with digits ("kevin92 at") in the local part;
# - a mail provider's domain ("john at gmail dot com");
# - a cue right before the local part: "email", "mail", "address" (with "is", "me at"... after
#   it), "send/write/forward ... to", "reach/contact me at", or a copula ("it's bob at...",
#   "my work one is jlopez at..."). Presidio likewise raises a pattern's score only with context
#   words near it (presidio-analyzer context_aware_enhancers/lemma_context_aware_enhancer.py).
_STRONG_SEP = re.compile(r"\s(?:dot|period|underscore|dash|hyphen)\s|[._]", re.IGNORECASE | re.ASCII)
_NAME_WITH_DIGITS = re.compile(r"^(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]+$", re.IGNORECASE | re.ASCII)
_MAIL_PROVIDERS = frozenset({
    "gmail", "googlemail", "yahoo", "ymail", "hotmail", "outlook", "icloud", "aol", "protonmail",
    "proton", "gmx", "zoho", "yandex", "rediffmail", "fastmail", "tutanota",
})
_EMAIL_CUE = re.compile(
    r"(?:\b(?:e-?mail(?:ed)?|mail(?:ed)?|address|cc|bcc)(?:'s|\s+(?:address|id|is|was|it|me|us|him|her"
    r"|them|that|this|to|at)){1,3}"
    # "email carlos at...", "cc bob at...", but not "sign up for email offers at target dot com"
    r"|(?<!for )(?<!the )(?<!an )(?<!my )(?<!your )(?<!our )(?<!via )(?<!by )\b(?:e-?mail|mail|cc|bcc)"
    r"|\b(?:send|sent|write|wrote|forward(?:ed)?|reply|copy|email|mail)(?:\s+[\w']+){0,3}?\s+to"
    r"|\b(?:reach|contact|email|message|find|ping)\s+(?:me|us|him|her|them)\s+at"
    r"|\b(?:is|was|it's|its|that's|it\s+is))\s*:?\s*$",
    re.IGNORECASE | re.ASCII,
)
_EMAIL_CUE_LAST = frozenset({
    "email's", "email", "e-mail", "mail", "emailed", "mailed", "e-mailed", "address", "cc", "bcc", "id", "is",
    "was", "'s", "it", "me", "us", "him", "her", "them", "that", "this", "to", "at", "it's", "its",
    "that's",
})


def _spoken_email(match: re.Match[str]) -> str:
    local, at = match.group("local"), match.group("at")
    if ("@" in at or "rate" in at.lower() or _STRONG_SEP.search(local) or _NAME_WITH_DIGITS.match(local)
            or match.group("domain").lower() in _MAIL_PROVIDERS
            or (_last_word(match.string, match.start()) in _EMAIL_CUE_LAST
                and _EMAIL_CUE.search(match.string, max(0, match.start() - 48), match.start()))):
        return "[EMAIL]"
    return match.group(0)


# --- IBANs ------------------------------------------------------------------------------------

# Lengths by country, from the SWIFT IBAN registry (Presidio's IbanRecognizer encodes the same
# lengths as per-country patterns: presidio-analyzer predefined_recognizers/generic/iban_patterns.py,
# and validates by the same mod-97 in generic/iban_recognizer.py).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}
IBAN_CANDIDATE = re.compile(r"\b[a-z]{2}\d{2}(?:[ -]?[a-z0-9]){10,31}", re.IGNORECASE | re.ASCII)


def _iban_ok(compact: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1."""
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _iban(text: str) -> str:
    out, last = [], 0
    for match in IBAN_CANDIDATE.finditer(text):
        if match.start() < last:
            continue
        length = IBAN_LENGTHS.get(match.group(0)[:2].upper())
        if length is None:
            continue
        # Take exactly `length` alphanumerics (the candidate may run on into the next word).
        seen, end = 0, match.start()
        for i in range(match.start(), match.end()):
            if text[i].isalnum():
                seen += 1
                if seen == length:
                    end = i + 1
                    break
        if seen != length or (end < len(text) and text[end].isalnum()):
            continue
        compact = re.sub(r"[ -]", "", text[match.start():end]).upper()
        if compact[2:4] not in ("00", "01", "99") and _iban_ok(compact):
            out.append(text[last:match.start()])
            out.append("[IBAN]")
            last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# --- card numbers -----------------------------------------------------------------------------

# 13-19 digits, optionally grouped by spaces or dashes; issuer prefixes 2-6 (Visa 4, Mastercard
# 51-55 and 2221-2720, Amex 34/37, Discover 6011/65, JCB 35, Diners 30/36/38), so that ISBNs
# (978/979) and other Luhn-valid ids starting 0, 1, 7, 8 or 9 survive.
CARD_CANDIDATE = re.compile(r"(?<![\d+-])[2-6](?:[ -]?\d){12,18}(?![\d-])", re.ASCII)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ean13_ok(digits: str) -> bool:
    """GS1 check digit: weights 1, 3, 1, 3... from the left over the first twelve digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def _card(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    if not (13 <= len(digits) <= 19 and _luhn_ok(digits)):
        return found
    # Thirteen ungrouped digits that are a valid EAN-13 are a product code: 13-digit cards
    # (early Visa) are retired, and a card read out is grouped 4-4-4-4 or 4-6-5.
    if found == digits and len(digits) == 13 and _ean13_ok(digits):
        return found
    return "[CARD]"


# --- US social security numbers ---------------------------------------------------------------

# Written 123-45-6789, 123 45 6789 or 123.45.6789 (the same separator twice).
SSN = re.compile(r"(?<![\w.+-])(\d{3})([- .])(\d{2})\2(\d{4})(?![\w-]|[.,]\d)", re.ASCII)
# Nine bare digits are an SSN only right after the words that name one (as Presidio's
# UsSsnRecognizer scores them with context words: presidio-analyzer
# predefined_recognizers/country_specific/us/us_ssn_recognizer.py).
SSN_BARE = re.compile(r"(?<![\w.+-])(\d{3})(\d{2})(\d{4})(?![\w-]|[.,]\d)", re.ASCII)
SSN_CONTEXT = re.compile(r"\b(?:social|ssn|s\s?s\s?n|security)\b\W*(?:\w+\W+){0,3}$", re.IGNORECASE)


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules: area 001-899 except 666, group 01-99, serial 0001-9999."""
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


def _ssn(match: re.Match[str]) -> str:
    return "[SSN]" if _ssn_ok(match.group(1), match.group(3), match.group(4)) else match.group(0)


def _ssn_bare(text: str) -> str:
    def sub(match: re.Match[str]) -> str:
        if _ssn_ok(*match.groups()) and SSN_CONTEXT.search(text, max(0, match.start() - 40), match.start()):
            return "[SSN]"
        return match.group(0)

    return SSN_BARE.sub(sub, text)


# --- phone numbers ----------------------------------------------------------------------------

_L = r"(?<![\w+.-])"          # not inside a word, a decimal, a version or a dashed id
_R = r"(?![\w-]|[.,:]\d)"     # likewise after
PHONE = re.compile(
    r"(?=[\d+(])(?:"  # every alternative starts with a digit, "+" or "(": other positions fail at once
    # International: +CC or 00CC then groups (an optional "(0)" trunk), 8-15 digits in all
    # (checked in _phone). 00 only with spaces, so that dashed ids like 0012-3456-7890 survive.
    # Possessive groups: a long digit string is split one way only, never re-split on failure.
    rf"(?<![\w+])\+\d{{1,3}}+(?:[ .-]?+(?:\(\d{{1,4}}\)|\d{{1,5}}+)){{1,6}}+{_R}"
    rf"|{_L}00\d{{1,3}}(?: \d{{1,5}}){{2,5}}{_R}"
    # North American: (415) 555-0199, 415-555-0199, 415.555.0199, 415 555 0199, 1-800-555-0100
    # (area code and exchange start 2-9; one separator style throughout).
    rf"|{_L}(?:1[ .-]?)?(?:\([2-9]\d\d\)\s?[2-9]\d\d[ .-]\d{{4}}|[2-9]\d\d([ .-])[2-9]\d\d\1\d{{4}}){_R}"
    # Ungrouped North American numbers as ASR often writes them (4155550199), by the NANP shape...
    rf"|{_L}1?[2-9]\d\d[2-9]\d{{6}}{_R}"
    # ...and seven-digit local numbers written with a dash or a space (555-0199, 555 0199; with a
    # dot it is a decimal): only after a phone cue, since "pages 250-1000" has the same shape.
    rf"|(?P<local>{_L}(?<!\d )[2-9]\d{{2}}[- ]\d{{4}}(?![\w-]|\.\d| \d))"
    # National numbers with a trunk 0 written with spaces: 07700 900123, 020 7946 0958, 030 12345678...
    rf"|{_L}(?:0\d{{2,4}} |\(0\d{{2,4}}\) ?)\d{{3,4}} ?\d{{3,4}}{_R}"
    # ...French style 06 12 34 56 78, and Indian mobiles 98765 43210.
    rf"|{_L}0[1-9](?:[ .]\d\d){{4}}{_R}"
    rf"|(?P<india>{_L}[6-9]\d{{4}}(?: |(?P<dashed>-))\d{{5}}{_R})"
    r")",
    re.ASCII,
)


# A word that announces a phone number, a few words before it ("call me at 555-0199", "my cell
# is 98765-43210"), and one that announces an id instead ("order number 81234-56789").
_PHONE_CUE = re.compile(
    r"\b(?:call|calling|called|phone|phoned|cell|cellphone|mobile|tel|telephone|dial|dialed|text|texting|fax"
    r"|reach|ring|whatsapp|landline|hotline|number|extension|ext)\b", re.IGNORECASE | re.ASCII)
_ID_CUE = re.compile(
    r"\b(?:order|ticket|case|invoice|tracking|reference|ref|confirmation|booking|claim|po|part|serial|model"
    r"|item|sku|flight|room|page|pages|policy|account|member|isbn|product)\b\W*(?:number|no|num|id|#)?\W*(?:(?:is|was)\W*)?$"
    r"|\b(?:between|about|around|roughly|approximately)\W*$",
    re.IGNORECASE | re.ASCII)
_ID_CUE_LAST = frozenset({
    "order", "ticket", "case", "invoice", "tracking", "reference", "ref", "confirmation", "booking",
    "claim", "po", "part", "serial", "model", "item", "sku", "flight", "room", "page", "pages",
    "policy", "account", "member", "isbn", "product", "number", "no", "num", "id", "is", "was",
    "between", "about", "around", "roughly", "approximately",
})


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    if found.startswith(("+", "00")):
        digits = sum(ch.isdigit() for ch in found.replace("(0)", ""))
        if not 8 <= digits <= 15:
            return found
    elif match.group("local") or match.group("india"):
        # 555-0199 is also a range ("between 500-1500 dollars", "pages 250-1000") and 81234-56789
        # an order id: these shapes are a phone number only after a phone cue (the Indian mobile
        # in groups of five, 98765 43210, also without one), and never right after an id's name.
        start = match.start()
        before = match.string[max(0, start - 40):start]
        if (_last_word(before, len(before)) in _ID_CUE_LAST and _ID_CUE.search(before)) or (
                (match.group("local") or match.group("dashed")) and not _PHONE_CUE.search(before)):
            return found
    return "[PHONE]"


# --- street addresses -------------------------------------------------------------------------

# Suffixes that name a street and little else...
_CLEAR_SUFFIXES = ("street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|terrace|crescent|parkway|pkwy"
                   "|highway|hwy")
# ...and ordinary words that also end street names ("my 2 kids drive", "500 units way", "2 teams
# square off", "4 new tires close"): with these an address needs a cue before the number ("live
# at", "address is", "ship to") and a street name that is not a plural noun.
_AMBIGUOUS_SUFFIXES = "way|drive|dr|court|ct|place|pl|close|square|circle|loop|trail|grove"
_SUFFIXES = f"{_CLEAR_SUFFIXES}|{_AMBIGUOUS_SUFFIXES}"
# Words that put a number and a street word in one phrase without being an address
# ("5 miles down the road", "the 7 train to main street", "300 people on the avenue", "2 pm way").
_NOT_STREET = ("the|a|an|to|of|on|in|at|by|for|from|and|or|with|down|up|off|into|onto|along|across|near"
               "|miles|mile|km|kilometres|kilometers|minutes|minute|hours|hour|blocks|block|people|times|more"
               "|train|bus|cars|houses|streets|roads|lanes|top|is|was|are|were|it|its|my|your|our"
               "|am|pm|a\\.m|p\\.m|oclock|o'clock|noon|midnight|days|weeks|months|years|dollars|bucks|percent")
ADDRESS = re.compile(
    rf"(?<![\w.,-])\d{{1,5}}[a-z]?(?:\s+(?!(?:{_NOT_STREET}|{_SUFFIXES})\b)[a-z][a-z'-]*){{0,2}}"
    rf"\s+(?!(?:{_NOT_STREET}|{_SUFFIXES})\b)(?P<last>[a-z][a-z'-]*)\s+(?P<suffix>{_SUFFIXES})\b\.?",
    re.IGNORECASE | re.ASCII,
)
_AMBIGUOUS = frozenset(_AMBIGUOUS_SUFFIXES.split("|"))
_ADDRESS_CUE = re.compile(
    r"\b(?:(?:live[sd]?|living|located|situated|based|reside[sd]?|residing|stay(?:ing)?|meet(?:\s+(?:me|us))?"
    r"|(?:is|are|am|i'm|we're|it's|he's|she's|they're))\s+at"
    r"|address(?:\s+is)?|(?:ship|shipped|shipping|deliver|delivered|delivering|send|sent|mail|mailed|forward"
    r"|forwarded|move|moved|moving|went|go|going|drive|drove|come|came|return|returned|bring|brought)"
    r"(?:\s+[\w']+){0,3}?\s+to)\s*:?\s*$",
    re.IGNORECASE | re.ASCII,
)
_PLURAL = re.compile(r"[a-z]*[^s'u]s$", re.IGNORECASE | re.ASCII)


def _address(match: re.Match[str]) -> str:
    if match.group("suffix").lower() in _AMBIGUOUS and (
            _PLURAL.match(match.group("last"))
            or _last_word(match.string, match.start()) not in ("at", "to", "address", "is")
            or not _ADDRESS_CUE.search(match.string, max(0, match.start() - 48), match.start())):
        return match.group(0)
    return "[ADDRESS]"


# --- spoken digit runs ------------------------------------------------------------------------

_UNITS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
          "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
          "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
         "eighty": "8", "ninety": "9"}
_REPEAT = {"double": 2, "triple": 3}
_NUMBER_WORDS = sorted([*_UNITS, *_TEENS, *_TENS, *_REPEAT, "hundred", "plus"], key=len, reverse=True)
# A run of number words and short digit groups, separated by spaces, commas, dashes or dots.
SPOKEN_RUN = re.compile(
    rf"\b(?:{'|'.join(_NUMBER_WORDS)}|\d{{1,4}})\b(?:[\s,.-]+\b(?:{'|'.join(_NUMBER_WORDS)}|\d{{1,4}})\b)+",
    re.IGNORECASE | re.ASCII,
)
_TOKEN = re.compile(r"[a-z]+|\d+", re.IGNORECASE | re.ASCII)


def _spoken_runs(text: str) -> str:
    """Replace runs that spell seven or more digits ("four one five five five five oh one nine
    nine", "oh seven seven double oh nine...", "five five five twelve thirty four")."""
    out, last = [], 0
    for match in SPOKEN_RUN.finditer(text):
        tokens = [(t.start() + match.start(), t.end() + match.start(), t.group(0).lower())
                  for t in _TOKEN.finditer(match.group(0))]
        for start, end, digits, spelled, singles in _digit_runs(tokens):
            if len(digits) >= 7 and (spelled or singles >= 7):
                if 13 <= len(digits) <= 19 and _luhn_ok(digits):
                    placeholder = "[CARD]"
                elif len(digits) == 9 and SSN_CONTEXT.search(text, max(0, start - 40), start):
                    placeholder = "[SSN]"
                else:
                    placeholder = "[PHONE]"
                out.append(text[last:start])
                out.append(placeholder)
                last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _digit_runs(tokens: list[tuple[int, int, str]]):
    """Split tokens into maximal runs that read as digits; yield (start, end, digits,
    has a spelled word, count of single-digit numerals)."""
    run: list = []

    def flush():
        if run:
            yield run[0][0], run[-1][1], "".join(r[2] for r in run), any(r[3] for r in run), sum(r[4] for r in run)
        run.clear()

    i = 0
    while i < len(tokens):
        start, end, word = tokens[i]
        nxt = tokens[i + 1][2] if i + 1 < len(tokens) else ""
        if word.isdigit():
            run.append((start, end, word, False, len(word) == 1))
        elif word == "plus" and not run and nxt in _UNITS:
            run.append((start, end, "", True, False))
        elif word in _REPEAT and nxt in _UNITS and nxt not in ("o",):
            run.append((start, tokens[i + 1][1], _UNITS[nxt] * _REPEAT[word], True, False))
            i += 1
        elif word == "hundred" and run and run[-1][3] and len(run[-1][2]) == 1:
            run.append((start, end, "00", True, False))
        elif word in _UNITS and (word != "o" or run or nxt in _UNITS):
            run.append((start, end, _UNITS[word], True, False))
        elif word in _TEENS:
            run.append((start, end, _TEENS[word], True, False))
        elif word in _TENS:
            if nxt in _UNITS and nxt not in ("zero", "oh", "o"):
                run.append((start, tokens[i + 1][1], _TENS[word] + _UNITS[nxt], True, False))
                i += 1
            else:
                run.append((start, end, _TENS[word] + "0", True, False))
        else:
            yield from flush()
        i += 1
    yield from flush()


# --- the hot path -----------------------------------------------------------------------------

# Most transcripts hold no digit, no "@" and few number words: cheap checks decide whether
# the full patterns need to run at all (this is on the ingest hot path).
HAS_DIGIT_OR_AT = re.compile(r"[@\d]")
_WORD_DIGITS = {**{w: 1 for w in _UNITS}, **{w: 2 for w in (*_TEENS, *_TENS, *_REPEAT, "hundred")}}
DIGIT_WORDS = frozenset(_WORD_DIGITS)


def _maybe_pii(text: str) -> bool:
    if HAS_DIGIT_OR_AT.search(text):
        return True
    lowered = text.lower()
    if " at " in lowered and (" dot " in lowered or "." in lowered):
        return True
    words = lowered.replace(",", " ").replace("-", " ").replace(".", " ").split()
    # A set test in C first: most transcripts hold no number word at all (a regex is slower here);
    # with no digit either, nothing below can match.
    return not DIGIT_WORDS.isdisjoint(words) and sum(_WORD_DIGITS.get(word, 0) for word in words) >= 7


def _maybe_spoken_digits(lowered: str) -> bool:
    words = lowered.replace(",", " ").replace("-", " ").replace(".", " ").split()
    # A set test in C first: most transcripts hold no number word at all (a regex is slower here).
    if DIGIT_WORDS.isdisjoint(words):
        # Only single-digit numerals can still make a run without a word ("3 4 5 6 7 8 9 0 1").
        return HAS_DIGIT_OR_AT.search(lowered) is not None and sum(
            1 for word in words if len(word) == 1 and word.isdigit()) >= 7
    return sum(_WORD_DIGITS.get(word, 0) or (len(word) if word.isdigit() else 0) for word in words) >= 7


def redact(text: str | None) -> str | None:
    if not text or not _maybe_pii(text):
        return text
    if "@" in text:
        text = EMAIL.sub("[EMAIL]", text)
    lowered = text.lower()
    if ("@" in text or " at " in lowered) and SPOKEN_EMAIL_HINT.search(text):
        text = SPOKEN_EMAIL.sub(_spoken_email, text)
    if any(ch.isdigit() for ch in text):
        text = _iban(text)
        text = CARD_CANDIDATE.sub(_card, text)
        text = SSN.sub(_ssn, text)
        text = _ssn_bare(text)
        text = PHONE.sub(_phone, text)
        text = ADDRESS.sub(_address, text)
    if _maybe_spoken_digits(text.lower()):
        text = _spoken_runs(text)
    return text
