"""PII scrubbing: planted emails, phones, cards and IBANs are replaced; ordinary numbers are not."""

from __future__ import annotations

import random
import string

import pandas as pd
import pytest

from data_contracts import scrub_frame, scrub_text
from data_contracts.pii import iban_valid, luhn_valid

PLANTED = 150
TEMPLATES = [
    "Hi, you can reach me at {} if anything changes.",
    "{}",
    "My details: {}. Order #48213 arrived late.",
    "please use {} (not the old one) for the refund of $12.99",
    "Contact: {}\nThanks!",
]


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return next(body + d for d in string.digits if luhn_valid(body + d))


def _cards(rng: random.Random) -> list[str]:
    cards = []
    for i in range(PLANTED):
        kind = i % 5
        if kind == 0:
            cards.append(_luhn_complete("4", 16, rng))
        elif kind == 1:
            digits = _luhn_complete(str(rng.randint(51, 55)), 16, rng)
            cards.append(" ".join(digits[j : j + 4] for j in range(0, 16, 4)))
        elif kind == 2:
            digits = _luhn_complete("6011", 16, rng)
            cards.append("-".join(digits[j : j + 4] for j in range(0, 16, 4)))
        elif kind == 3:
            digits = _luhn_complete(rng.choice(["34", "37"]), 15, rng)
            cards.append(f"{digits[:4]} {digits[4:10]} {digits[10:]}")
        else:
            cards.append(_luhn_complete("4", 13 + (i % 7), rng))
    return cards


def _iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def _ibans(rng: random.Random) -> list[str]:
    def digits(n: int) -> str:
        return "".join(rng.choice(string.digits) for _ in range(n))

    def letters(n: int) -> str:
        return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))

    makers = [
        lambda: _iban("DE", digits(18)),
        lambda: _iban("GB", letters(4) + digits(14)),
        lambda: _iban("FR", digits(10) + letters(1) + digits(10) + digits(2)),
        lambda: _iban("NL", letters(4) + digits(10)),
        lambda: _iban("ES", digits(20)),
        lambda: _iban("NO", digits(11)),
    ]
    ibans = []
    for i in range(PLANTED):
        iban = makers[i % len(makers)]()
        spaced = " ".join(iban[j : j + 4] for j in range(0, len(iban), 4))
        ibans.append(spaced if i % 2 else iban)
    return ibans


def _phones(rng: random.Random) -> list[str]:
    def d(n: int) -> str:
        return "".join(rng.choice(string.digits) for _ in range(n))

    formats = [
        lambda: f"+1 ({d(3)}) {d(3)}-{d(4)}",
        lambda: f"{d(3)}-{d(3)}-{d(4)}",
        lambda: f"({d(3)}) {d(3)} {d(4)}",
        lambda: f"{d(3)}.{d(3)}.{d(4)}",
        lambda: f"+44 20 {d(4)} {d(4)}",
        lambda: f"+49{d(11)}",
        lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
        lambda: f"0{rng.randint(1, 9)} {d(2)} {d(2)} {d(2)} {d(2)}",
        lambda: f"020 {d(4)} {d(4)}",
        lambda: f"+1-{d(3)}-{d(3)}-{d(4)}",
    ]
    return [formats[i % len(formats)]() for i in range(PLANTED)]


def _emails(rng: random.Random) -> list[str]:
    names = ["anna", "j.smith", "li_wei", "o'neil", "maria.garcia+shop", "k9", "team-sales"]
    domains = ["example.com", "mail.example.co.uk", "shop.io", "uni-bonn.de", "x.org"]
    return [
        f"{rng.choice(names).replace(chr(39), '')}{rng.randint(1, 999)}@{rng.choice(domains)}"
        for _ in range(PLANTED)
    ]


@pytest.mark.parametrize(
    ("kind", "make"),
    [("email", _emails), ("phone", _phones), ("card", _cards), ("iban", _ibans)],
)
def test_planted_personal_data_is_replaced(kind, make):
    rng = random.Random(kind)
    values = make(rng)
    assert len(values) >= 100
    if kind == "card":
        assert all(luhn_valid("".join(c for c in v if c.isdigit())) for v in values)
    if kind == "iban":
        assert all(iban_valid(v) for v in values)
    replaced = 0
    for index, value in enumerate(values):
        text = TEMPLATES[index % len(TEMPLATES)].format(value)
        scrubbed, counts = scrub_text(text)
        if value not in scrubbed and f"<{kind.upper()}>" in scrubbed and counts[kind] == 1:
            replaced += 1
        assert "#48213" in scrubbed or "#48213" not in text
        assert "$12.99" in scrubbed or "$12.99" not in text
    assert replaced / len(values) >= 0.99


ORDINARY = [
    "The mug costs $12.99, or $1,299.00 for the whole pallet.",
    "Order #48213 shipped; order 1234567 is still pending.",
    "Delivered on 2024-05-17 at 10:30, invoice dated 17/05/2024 and 17.05.2024.",
    "I bought 3 pcs, then qty 12, then 250 ml bottles x 24.",
    "Tracking ref ORD-2024-000123 and SKU 4006381333931.",
    "We sold 100 000 000 units and 2,500,000 licences in 2023.",
    "Version v2.3.1 fixed it; error code 0x80070005.",
    "Room 404, floor 12, 5 stars, 4.5 out of 5, 99.9% uptime.",
    "Between 9:00-17:30 Mon-Fri, ZIP 94103, PO Box 1234.",
    "Coupon SAVE20 gives 20% off orders over €50.",
    "Temperature -12.5 C, 1e6 rows, 3/4 cup, 1/2 price.",
    "Model X200, part no. 55-1234, serial 2023-11-04-0017.",
    "Call center hours are 8 to 20; ticket 884213 was opened.",
    "Account balance 12345.67 EUR as of 2023-12-31 23:59:59.",
    "ISBN 978-3-16-148410-0 is out of stock.",
    "Flight LH 2024 leaves at 07:45 from gate B12.",
    "My order number is 20240517 and my cart has 7 items.",
    "Prices: 9.99, 19.99, 29.99; bundle 49.99.",
    "Year range 1990-2024, ages 18-65, sizes 38-46.",
    "Reference 1234 5678 (two groups only) and PIN-less card.",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_are_not_touched(text):
    scrubbed, counts = scrub_text(text)
    assert scrubbed == text
    assert sum(counts.values()) == 0


def test_scrub_frame_counts_and_leaves_the_input_alone():
    frame = pd.DataFrame(
        {
            "text": pd.array(
                ["mail a@b.com or call +1 (555) 123-4567", None, "nothing here", "$12.99"],
                dtype="str",
            ),
            "title": ["card 4111 1111 1111 1111", "x", "y", "z"],
            "other": ["a@b.com"] * 4,
        }
    )
    scrubbed, counts = scrub_frame(frame, ["text", "title", "absent"])
    assert counts == {"email": 1, "iban": 0, "card": 1, "phone": 1}
    assert scrubbed["text"].iat[0] == "mail <EMAIL> or call <PHONE>"
    assert pd.isna(scrubbed["text"].iat[1])
    assert scrubbed["title"].iat[0] == "card <CARD>"
    assert scrubbed["other"].iat[0] == "a@b.com"  # not listed, not touched
    assert frame["text"].iat[0].startswith("mail a@b.com")  # the input is not mutated
