"""bench/reliability_table.py: every reliability case is a row with its one-sentence
docstring, and results read back from pytest's JUnit XML land on their rows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from reliability_table import FILES, ORDER, collect, markdown, result_cell


def test_every_reliability_test_has_a_one_sentence_docstring_and_an_area():
    cases = collect(FILES)
    assert len(cases) >= 20
    for case in cases:
        assert case.doc != "(no docstring)", f"{case.path.name}::{case.name} has no docstring"
        assert case.doc.endswith(".") and case.doc.count(". ") == 0, (case.name, case.doc)
        assert case.area in ORDER, (case.name, case.area)


def test_results_and_parameters_show_on_their_rows():
    cases = collect(FILES)
    faults = next(c for c in cases if c.name.startswith("test_a_stopped_run"))
    faults.results = {"SIGKILL": "passed", "SIGTERM": "FAILED"}
    faults.seconds = 90.4
    assert result_cell(faults) == "SIGKILL: passed, SIGTERM: FAILED, 90 s"
    labels = next(c for c in cases if c.name == "test_label_keys_are_checked_at_resolution")
    labels.results = {"": "passed"}
    assert result_cell(labels) == "passed"
    table = markdown(cases).splitlines()
    assert table[0] == "| area | case → behaviour | test | result |"
    assert len(table) == len(cases) + 2
    areas = [row.split(" | ")[0].removeprefix("| ") for row in table[2:]]
    assert areas == sorted(areas, key=ORDER.index)  # grouped in the README's order


def test_the_readme_table_lists_every_case_as_the_tests_say_it():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Reliability", 1)[1]
    for row in markdown(collect(FILES)).splitlines()[2:]:
        case = row.rsplit(" | ", 1)[0]  # area, case and test; the result is of its run
        assert case in section, (
            f"README's Reliability table lacks {case!r}: run python bench/reliability_table.py"
        )
