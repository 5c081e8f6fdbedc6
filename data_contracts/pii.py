"""Scrub personal data from free text: emails, phone numbers, payment cards, IBANs.

Each kind is found by a pattern and, where the kind has one, confirmed by its checksum
(Luhn for cards, ISO 13616 mod-97 for IBANs), so ordinary numbers in customer text —
prices (`$12.99`), order ids (`#48213`, `order 1234567`), dates, quantities — stay as
they are. Kinds are replaced in a fixed order (email, IBAN, card, phone) because the later
patterns would otherwise bite into what an earlier one recognises: an IBAN's digits can
pass as a card, a card's as a phone number.

Phone numbers are recognised in the formats people write them in: international
(`+44 20 7946 0958`, `+14155552671`), with an area code in parentheses
(`(555) 123-4567`), or as three or more digit groups (`555-123-4567`, `06 12 34 56 78`),
9 to 15 digits in all. A bare run of digits is not taken for a phone number: too many
order ids look the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

import pandas as pd

logger = logging.getLogger(__name__)

KINDS = ("email", "iban", "card", "phone")
PLACEHOLDERS = {"email": "<EMAIL>", "iban": "<IBAN>", "card": "<CARD>", "phone": "<PHONE>"}

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
# Country code, check digits, then the account in groups of four (spaced or not).
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(
    r"(?<![\w-])(?:\d{13,19}"
    r"|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,4}(?:(?P=sep)\d{1,3})?"
    r"|\d{4}[ -]\d{6}[ -]\d{4,5})(?!\w)"
)
_PHONE = re.compile(
    r"""
    (?<![\w+#/.,-])                     # not inside a word, an id, a path or a number
    (?!\d{4}[-./]\d\d?[-./]\d\d?\b)     # not a date: 2024-05-17 10, 2023-11-04-0017
    (?!\d\d?[-./]\d\d?[-./]\d{4}\b)     # not a date: 17.05.2024 10
    (?:
        \+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,5}){1,5}    # +44 20 7946 0958
      | \(\d{2,5}\)[ .-]?\d{2,5}(?:[ .-]\d{2,5}){0,3}          # (555) 123-4567
      | \d{2,5}(?:[ .-]\d{2,5}){2,5}                           # 555-123-4567
      | 0\d{2,4}[ .-]\d{5,8}                                   # 07700 900123 (trunk 0)
    )
    (?![\w/:]|[.,-]\d)                  # not followed by more of a number or a time
    """,
    re.VERBOSE,
)
_DIGIT_GROUPS = re.compile(r"\d+")
_MAYBE_PII = r"@|\d{2}"


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _shorter(candidate: str) -> list[str]:
    """The candidate and its prefixes that end one digit group earlier each time.

    A pattern is greedy: a spaced IBAN or card followed by another group of characters
    (`... 0130 00 1234`, a card then an expiry) swallows it, and the checksum then fails.
    """
    cuts = [candidate]
    while " " in cuts[-1] or "-" in cuts[-1]:
        cuts.append(re.split(r"[ -](?=[^ -]*$)", cuts[-1])[0])
    return cuts


def _iban(match: re.Match[str]) -> tuple[str, str] | None:
    for prefix in _shorter(match.group(0)):
        if iban_valid(prefix):
            return prefix, PLACEHOLDERS["iban"]
    return None


def _card(match: re.Match[str]) -> tuple[str, str] | None:
    for prefix in _shorter(match.group(0)):
        digits = re.sub(r"\D", "", prefix)
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return prefix, PLACEHOLDERS["card"]
    return None


def _phone(match: re.Match[str]) -> tuple[str, str] | None:
    text = match.group(0)
    groups = _DIGIT_GROUPS.findall(text)
    digits = sum(len(group) for group in groups)
    if not 9 <= digits <= 15 and not (text.startswith("+") and 8 <= digits <= 15):
        return None
    # `100 000 000`: thousands, not a phone number.
    thousands = len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])
    if thousands and not text.startswith(("+", "(")):
        return None
    return text, PLACEHOLDERS["phone"]


_CHECKS: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, str] | None]]] = {
    "email": (_EMAIL, lambda match: (match.group(0), PLACEHOLDERS["email"])),
    "iban": (_IBAN, _iban),
    "card": (_CARD, _card),
    "phone": (_PHONE, _phone),
}


def _replace(text: str, kind: str) -> tuple[str, int]:
    pattern, confirm = _CHECKS[kind]
    found = 0

    def substitute(match: re.Match[str]) -> str:
        nonlocal found
        verdict = confirm(match)
        if verdict is None:
            return match.group(0)
        matched, placeholder = verdict
        found += 1
        return placeholder + match.group(0)[len(matched) :]

    return pattern.sub(substitute, text), found


def scrub_text(text: str) -> tuple[str, dict[str, int]]:
    """`text` with personal data replaced by placeholders, and the count of each kind."""
    counts = dict.fromkeys(KINDS, 0)
    for kind in KINDS:
        text, counts[kind] = _replace(text, kind)
    return text, counts


def scrub_frame(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """A copy of `frame` with `columns` scrubbed, and the number of replacements per kind.

    Columns absent from the frame are skipped. Only cells that could hold personal data
    (an `@` or two adjacent digits) go through the Python-level patterns, so scrubbing
    plain prose costs one vectorised scan.
    """
    totals = dict.fromkeys(KINDS, 0)
    scrubbed = frame.copy()
    for column in columns:
        if column not in scrubbed.columns:
            continue
        values = scrubbed[column]
        candidates = values.notna() & values.astype("str").str.contains(_MAYBE_PII, regex=True)
        if not candidates.any():
            continue
        cleaned = []
        for text in values[candidates]:
            new_text, counts = scrub_text(text)
            cleaned.append(new_text)
            for kind, count in counts.items():
                totals[kind] += count
        scrubbed.loc[candidates, column] = cleaned
    logger.debug("scrubbed personal data: %s", ", ".join(f"{k}={v}" for k, v in totals.items()))
    return scrubbed, totals
