"""Robustness slices in the applications' reports: the entity lexicon the data gives, and
(through the `check_text_robustness` fixture of conftest.py, on the reports the intent and
sentiment modules build) the slices in report, card and tracker keys."""

from __future__ import annotations

from pathlib import Path

from karpa.applications.robustness import entity_lexicon


def test_entity_lexicon_comes_from_the_views(views_dir):
    lexicon = entity_lexicon(views_dir)
    # The synthetic views: three colours in the items' attributes; one category (mug) and
    # one ticker (ACME) are too few to swap and are left out.
    assert lexicon == {"attribute:colour": ["blue", "green", "red"]}


def test_entity_lexicon_of_an_empty_folder_is_empty(tmp_path: Path):
    assert entity_lexicon(tmp_path) == {}
