"""Feedback renderers on real judge results: real code run through the real sandbox."""

from __future__ import annotations

import pytest

from ctrl.feedback import ctrl_hint, rlef_feedback

# stdin problem: read n, print n squared. Cases n = 0..4.
CASES = [{"input": f"{n}\n", "output": f"{n * n}\n"} for n in range(5)]
CALL = {"kind": "call", "entry_point": "square",
        "cases": [{"args": [n], "expected": n * n} for n in range(4)]}
PROGRAMS = {
    "ok": "n = int(input())\nprint(n * n)\n",
    "all_wrong": "n = int(input())\nprint(n * n + 1)\n",
    "partial_wrong": "n = int(input())\nprint(n * n if n < 3 else n + n)\n",
    "partial_raise": "n = int(input())\nprint(n * n if n != 2 else 1 // 0)\n",
    "slow": "n = int(input())\nwhile n == 3:\n    pass\nprint(n * n)\n",
    "memory": "n = int(input())\nx = [0] * (2 ** 31) if n == 4 else None\nprint(n * n)\n",
    "syntax": "n = int(input()\nprint(n * n)\n",
}


@pytest.fixture(scope="module")
def results():
    from sandbox import judge

    items = [{"id": name, "code": code, "tests": {"kind": "stdin", "cases": CASES},
              "time_limit_s": 1.0, "memory_mb": 256} for name, code in PROGRAMS.items()]
    items.append({"id": "call_wrong", "code": "def square(n):\n    return n * n if n < 2 else n\n",
                  "tests": CALL, "time_limit_s": 1.0, "memory_mb": 256})
    out = {r["id"]: dict(r, rollout_id=r["id"]) for r in judge(items, workers=2)}
    assert set(out) == set(PROGRAMS) | {"call_wrong"}
    return out


def test_every_hint_kind_from_real_results(results):
    kinds = {name: ctrl_hint(r, seed=0)[0] for name, r in results.items()}
    assert kinds == {"ok": "all_pass", "all_wrong": "all_fail", "partial_wrong": "partial",
                     "partial_raise": "partial", "slow": "timeout", "memory": "timeout",
                     "syntax": "error", "call_wrong": "partial"}


def test_partial_hint_shows_input_expected_actual(results):
    _, text = ctrl_hint(results["partial_wrong"], seed=0)
    # failing cases are n=3 (9 vs 6) and n=4 (16 vs 8); exactly one is shown
    shown = [(n, exp, got) for n, exp, got in ((3, 9, 6), (4, 16, 8))
             if f"Input:\n{n}" in text]
    assert len(shown) == 1, text
    n, exp, got = shown[0]
    assert f"Expected output:\n{exp}" in text and f"Actual output:\n{got}" in text


def test_partial_hint_for_exception_names_the_error(results):
    kind, text = ctrl_hint(results["partial_raise"], seed=0, code=PROGRAMS["partial_raise"])
    assert kind == "partial" and "Input:\n2" in text
    assert "Error: ZeroDivisionError" in text  # the exception line, not the judge's note
    assert "Failing line: print(n * n if n != 2 else 1 // 0)" in text  # recovered from the code
    feedback = rlef_feedback(results["partial_raise"], code=PROGRAMS["partial_raise"])
    assert "sandbox-worker" not in feedback and "[judge]" not in feedback
    assert 'File "<candidate>", line 2' in feedback and "1 // 0" in feedback


def test_call_tests_show_expected_and_returned_value(results):
    _, text = ctrl_hint(results["call_wrong"], seed=0)
    assert "passes 2 of 4" in text
    assert ("Expected output:\n4" in text and "2" in text) or ("Expected output:\n9" in text)


def test_rlef_feedback_kinds_from_real_results(results):
    wrong = rlef_feedback(results["partial_wrong"])
    assert "failed 2 of 5 public tests" in wrong and "Expected output:\n9" in wrong
    assert "Got:\n6" in wrong and wrong.rstrip().endswith("solution.")
    assert "ZeroDivisionError" in rlef_feedback(results["partial_raise"])
    assert "took too long" in rlef_feedback(results["slow"])
    assert "ran out of memory" in rlef_feedback(results["memory"])
    syntax = rlef_feedback(results["syntax"])
    assert "does not compile" in syntax and "SyntaxError" in syntax
    assert "passed all 5" in rlef_feedback(results["ok"])
