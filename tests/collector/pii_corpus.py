"""A labelled PII corpus for transcript redaction, phrased as ASR output and agents' notes.

POSITIVES: (category, text, spans) where every span is an exact substring of text that must be
replaced entirely (no character of it may survive). NEAR_MISSES: (category, text) that must come
back unchanged. Card numbers pass Luhn and IBANs pass mod-97 (tests/collector/test_redaction.py
checks both); the near-miss ISBNs, 13-digit order ids and 3-2-4 part numbers do not pass the
validators on purpose. All names, numbers and addresses are made up or well-known examples
(555-01xx, 07700 900xxx and 020 7946 0xxx are the ranges reserved for fiction).

`score(redactor)` measures recall (spans fully masked / spans) and the share of near-misses altered
for any function text -> redacted text whose placeholders look like `[UPPER_CASE]`; the bench
(bench/redaction.py) uses it for asrwatch and for Presidio alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable

POSITIVES: list[tuple[str, str, tuple[str, ...]]] = [
    # --- emails as written ------------------------------------------------------------------
    ("email", "sure send it to jane.doe+billing@acme-corp.co.uk thanks", ("jane.doe+billing@acme-corp.co.uk",)),
    ("email", "my email is bob@example.com", ("bob@example.com",)),
    ("email", "you can reach me at JOHN_SMITH@Mail.Example.com ok", ("JOHN_SMITH@Mail.Example.com",)),
    ("email", "cc priya.k@company.in on that please", ("priya.k@company.in",)),
    ("email", "the login is m.garcia92@outlook.com and it keeps failing", ("m.garcia92@outlook.com",)),
    ("email", "forward the invoice to accounts-payable@widgets.io", ("accounts-payable@widgets.io",)),
    ("email", "it's li_wei@university.edu.cn with an underscore", ("li_wei@university.edu.cn",)),
    ("email", "send a copy to a@b.co and to carol@example.org", ("a@b.co", "carol@example.org")),
    ("email", "customer wrote from hans.mueller@web.de yesterday", ("hans.mueller@web.de",)),
    ("email", "new address: sam.o'neil@example.com", ("sam.o'neil@example.com",)),
    ("email", "please update it to tom@sub.mail.example.net", ("tom@sub.mail.example.net",)),
    ("email", "uh it is k9user@gmail.com yeah", ("k9user@gmail.com",)),
    # --- emails as spoken -------------------------------------------------------------------
    ("email_spoken", "it's bob at example dot com", ("bob at example dot com",)),
    ("email_spoken", "my email is jane dot doe at gmail dot com", ("jane dot doe at gmail dot com",)),
    ("email_spoken", "send it to mike underscore lee at yahoo dot co dot uk please", ("mike underscore lee at yahoo dot co dot uk",)),
    ("email_spoken", "you can write to support at acme dot io", ("support at acme dot io",)),
    ("email_spoken", "the address is priya at the rate gmail dot com", ("priya at the rate gmail dot com",)),
    ("email_spoken", "it is sarah dash jones at outlook dot com", ("sarah dash jones at outlook dot com",)),
    ("email_spoken", "email carlos at company dot net and copy me", ("carlos at company dot net",)),
    ("email_spoken", "reach me at anna dot b at protonmail dot com", ("anna dot b at protonmail dot com",)),
    ("email_spoken", "his email is david at example.com i think", ("david at example.com",)),
    ("email_spoken", "it's ravi@example dot in", ("ravi@example dot in",)),
    ("email_spoken", "just mail tom hyphen smith at mail dot example dot org", ("tom hyphen smith at mail dot example dot org",)),
    ("email_spoken", "my work one is jlopez at contoso dot com", ("jlopez at contoso dot com",)),
    ("email_spoken", "it's kevin92 at hotmail dot com", ("kevin92 at hotmail dot com",)),
    ("email_spoken", "mail li period wang at school dot edu", ("li period wang at school dot edu",)),
    ("email_spoken", "yes it's emma at icloud dot com thank you", ("emma at icloud dot com",)),
    # --- phone numbers, international formats -----------------------------------------------
    ("phone_intl", "call me on +91 98765 43210 after six", ("+91 98765 43210",)),
    ("phone_intl", "my number is +91-98765-43210", ("+91-98765-43210",)),
    ("phone_intl", "whatsapp +919876543210", ("+919876543210",)),
    ("phone_intl", "you can reach me on +44 20 7946 0958 after five", ("+44 20 7946 0958",)),
    ("phone_intl", "the office is +44 (0)20 7946 0018", ("+44 (0)20 7946 0018",)),
    ("phone_intl", "it's +44 7700 900123", ("+44 7700 900123",)),
    ("phone_intl", "call berlin on +49 30 12345678", ("+49 30 12345678",)),
    ("phone_intl", "the hotline is +49 (0) 89 1234 5678", ("+49 (0) 89 1234 5678",)),
    ("phone_intl", "paris office +33 1 42 68 53 00", ("+33 1 42 68 53 00",)),
    ("phone_intl", "my mobile is +33 6 12 34 56 78", ("+33 6 12 34 56 78",)),
    ("phone_intl", "call +1 415 555 0199 please", ("+1 415 555 0199",)),
    ("phone_intl", "number is +1-415-555-0123", ("+1-415-555-0123",)),
    ("phone_intl", "sydney +61 2 9876 5432", ("+61 2 9876 5432",)),
    ("phone_intl", "tokyo desk +81 3 1234 5678", ("+81 3 1234 5678",)),
    ("phone_intl", "dial 0044 20 7946 0321 from abroad", ("0044 20 7946 0321",)),
    ("phone_intl", "my brazil number is +55 11 91234 5678", ("+55 11 91234 5678",)),
    ("phone_intl", "singapore +65 6123 4567", ("+65 6123 4567",)),
    ("phone_intl", "it's +34 612 345 678", ("+34 612 345 678",)),
    ("phone_intl", "call +353 1 234 5678 in dublin", ("+353 1 234 5678",)),
    ("phone_intl", "the number +27 21 123 4567 is the cape town office", ("+27 21 123 4567",)),
    # --- phone numbers, national formats and spaced groups ----------------------------------
    ("phone", "call (415) 555-2671 tomorrow", ("(415) 555-2671",)),
    ("phone", "it's 415-555-0199", ("415-555-0199",)),
    ("phone", "my number is 415.555.0142", ("415.555.0142",)),
    ("phone", "call me at 415 555 0178", ("415 555 0178",)),
    ("phone", "yeah dial 4155550199 and ask for sam", ("4155550199",)),
    ("phone", "call me at 555-0199.", ("555-0199",)),
    ("phone", "my cell is 07700 900123", ("07700 900123",)),
    ("phone", "london number 020 7946 0958", ("020 7946 0958",)),
    ("phone", "call 1-800-555-0100 for support", ("1-800-555-0100",)),
    ("phone", "my mobile is 98765 43210", ("98765 43210",)),
    ("phone", "the landline is 030 12345678", ("030 12345678",)),
    ("phone", "call 06 12 34 56 78 in the evening", ("06 12 34 56 78",)),
    ("phone", "my number is 212 555 0147 ok", ("212 555 0147",)),
    ("phone", "it's 07700 900 456", ("07700 900 456",)),
    ("phone", "reach the clinic on (646) 555 0133", ("(646) 555 0133",)),
    # --- phone and other digit runs as spoken -----------------------------------------------
    ("spoken_digits", "the number is five five five two six seven one", ("five five five two six seven one",)),
    ("spoken_digits", "it's four one five, five five five, zero one nine nine", ("four one five, five five five, zero one nine nine",)),
    ("spoken_digits", "call me on four one five five five five oh one nine nine", ("four one five five five five oh one nine nine",)),
    ("spoken_digits", "my number is oh seven seven double oh nine double oh one two three", ("oh seven seven double oh nine double oh one two three",)),
    ("spoken_digits", "it's nine eight seven six five, four three two one oh", ("nine eight seven six five, four three two one oh",)),
    ("spoken_digits", "my number is five five five double two triple three", ("five five five double two triple three",)),
    ("spoken_digits", "call two one two five five five oh one four seven", ("two one two five five five oh one four seven",)),
    ("spoken_digits", "it's plus four four seven seven double oh nine double oh four five six", ("plus four four seven seven double oh nine double oh four five six",)),
    ("spoken_digits", "plus nine one nine eight seven six five four three two one oh", ("plus nine one nine eight seven six five four three two one oh",)),
    ("spoken_digits", "the number is five five five twelve thirty four", ("five five five twelve thirty four",)),
    ("spoken_digits", "text me at four one five, five five five, twenty one forty seven", ("four one five, five five five, twenty one forty seven",)),
    ("spoken_digits", "my account number is three four double seven eight nine two one", ("three four double seven eight nine two one",)),
    ("spoken_digits", "uh it's eight six seven five three oh nine", ("eight six seven five three oh nine",)),
    ("spoken_digits", "Four One Five Five Five Five Zero One Two Three", ("Four One Five Five Five Five Zero One Two Three",)),
    ("spoken_digits", "my number is 415 five five five oh one nine nine", ("415 five five five oh one nine nine",)),
    ("spoken_digits", "call six four six - five five five - oh one three three", ("six four six - five five five - oh one three three",)),
    ("spoken_digits", "the code on the back is one two three and the card is four one one one one one one one one one one one one one one one", ("four one one one one one one one one one one one one one one one",)),
    ("spoken_digits", "reference two oh two one triple five oh one", ("two oh two one triple five oh one",)),
    ("spoken_digits", "my policy number is seven seven seven, eight eight eight, nine nine nine", ("seven seven seven, eight eight eight, nine nine nine",)),
    ("spoken_digits", "o two o seven nine four six o nine five eight is the office", ("o two o seven nine four six o nine five eight",)),
    ("spoken_digits", "my social is one two three four five six seven eight nine", ("one two three four five six seven eight nine",)),
    ("spoken_digits", "call double five double five oh one nine nine", ("double five double five oh one nine nine",)),
    ("spoken_digits", "it's eight hundred five five five oh one hundred", ("eight hundred five five five oh one hundred",)),
    ("spoken_digits", "the member id is nine nine eight seven seven six five five four", ("nine nine eight seven seven six five five four",)),
    ("spoken_digits", "my number's four one five five five five zero one nine nine thanks", ("four one five five five five zero one nine nine",)),
    # --- card numbers (valid by Luhn) -------------------------------------------------------
    ("card", "my card is 4111 1111 1111 1111 expiring soon", ("4111 1111 1111 1111",)),
    ("card", "card number 5500-0000-0000-0004", ("5500-0000-0000-0004",)),
    ("card", "amex 3782 822463 10005 thanks", ("3782 822463 10005",)),
    ("card", "it's 4081 8365 8492 9419", ("4081 8365 8492 9419",)),
    ("card", "the visa is 4465415409931318", ("4465415409931318",)),
    ("card", "use 4876-1160-1966-7499 for that", ("4876-1160-1966-7499",)),
    ("card", "mastercard 5182 6389 1363 2275 exp 12/27", ("5182 6389 1363 2275",)),
    ("card", "card ending uh the full number is 5518 7077 9187 8758", ("5518 7077 9187 8758",)),
    ("card", "2221 6820 3107 6718 is my new card", ("2221 6820 3107 6718",)),
    ("card", "amex 3742 747642 77447", ("3742 747642 77447",)),
    ("card", "my discover card 6011 2641 1226 4714", ("6011 2641 1226 4714",)),
    ("card", "it is 6539-7162-0694-0981", ("6539-7162-0694-0981",)),
    ("card", "jcb 3595 4348 5004 3130", ("3595 4348 5004 3130",)),
    ("card", "the old visa 4487 8258 4848 9", ("4487 8258 4848 9",)),
    ("card", "card 4051 5657 9504 4413 cvv is on the back", ("4051 5657 9504 4413",)),
    ("card", "diners 3655 527518 7699", ("3655 527518 7699",)),
    ("card", "card 5236 0227 8198 1096 and the cvv is on the back", ("5236 0227 8198 1096",)),
    # --- US social security numbers ---------------------------------------------------------
    ("ssn", "my social is 123-45-6789", ("123-45-6789",)),
    ("ssn", "ssn 078-05-1120", ("078-05-1120",)),
    ("ssn", "social security number 219 09 9999", ("219 09 9999",)),
    ("ssn", "my social security number is 536225041", ("536225041",)),
    ("ssn", "my ssn is 457 55 5462", ("457 55 5462",)),
    ("ssn", "the social is 523.45.6789", ("523.45.6789",)),
    ("ssn", "social 001-01-0001 on file", ("001-01-0001",)),
    ("ssn", "uh my social is 772 32 1904", ("772 32 1904",)),
    ("ssn", "s s n is 312-58-4412", ("312-58-4412",)),
    ("ssn", "his social security is 401 23 8765 and dob is may fifth", ("401 23 8765",)),
    ("ssn", "my social is 628491023", ("628491023",)),
    ("ssn", "ssn: 665-12-4501", ("665-12-4501",)),
    ("ssn", "the applicant's ssn 899-99-9998 was verified", ("899-99-9998",)),
    ("ssn", "last time i gave 234-56-7890", ("234-56-7890",)),
    ("ssn", "my social security number is 3 4 5 6 7 8 9 0 1", ("3 4 5 6 7 8 9 0 1",)),
    # --- IBANs (valid by mod-97) ------------------------------------------------------------
    ("iban", "my iban is GB82 WEST 1234 5698 7654 32", ("GB82 WEST 1234 5698 7654 32",)),
    ("iban", "iban gb82west12345698765432 please", ("gb82west12345698765432",)),
    ("iban", "transfer to DE89 3704 0044 0532 0130 00", ("DE89 3704 0044 0532 0130 00",)),
    ("iban", "it's de02387409713917268475", ("de02387409713917268475",)),
    ("iban", "the account is FR43 2971 4679 19AP FRP5 K7ZQ 360", ("FR43 2971 4679 19AP FRP5 K7ZQ 360",)),
    ("iban", "iban ES91 1016 7455 4219 0052 1575", ("ES91 1016 7455 4219 0052 1575",)),
    ("iban", "my dutch iban is nl67 hvtf 2262 8134 12", ("nl67 hvtf 2262 8134 12",)),
    ("iban", "IT10K8293004467L8EZ6B2Q7R2Y is the italian account", ("IT10K8293004467L8EZ6B2Q7R2Y",)),
    ("iban", "swiss iban CH26 9702 8B4K V52J RISV T", ("CH26 9702 8B4K V52J RISV T",)),
    ("iban", "belgian one BE42 4158 5758 6677", ("BE42 4158 5758 6677",)),
    ("iban", "pay IE49 MPKF 5598 0674 8171 57 by friday", ("IE49 MPKF 5598 0674 8171 57",)),
    ("iban", "polish account PL57 7027 9354 9405 6258 2281 7045", ("PL57 7027 9354 9405 6258 2281 7045",)),
    ("iban", "iban AT34-0835-1571-3779-2146", ("AT34-0835-1571-3779-2146",)),
    ("iban", "se19 7453 2777 0819 2668 0818 thanks", ("se19 7453 2777 0819 2668 0818",)),
    # --- street addresses -------------------------------------------------------------------
    ("address", "i live at 221 baker street", ("221 baker street",)),
    ("address", "ship it to 1600 pennsylvania avenue", ("1600 pennsylvania avenue",)),
    ("address", "my address is 42 wallaby way sydney", ("42 wallaby way",)),
    ("address", "it's 123 main st apartment 4", ("123 main st",)),
    ("address", "deliver to 742 evergreen terrace", ("742 evergreen terrace",)),
    ("address", "we moved to 350 fifth avenue last year", ("350 fifth avenue",)),
    ("address", "the office is at 1 hacker way", ("1 hacker way",)),
    ("address", "send it to 77 massachusetts ave", ("77 massachusetts ave",)),
    ("address", "my address is 15 elm road", ("15 elm road",)),
    ("address", "it's 221b baker street in london", ("221b baker street",)),
    ("address", "the package went to 4059 mount lee drive", ("4059 mount lee drive",)),
    ("address", "i'm at 2 oak lane near the park", ("2 oak lane",)),
    ("address", "my billing address is 500 oracle parkway", ("500 oracle parkway",)),
    ("address", "it's 10 Downing Street", ("10 Downing Street",)),
    ("address", "home is 88 north maple blvd", ("88 north maple blvd",)),
    ("address", "we're at 1234 sunset boulevard apartment 5", ("1234 sunset boulevard",)),
    ("address", "the clinic is at 31 spooner street", ("31 spooner street",)),
    # --- added after the patterns were written, phrased without looking at them -------------
    ("phone", "call 555 0199 after lunch", ("555 0199",)),
    ("phone_intl", "it's +1 (212) 555-0147", ("+1 (212) 555-0147",)),
    ("phone_intl", "+44 7700 900 123 is my mobile", ("+44 7700 900 123",)),
    ("phone_intl", "mobile +86 138 0013 8000", ("+86 138 0013 8000",)),
    ("phone", "the office is (020) 7946 0958", ("(020) 7946 0958",)),
    ("email", "mail me at first.last@sub-domain.example.travel", ("first.last@sub-domain.example.travel",)),
    ("email_spoken", "yeah it's john at gmail dot com", ("john at gmail dot com",)),
    ("email_spoken", "it's info at mycompany dot co dot uk", ("info at mycompany dot co dot uk",)),
    ("spoken_digits", "my pin is one two three four five six seven", ("one two three four five six seven",)),
    ("spoken_digits", "four zero four, five five five, zero one one two", ("four zero four, five five five, zero one one two",)),
    ("card", "card number 4111-1111-1111-1111", ("4111-1111-1111-1111",)),
    ("card", "4111111111111111 is the number", ("4111111111111111",)),
    ("ssn", "ssn 123 45 6789", ("123 45 6789",)),
    ("iban", "GB27 NBWV 2953 8804 3234 19 is my account", ("GB27 NBWV 2953 8804 3234 19",)),
    ("address", "send it to 9 queens road", ("9 queens road",)),
    ("address", "i'm at 16 rue de rivoli", ("16 rue de rivoli",)),
    # --- review round: the cues that the stricter patterns below now require ---------------
    ("email_spoken", "send the receipt to bob at example dot com", ("bob at example dot com",)),
    ("email_spoken", "you can reach me at maria at fastmail dot com", ("maria at fastmail dot com",)),
    ("phone", "my cell is 98765-43210", ("98765-43210",)),
    ("phone", "text me on 555-0142 tonight", ("555-0142",)),
    ("address", "i live at 5 oak court", ("5 oak court",)),
    ("address", "please deliver it to 12 maple drive", ("12 maple drive",)),
    ("address", "my address is 9 cedar close", ("9 cedar close",)),
    ("address", "send it to 14 harbor view place", ("14 harbor view place",)),
    ("phone", "i'm calling from 555-0147", ("555-0147",)),
]

NEAR_MISSES: list[tuple[str, str]] = [
    # prices
    ("price", "that'll be $12.99 plus tax"),
    ("price", "the plan costs 1,299.00 dollars a year"),
    ("price", "it was twelve ninety nine on sale"),
    ("price", "we paid 45000 for the car"),
    ("price", "the total is 123.4567 dollars"),
    ("price", "refund of $1,234,567.89 was approved"),
    ("price", "two hundred and forty nine dollars"),
    ("price", "it's 3 for 10 bucks"),
    ("price", "the quote was 12,500 euros per month"),
    ("price", "price went from 19.99 to 24.99"),
    ("price", "a budget of 2.5 million"),
    ("price", "it costs nineteen dollars and ninety nine cents"),
    # dates
    ("date", "version 2.14.1 rolled out on 2026-11-21"),
    ("date", "the 2019-2020 season"),
    ("date", "my appointment is on 11/21/2026"),
    ("date", "born 21.11.1990"),
    ("date", "the invoice date is 2026 11 21"),
    ("date", "november twenty first twenty twenty six"),
    ("date", "from 2020-01-01 to 2020-12-31"),
    ("date", "on the 3rd of may 2025"),
    ("date", "deadline 20261121"),
    ("date", "sometime in 1999 or 2000"),
    ("date", "between 1 1 2024 and 31 12 2024"),
    ("date", "it expires 12/27"),
    # times
    ("time", "the meeting is at 10 30 in room 4"),
    ("time", "meet at 10 30 in room 4 with 12 people"),
    ("time", "set a timer for 25 minutes"),
    ("time", "the call started at 14:45:00 utc"),
    ("time", "wake me at 6:30 am"),
    ("time", "at ten thirty tomorrow"),
    ("time", "it took 1:02:33.45 to finish"),
    ("time", "between 9 and 5 on weekdays"),
    ("time", "the latency was 420 ms at p99"),
    ("time", "twelve oh five in the afternoon"),
    # order and ticket ids
    ("id", "order 1234567890123 shipped"),
    ("id", "order 1234567890 shipped"),
    ("id", "ticket 123-4567-89 is closed"),
    ("id", "ticket INC0012345 was reopened"),
    ("id", "see jira ASR-4821 for details"),
    ("id", "my order number is 48213"),
    ("id", "tracking 1Z999AA10123456784"),
    ("id", "the case id is 2026-000123"),
    ("id", "order #112-7654321-0012345"),
    ("id", "confirmation code 7X4K9P"),
    ("id", "po number 4500012345"),
    ("id", "booking ref 98-7654-3210-5"),
    ("id", "part number 000-12-3456"),
    ("id", "serial 900-55-1234 on the label"),
    ("id", "ticket 987654321 has been assigned"),
    ("id", "the build 20261121.3 failed"),
    ("id", "commit 3f9a2c1 broke it"),
    ("id", "invoice 2026-11-0042"),
    ("id", "flight ua 1234 to denver"),
    ("id", "room 4012 on the fourth floor"),
    ("id", "order 9780306406157 arrived"),
    ("id", "claim 0012-3456-7890"),
    ("id", "request id 5f3e2a1b-9c8d-4e7f-a6b5-c4d3e2f1a0b9"),
    ("id", "order 4111 1111 1111 1112 is not a card"),
    # versions
    ("version", "upgrade to 3.11.7 first"),
    ("version", "we run v10.2.3 in prod"),
    ("version", "cuda 12.4 and driver 550.54.15"),
    ("version", "the model whisper-large-v3 build 20240101"),
    ("version", "python 3.11 and numpy 1.26.4"),
    ("version", "release 2026.11.21 is out"),
    ("version", "kernel 6.8.0-1015-aws"),
    ("version", "chrome 131.0.6778.85 crashed"),
    # IP addresses and ports
    ("ip", "the server is 192.168.1.100"),
    ("ip", "ping 10.0.0.12 please"),
    ("ip", "gateway 172.16.254.1 port 8080"),
    ("ip", "connect to 203.0.113.195:443"),
    ("ip", "the dns is 8.8.8.8"),
    ("ip", "subnet 10.200.300.4000 is wrong"),
    ("ip", "ipv6 2001:db8::8a2e:370:7334"),
    ("ip", "host 100.64.12.234 timed out"),
    # decimals and measurements
    ("decimal", "pi is 3.14159265358979"),
    ("decimal", "the ratio was 0.000123"),
    ("decimal", "wer went from 12.34 to 11.98 percent"),
    ("decimal", "the value 1234567.891 overflowed"),
    ("decimal", "latitude 37.7749 longitude -122.4194"),
    ("decimal", "the gain is 6.02214076 times"),
    ("decimal", "about 2.718281828459045"),
    ("decimal", "temperature 98.6 degrees"),
    ("decimal", "it's 1.5 kilometres away"),
    ("decimal", "snr of 23.5 db"),
    # ISBNs
    ("isbn", "isbn 978-3-16-148410-0"),
    ("isbn", "the book is 978-0-306-40615-7"),
    ("isbn", "isbn 0-306-40615-2"),
    ("isbn", "isbn 9780306406157"),
    ("isbn", "isbn-13: 978 0 306 40615 7"),
    ("isbn", "isbn 0306406152"),
    # counts and other ordinary speech
    ("speech", "i have two kids and one dog"),
    ("speech", "one two three testing testing"),
    ("speech", "five four three two one lift off"),
    ("speech", "oh no oh no not again"),
    ("speech", "the score was three to one"),
    ("speech", "look at this dot com bubble"),
    ("speech", "we met at the office at noon"),
    ("speech", "i'm at home dot dot dot"),
    ("speech", "it's a 2 way street"),
    ("speech", "we walked 5 miles down the road"),
    ("speech", "take the 7 train to main street"),
    ("speech", "double check the triple a battery"),
    ("speech", "chapter 12 verse 7"),
    ("speech", "the top 10 streets in the city"),
    ("speech", "there were 300 people on the avenue"),
    ("speech", "turn left after 2 blocks on park avenue"),
    ("speech", "call me at five"),
    ("speech", "my zip is nine four one oh five"),
    ("speech", "press one for sales two for support"),
    ("speech", "email me at the usual address"),
    ("speech", "the 405 freeway was jammed"),
    ("speech", "meet at 12 noon"),
    ("speech", "user@ is not a full address"),
    ("speech", "send it at six dot thirty"),
    ("speech", "we need 1 2 3 4 5 6 volunteers"),
    ("speech", "scores were 98 87 76 65 54"),
    # added after the patterns were written
    ("id", "the meeting id is 845 2231 9087"),
    ("id", "call extension 4521"),
    ("date", "the year 2025 had 365 days"),
    ("decimal", "gps 40.7128 -74.0060"),
    ("version", "version 1.2.3.4567"),
    ("id", "mac 00:1a:2b:3c:4d:5e"),
    ("price", "invoice total 1 234 567 yen"),
    ("decimal", "the population is 8 336 817"),
    ("id", "product code 5901234123457"),
    ("speech", "route 66 and highway 101"),
    ("time", "it's four thirty five on the twenty first"),
    ("id", "zoom passcode 482 913"),
    # review round: websites read out, ordinary words as street suffixes, ranges, dashed ids
    ("website", "shop online at target dot com"),
    ("website", "order status at amazon dot com"),
    ("website", "sign in at netflix dot com"),
    ("website", "contact support at apple dot com"),
    ("website", "you can check your order status at amazon dot com"),
    ("website", "it's cheaper at walmart dot com"),
    ("website", "sign up for email offers at target dot com"),
    ("website", "log in at outlook dot com and reset it"),
    ("website", "book 2 rooms at marriott dot com"),
    ("website", "pay your bill online at verizon dot com"),
    ("speech", "my 2 kids drive"),
    ("speech", "500 units way"),
    ("speech", "2 teams square off"),
    ("speech", "4 new tires close"),
    ("time", "at 2 pm way across town"),
    ("speech", "12 large pizzas place"),
    ("speech", "we drove 300 miles way out west"),
    ("speech", "our 2 boys drive the van to school"),
    ("speech", "the 2 new hires start monday"),
    ("price", "between 500-1500 dollars"),
    ("speech", "pages 250-1000"),
    ("speech", "200-1000 calories"),
    ("price", "it's about 200-300 dollars"),
    ("price", "i paid 120-150 euros for it"),
    ("id", "order number 81234-56789"),
    ("id", "order 81234 56789 never arrived"),
    ("id", "reference number 71234-56789"),
    ("id", "my flight ua 1234 leaves at 6 pm"),
    ("id", "delta flight 2145 departs gate b12"),
    ("time", "i was on hold for 45 minutes"),
    ("time", "support is open 8-8 daily"),
    ("id", "the ticket number is 555-0199"),
    ("id", "my flight is aa 2231 at 5 pm"),
    ("website", "i bought it at best buy dot com for 499"),
    ("website", "you can find it at amazon dot co dot uk"),
    ("speech", "the 3 kids court case"),
]

_PLACEHOLDER = re.compile(r"(\[[A-Z_]+\])")


def masked_intervals(original: str, redacted: str) -> list[tuple[int, int]]:
    """The [start, end) intervals of `original` that `redacted` replaced by placeholders.

    `redacted` must be `original` with some substrings replaced by `[UPPER_CASE]` placeholders;
    anything else is a redactor bug and raises."""
    parts = _PLACEHOLDER.split(redacted)
    pattern = "".join("(.+?)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    match = re.fullmatch(pattern, original, re.DOTALL)
    if match is None:
        raise AssertionError(f"redacted text is not the original with placeholders: {redacted!r}")
    return [match.span(g) for g in range(1, (match.re.groups or 0) + 1)]


def _covered(span: tuple[int, int], intervals: list[tuple[int, int]]) -> bool:
    start, end = span
    return all(any(a <= i < b for a, b in intervals) for i in range(start, end))


def span_of(text: str, fragment: str) -> tuple[int, int]:
    start = text.find(fragment)
    if start < 0 or text.find(fragment, start + 1) >= 0:
        raise AssertionError(f"span {fragment!r} must occur exactly once in {text!r}")
    return start, start + len(fragment)


def score(redactor: Callable[[str], str]) -> dict:
    """Recall over POSITIVES' spans and the share of NEAR_MISSES altered, with per-category
    figures and the failures (texts, for a human to read; never logged by the collector)."""
    spans = masked = 0
    by_category: dict[str, list[int]] = {}
    missed: list[tuple[str, str, str]] = []
    for category, text, fragments in POSITIVES:
        intervals = masked_intervals(text, redactor(text))
        for fragment in fragments:
            ok = _covered(span_of(text, fragment), intervals)
            spans += 1
            masked += ok
            counts = by_category.setdefault(category, [0, 0])
            counts[0] += ok
            counts[1] += 1
            if not ok:
                missed.append((category, text, fragment))
    altered: list[tuple[str, str, str]] = []
    near_by_category: dict[str, list[int]] = {}
    for category, text in NEAR_MISSES:
        out = redactor(text)
        counts = near_by_category.setdefault(category, [0, 0])
        counts[1] += 1
        if out != text:
            counts[0] += 1
            altered.append((category, text, out))
    return {
        "positives": len(POSITIVES), "spans": spans, "masked": masked, "recall": masked / spans,
        "near_misses": len(NEAR_MISSES), "altered": len(altered), "altered_rate": len(altered) / len(NEAR_MISSES),
        "recall_by_category": {k: v[0] / v[1] for k, v in by_category.items()},
        "altered_by_category": {k: v[0] / v[1] for k, v in near_by_category.items()},
        "missed": missed, "altered_texts": altered,
    }
