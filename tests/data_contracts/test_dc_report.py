"""The HTML report is self-contained and escaped; the markdown summary is short and complete."""

from __future__ import annotations

import dataclasses
import re

import pytest

from data_contracts import (
    compute_drift,
    profile_table,
    render_markdown_summary,
    render_validation_report,
    validate_tables,
)


@pytest.fixture
def validated(contracts, frame, item_rows, event_rows, reference):
    items = item_rows(4)
    items[1]["title"] = None
    items[2]["description"] = "<script>alert('x')</script>" * 1000  # too long, and hostile
    events = event_rows(10, items=4)
    return validate_tables(
        {"items": frame("items", items), "events": frame("events", events)},
        contracts,
        reference_time=reference,
    )


@pytest.fixture
def drift(frame, event_rows):
    previous = profile_table(frame("events", event_rows(50)), "events")
    shifted = event_rows(50)
    for row in shifted:
        row["event_type"] = "purchase"
    return compute_drift(previous, profile_table(frame("events", shifted), "events"))


def test_html_report_is_self_contained_and_escaped(validated, drift):
    pii = {"items": {"email": 3, "phone": 1, "card": 0, "iban": 2}}
    html = render_validation_report(validated, pii, drift)
    assert html.startswith("<!doctype html>")
    assert not re.search(r"https?://", html)  # no CDN, no link that needs a network
    assert "<script" not in html and "<link" not in html
    assert "&lt;script&gt;alert(" in html  # data is shown, escaped
    assert "<style>" in html
    for expected in ("items", "events", "title_required", "description_length", "item_id_known"):
        assert expected in html
    assert "Run stops:" in html  # 2 of 4 items quarantined: above the 5% threshold
    assert ">iban</td>" in html and ">2</td>" in html
    assert "Drift against the previous run" in html and ">drift</span>" in html


def test_html_report_without_problems_says_so(contracts, frame, item_rows, reference):
    results = validate_tables(
        {"items": frame("items", item_rows(3))}, contracts, reference_time=reference
    )
    html = render_validation_report(results)
    assert "Every table is within its contract thresholds." in html
    assert "No previous profile to compare with." in html


def test_hostile_names_are_escaped_everywhere(validated, drift):
    evil = "<script>alert(1)</script>"
    items = validated["items"]
    rule = dataclasses.replace(
        items.rules[0],
        column=evil,
        observed=evil,
        expected=evil,
        examples=[{"source": evil, "row": 1, "value": evil, "detail": evil}],
    )
    hostile = dataclasses.replace(items, table=evil, rules=[rule, *items.rules[1:]])
    drifted = [{**f.to_dict(), "table": evil, "column": evil} for f in drift]
    html = render_validation_report(
        [hostile], {evil: {evil: 1}}, drifted, title=evil, quarantine_paths={evil: evil}
    )
    assert "<script" not in html
    # title, heading, overview, column, observed, demands, examples (4 cells), PII, drift, ...
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 12


def test_markdown_summary(validated, drift):
    text = render_markdown_summary(validated, {"items": {"email": 3, "phone": 0}}, drift)
    lines = text.splitlines()
    assert lines[0].startswith("**Validation stops the run:** items: rule ")
    assert any(line.startswith("| items | 4 | 2 | 2 (50%) |") for line in lines)
    assert "Personal data scrubbed — items: 3 email." in text
    assert "Drift: 1 of 2 statistics above threshold (events.event_type psi" in text
