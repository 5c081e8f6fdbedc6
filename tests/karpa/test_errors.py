"""first_line: a library's error as the one line a KarpaError quotes."""

from __future__ import annotations

from karpa.errors import first_line


def test_the_first_line_of_a_long_message_and_the_type_of_an_empty_one():
    assert first_line(OSError("  disk full\nTraceback (most recent call last): ...")) == "disk full"
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(ValueError("   \n ")) == "ValueError"
