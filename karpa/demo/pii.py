"""Personal data planted in messages: emails, phone numbers, payment cards and IBANs.

Card numbers pass the Luhn check and IBANs their mod-97 check, so a scrubber that
validates candidates (as a good one should) still finds every planted value. All of it is
fake: example domains, reserved phone ranges, made-up accounts.
"""

from __future__ import annotations

import numpy as np

PII_TYPES: tuple[str, ...] = ("email", "phone", "card", "iban")

FIRST = (
    "anna",
    "ben",
    "chloe",
    "dev",
    "elif",
    "farid",
    "grace",
    "hugo",
    "ines",
    "jonas",
    "kemal",
    "lena",
    "marta",
    "nils",
    "olga",
    "priya",
)
LAST = (
    "smith",
    "khan",
    "novak",
    "garcia",
    "okafor",
    "jensen",
    "rossi",
    "tanaka",
    "muller",
    "silva",
    "dubois",
    "kowalski",
)
DOMAINS = ("example.com", "example.org", "mail.example.net", "inbox.example.co.uk")
LEAD_INS: dict[str, tuple[str, ...]] = {
    "email": ("my email is {}", "reach me at {}", "contact me on {}", "email: {}"),
    "phone": ("call me on {}", "my number is {}", "text me at {}", "phone {}"),
    "card": ("my card {} was charged", "card number {}", "i paid with {}", "card: {}"),
    "iban": ("please refund to iban {}", "my bank account is {}", "iban: {}", "send it to {}"),
}
# Country and the shape of its account part (A: a letter, 9: a digit).
IBAN_FORMATS = (("GB", "AAAA" + "9" * 14), ("DE", "9" * 18), ("NL", "AAAA" + "9" * 10))
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits + check` pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, counting the check digit
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Whether a digit string passes the Luhn test."""
    return luhn_check_digit(number[:-1]) == number[-1]


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of an IBAN (ISO 13616 mod 97-10)."""
    rearranged = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in rearranged))
    return f"{98 - number % 97:02d}"


def iban_valid(iban: str) -> bool:
    """Whether an IBAN (spaces allowed) passes its mod-97 check."""
    compact = iban.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=n))


def email(rng: np.random.Generator) -> str:
    first, last = FIRST[rng.integers(len(FIRST))], LAST[rng.integers(len(LAST))]
    sep = (".", "_", "")[rng.integers(3)]
    number = str(rng.integers(1, 99)) if rng.random() < 0.4 else ""
    return f"{first}{sep}{last}{number}@{DOMAINS[rng.integers(len(DOMAINS))]}"


def phone(rng: np.random.Generator) -> str:
    # Ofcom's drama range (07700 900xxx) and the North American 555-01xx fictional range.
    kind = rng.integers(4)
    area = ("202", "212", "312", "415", "617")[rng.integers(5)]
    if kind == 0:
        return f"+44 7700 900{_digits(rng, 3)}"
    if kind == 1:
        return f"07700 900{_digits(rng, 3)}"
    if kind == 2:
        return f"({area}) 555-01{_digits(rng, 2)}"
    return f"+1 {area} 555 01{_digits(rng, 2)}"


def card(rng: np.random.Generator) -> str:
    prefix = "4" if rng.random() < 0.6 else f"5{rng.integers(1, 6)}"
    body = prefix + _digits(rng, 15 - len(prefix))
    number = body + luhn_check_digit(body)
    style = rng.integers(3)
    if style == 0:
        return number
    sep = " " if style == 1 else "-"
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def iban(rng: np.random.Generator) -> str:
    country, shape = IBAN_FORMATS[rng.integers(len(IBAN_FORMATS))]
    bban = "".join(LETTERS[rng.integers(26)] if c == "A" else str(rng.integers(10)) for c in shape)
    compact = country + iban_check_digits(country, bban) + bban
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


MAKERS = {"email": email, "phone": phone, "card": card, "iban": iban}


def disclosure(kind: str, rng: np.random.Generator) -> tuple[str, str]:
    """A phrase that discloses one value of the given kind, and the value itself."""
    lead = LEAD_INS[kind][rng.integers(len(LEAD_INS[kind]))]
    value = MAKERS[kind](rng)
    return lead.format(value), value


# Ordinary numbers customer and finance text is full of; a scrubber must leave them alone.
ORDINARY: tuple[str, ...] = (
    "order #{order} arrived",
    "order {order7} is late",
    "it cost ${dollars}.{cents}",
    "refund of EUR {thousands},{cents3}.00 please",
    "delivered on {year}-{month}-{day} at {hour}:{minute}",
    "booked for {day}.{month}.{year}",
    "{ticker} closed at {price} ({sign}{pct}%)",
    "volume was {big} shares",
    "qty {qty}, size {size}",
    "ticket {year}{month}{day}-{order4}",
    "invoice INV-{order7}",
    "tracking number {order7}{order4}",
)
TICKERS = ("AAPL", "MSFT", "NOKIA", "SAP", "TSLA", "VOD.L")


def ordinary_sentence(rng: np.random.Generator) -> str:
    """A sentence with ordinary numbers (amounts, dates, order ids, prices) and no PII."""
    template = ORDINARY[rng.integers(len(ORDINARY))]
    return template.format(
        order=rng.integers(10_000, 99_999),
        order7=rng.integers(1_000_000, 9_999_999),
        order4=f"{rng.integers(0, 9999):04d}",
        dollars=rng.integers(1, 999),
        cents=f"{rng.integers(0, 99):02d}",
        cents3=f"{rng.integers(0, 999):03d}",
        thousands=rng.integers(1, 99),
        year=rng.integers(2000, 2027),
        month=f"{rng.integers(1, 13):02d}",
        day=f"{rng.integers(1, 29):02d}",
        hour=f"{rng.integers(0, 24):02d}",
        minute=f"{rng.integers(0, 60):02d}",
        ticker=TICKERS[rng.integers(len(TICKERS))],
        price=f"{rng.integers(1, 999)}.{rng.integers(0, 99):02d}",
        sign="+-"[rng.integers(2)],
        pct=f"{rng.integers(0, 9)}.{rng.integers(0, 9)}",
        big=f"{rng.integers(1, 999):,}" + ",000",
        qty=rng.integers(1, 20),
        size=rng.integers(30, 48),
    )


def _other_phone(rng: np.random.Generator) -> str:
    forms = (
        "555-01{} {}",
        "555.01{}.{}",
        "+49 30 901{}{}",
        "+33 6 12 {} {}",
        "+1-202-555-01{}{}",
        "(0)20 7946 {}{}",
    )
    form = forms[rng.integers(len(forms))]
    if form.startswith("555"):
        return form.format(_digits(rng, 2), _digits(rng, 4)).replace(" ", "-")
    return form.format(_digits(rng, 2), _digits(rng, 2))


def planted_set(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """`n` texts of `(kind, value, text)`: each discloses one value of one kind (in turn)
    among ordinary numbers; every fifth text is ordinary only (kind and value "")."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ordinary = ordinary_sentence(rng)
        if i % 5 == 4:
            out.append(("", "", ordinary))
            continue
        kind = PII_TYPES[i % 5]
        said, value = disclosure(kind, rng)
        if kind == "phone" and rng.random() < 0.5:  # forms the demo world does not use
            value = _other_phone(rng)
            said = LEAD_INS["phone"][rng.integers(len(LEAD_INS["phone"]))].format(value)
        parts = [ordinary, said] if rng.random() < 0.5 else [said, ordinary]
        out.append((kind, value, ", ".join(parts)))
    return out
