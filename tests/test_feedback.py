"""Feedback renderers on hand-written results: edge cases (truncation, seeds, merging, no code)."""

from __future__ import annotations

import pytest

from ctrl.feedback import (HINT_KINDS, approx_tokens, ctrl_hint, failing_source_line,
                           merge_executions, rlef_feedback)

TRACE = ('Traceback (most recent call last):\n  File "/sandbox/main.py", line 9, in <module>\n'
         '    print(solve(n))\n  File "/sandbox/main.py", line 4, in solve\n'
         '    return total / count\nZeroDivisionError: division by zero\n')


def case(status, inp="1 2", expected="3", stdout="", stderr=""):
    return {"status": status, "time_ms": 5.0, "input": inp, "expected": expected,
            "stdout": stdout, "stderr": stderr}


def execution(*cases, rollout_id="r0", **kw):
    n_passed = sum(c["status"] == "pass" for c in cases)
    status = next((c["status"] for c in cases if c["status"] != "pass"), "pass")
    return {"rollout_id": rollout_id, "passed": n_passed == len(cases), "n_cases": len(cases),
            "n_passed": n_passed, "status": status, "cases": list(cases), **kw}


def test_partial_hint_picks_one_failing_case_deterministically_by_seed():
    ex = execution(case("pass", stdout="3"), *[case("wrong_answer", inp=f"in{i}",
                                                    expected=f"exp{i}", stdout=f"got{i}")
                                               for i in range(6)])
    shown = set()
    for seed in range(12):
        kind, text = ctrl_hint(ex, seed=seed)
        assert kind == "partial"
        assert ctrl_hint(ex, seed=seed) == (kind, text)  # same seed, same case
        picked = [i for i in range(6) if f"in{i}\n" in text]
        assert len(picked) == 1, text  # exactly ONE failing case
        i = picked[0]
        assert f"exp{i}" in text and f"got{i}" in text and "passes 1 of 7" in text
        shown.add(i)
    assert len(shown) > 1  # the seed actually varies the choice


def test_partial_hint_for_an_exception_shows_failing_line_and_error():
    ex = execution(case("pass"), case("runtime_error", stderr=TRACE))
    kind, text = ctrl_hint(ex, seed=0)
    assert kind == "partial"
    assert "return total / count" in text and "ZeroDivisionError: division by zero" in text
    assert "Traceback" not in text  # only the line and the error, not the whole trace


def test_failing_source_line_is_innermost_frame():
    assert failing_source_line(TRACE) == "return total / count"
    assert failing_source_line("") == ""


def test_hint_kind_precedence():
    assert ctrl_hint(execution(case("pass"), case("pass")), seed=0)[0] == "all_pass"
    assert ctrl_hint(execution(case("wrong_answer"), case("runtime_error", stderr=TRACE)),
                     seed=0)[0] == "all_fail"
    assert ctrl_hint(execution(case("pass"), case("timeout"), case("wrong_answer")),
                     seed=0)[0] == "timeout"
    assert ctrl_hint(execution(case("memory_limit")), seed=0)[0] == "timeout"
    assert ctrl_hint(execution(case("syntax_error", stderr="SyntaxError: invalid syntax")),
                     seed=0)[0] == "error"
    assert ctrl_hint(execution(case("pass"), case("sandbox_error")), seed=0)[0] == "error"
    assert set(HINT_KINDS) == {"all_pass", "all_fail", "partial", "timeout", "error"}


def test_no_code_row_gives_error_hint_and_rlef_asks_for_code():
    ex = execution(case("syntax_error", stderr="no code found"), judge_rule="no_code")
    kind, text = ctrl_hint(ex, seed=0)
    assert kind == "error" and "no code" in text
    assert "did not contain any code" in rlef_feedback(ex)


def test_sandbox_error_hint_does_not_blame_the_code():
    kind, text = ctrl_hint(execution(case("sandbox_error")), seed=0)
    assert kind == "error" and "infrastructure" in text


def test_rlef_feedback_truncates_to_budget_and_counts_omitted_tests():
    big = "x" * 50_000
    ex = execution(*[case("wrong_answer", inp=big, expected=big, stdout=big) for _ in range(40)])
    text = rlef_feedback(ex, max_tokens=300)
    assert approx_tokens(text) <= 300
    assert "chars cut" in text  # long fields are clipped, head and tail kept
    assert "more failing tests not shown" in text
    assert text.rstrip().endswith("solution.")  # the retry request survives truncation
    assert "Give it another try" in text


def test_rlef_feedback_uses_given_token_counter():
    ex = execution(*[case("wrong_answer", inp=f"in{i}", stdout="no") for i in range(30)])
    words = lambda s: len(s.split())  # noqa: E731 - a whitespace "tokenizer"
    text = rlef_feedback(ex, max_tokens=120, count_tokens=words)
    assert words(text) <= 120
    assert "Test 1:" in text and "Test 30:" not in text


def test_rlef_four_message_kinds():
    ex = execution(case("wrong_answer", inp="5", expected="25", stdout="10"),
                   case("runtime_error", inp="0", stderr=TRACE), case("timeout", inp="9" * 8),
                   case("memory_limit", inp="7"), time_limit_s=2.0, memory_mb=256)
    text = rlef_feedback(ex)
    assert "failed 4 of 4 public tests" in text
    assert "Expected output:\n25" in text and "Got:\n10" in text
    assert "raised an exception" in text and "ZeroDivisionError" in text
    assert "took too long" in text and "2.0 s" in text
    assert "ran out of memory" in text and "256 MB" in text


def test_rlef_passing_attempt():
    assert "passed all 2" in rlef_feedback(execution(case("pass"), case("pass")))


def test_merge_executions_concatenates_and_keeps_sandbox_errors_apart():
    pub = dict(execution(case("pass")), test_set="public")
    priv = dict(execution(case("wrong_answer"), case("pass")), test_set="private")
    m = merge_executions([pub, priv])
    assert m["n_cases"] == 3 and m["n_passed"] == 2 and m["passed"] is False
    assert ctrl_hint(m, seed=0)[0] == "partial"
    bad = dict(execution(case("sandbox_error")), test_set="private", passed=None,
               status="sandbox_error")
    m2 = merge_executions([pub, bad])
    assert m2["passed"] is None and m2["status"] == "sandbox_error"
    with pytest.raises(ValueError, match="different rollouts"):
        merge_executions([pub, dict(priv, rollout_id="other")])


def test_rlef_later_tests_are_omitted_not_mangled():
    tb = TRACE + "ValueError: " + "x" * 3000  # a very long exception message per failing test
    ex = execution(*[case("runtime_error", inp=f"in{i}", stderr=tb) for i in range(5)])
    text = rlef_feedback(ex, max_tokens=400)
    shown = [i for i in range(5) if f"Input:\nin{i}" in text]
    assert shown and shown == list(range(len(shown)))  # failing tests in order, a prefix
    assert "more failing test" in text
    for block in text.split("\n\nTest ")[2:]:  # tests after the first keep a readable error
        assert block.count("x") >= 100, block
