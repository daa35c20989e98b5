"""The judgment parser is strict: only a clean final 'Overall judgment' line counts."""

import pytest

from ctrl.judgment import judgment_line, parse_judgment, strip_judgment

ANALYSIS = """**Analysis**
The solution sorts the list and returns the second element. It handles the empty list by
raising IndexError, which the problem does not allow: the expected result there is None.
It is correct for lists with distinct values but returns a duplicate when the minimum repeats.

**Improvement suggestions**
- Deduplicate the values before picking the second smallest.
- Return None when fewer than two distinct values exist.
"""


@pytest.mark.parametrize(
    "last_line, expected",
    [
        ("Overall judgment: Correct", "correct"),
        ("Overall judgment: Incorrect", "incorrect"),
        ("overall judgment: incorrect.", "incorrect"),
        ("**Overall judgment:** Incorrect", "incorrect"),
        ("**Overall judgment: Correct**", "correct"),
        ("Overall judgment: **Incorrect**", "incorrect"),
        ("## Overall judgement: Correct", "correct"),
        ("- Overall judgment: `Incorrect`", "incorrect"),
    ],
)
def test_clean_final_lines_parse(last_line, expected):
    assert parse_judgment(ANALYSIS + "\n" + last_line + "\n\n") == expected


@pytest.mark.parametrize(
    "last_line",
    [
        "Overall judgment: Correct or Incorrect",       # both words
        "Overall judgment: Incorrect / Correct",
        "Overall judgment: Mostly correct",
        "Overall judgment: Correct, but slow on large inputs",
        "Overall judgment:",                           # missing verdict
        "Judgment: Correct",                           # wrong prefix
        "The overall judgment: Correct",
        "Overall judgment: Not correct",
    ],
)
def test_ambiguous_or_malformed_lines_are_rejected(last_line):
    assert parse_judgment(ANALYSIS + "\n" + last_line) is None


def test_judgment_mid_text_followed_by_prose_is_rejected():
    text = ANALYSIS + "\nOverall judgment: Correct\n\nActually, on reflection, the empty case fails."
    assert parse_judgment(text) is None


def test_incorrect_is_not_read_as_correct_and_inline_mentions_do_not_count():
    text = "The code is correct in spirit; overall judgment: correct would be too kind.\nIt fails."
    assert parse_judgment(text) is None
    assert parse_judgment("x\nOverall judgment: Incorrect") == "incorrect"


def test_missing_or_empty_critique():
    assert parse_judgment(ANALYSIS) is None
    assert parse_judgment("") is None
    assert parse_judgment(None) is None
    assert parse_judgment("\n \n") is None


def test_judgment_line_round_trips_and_strip():
    for j in ("correct", "incorrect"):
        text = ANALYSIS + judgment_line(j)
        assert parse_judgment(text) == j
        assert strip_judgment(text) == ANALYSIS.rstrip()
    with pytest.raises(ValueError, match="'correct' or 'incorrect'"):
        judgment_line("maybe")
