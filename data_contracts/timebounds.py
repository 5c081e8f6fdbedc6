"""Durations (`30d`) and timestamp bounds (`2000-01-01`, `now+1d`) as contracts write them."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE_TIME = re.compile(r"^\s*now\s*(?:([+-])\s*(\d+(?:\.\d+)?\s*[smhdw]))?\s*$")


def parse_duration(text: str) -> dt.timedelta:
    """Parse a duration such as `30d`, `12h`, `90m`, `2w` into a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like '30d', '12h', '90m' or '2w'")
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: float(match.group(1))})


def resolve_time_bound(bound: str, reference_time: dt.datetime) -> dt.datetime:
    """Turn a timestamp bound (ISO date/time, `now`, `now+1d`, `now-365d`) into a UTC datetime.

    `now` is the run's reference time, not the wall clock, so a re-run of the same data
    with the same reference time reaches the same verdict.
    """
    match = _RELATIVE_TIME.match(bound)
    if match is not None:
        sign, amount = match.groups()
        if amount is None:
            return reference_time
        delta = parse_duration(amount)
        return reference_time + delta if sign == "+" else reference_time - delta
    try:
        value = dt.datetime.fromisoformat(bound)
    except ValueError:
        raise ValueError(
            f"{bound!r} is not a timestamp bound: write an ISO date/time or now, now+1d, now-30d"
        ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
