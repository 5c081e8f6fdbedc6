"""The coverage report: one self-contained page, a shortfall marked, every name escaped."""

from __future__ import annotations

import re

from karpa.align.coverage import render_html


def test_coverage_page_is_self_contained_and_marks_shortfalls():
    figures = {"items.count": 1200, "items.share_with_image": 0.5, "users.count": 3}
    page = render_html(figures, {"items.share_with_image": 0.9}, "karpa: coverage and splits")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not re.search(r"https?://|<script|<link", page)
    assert "<h2>items</h2>" in page and "<h2>users</h2>" in page
    assert '<td>items.count</td><td class="n">1,200</td>' in page
    assert '<td class="n bad">0.500</td><td class="n">0.9</td>' in page


def test_hostile_names_are_escaped():
    evil = "<script>alert(1)</script>"
    page = render_html({f"messages.label.{evil}": 5, f"{evil}.x": 0.1}, {}, evil)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 5  # title, h1, h2, 2 rows
