"""Judging rules of the sandbox, on the real firejail jail: one property per test.

Comparison rules are also unit-tested directly (compare.py is pure); everything else goes through
`judge()` so the property holds end to end (jail, worker, supervisor).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from sandbox import compare, judge, selftest

needs_jail = pytest.mark.skipif(
    bool(selftest.host_problems()),
    reason="firejail sandbox unavailable here: " + "; ".join(selftest.host_problems())
    + " (scripts/setup.sh runs sandbox/setup_host.sh)")


def one(code, tests, **kw):
    return judge([dict({"id": "t", "code": code, "tests": tests, "time_limit_s": 1, "memory_mb": 256}, **kw)])[0]


def statuses(res):
    return [c["status"] for c in res["cases"]]


# --------------------------------------------------------------------------- pure comparison rules

@pytest.mark.parametrize("got,exp,ok", [
    ("1 2 3\n", "1 2 3", True),
    ("1  2\n3   \n\n", "1 2 3\n", True),
    ("1 2", "1 2 3", False),
    ("0.3333331", "0.333333", True),     # within 1e-6 absolute
    ("1000000.5", "1000000.0", False),   # absolute, not relative: 0.5 off is wrong
    ("123456912.0", "123456789.0", False),  # was accepted by a relative 1e-6 (123 off)
    ("1.0000001e-3", "1e-3", True),      # an exponent makes a float token too
    ("0.334", "0.333", False),
    ("1.0", "1", False),                 # an integer expected: exact
    ("nan", "nan", True),
    ("nan", "0.5", False),
    ("YES", "yes", False),
])
def test_stdin_tokens_and_float_tolerance(got, exp, ok):
    assert compare.stdin_equal(got, exp) is ok


def test_stdin_tolerance_is_per_item():
    assert compare.stdin_equal("1000000.5", "1000000.0", atol=0.0, rtol=1e-6)
    assert not compare.stdin_equal("1000000.5", "1000000.0", atol=0.1)


@pytest.mark.parametrize("got,exp,ok", [
    ((1, [2, 3]), [1, [2, 3]], False),   # a tuple is not a list (Python ==)
    ((1, 2), (1, 2), True),
    (float("nan"), float("nan"), True),
    (float("inf"), float("inf"), True),
    (float("inf"), 1e308, False),
    (1, True, True),                     # Python: True == 1
    (1.0, 1, True),                      # Python: 1.0 == 1
    (10 ** 9 + 1.0, 10 ** 9, False),     # an int expected: no tolerance
    (0.1 + 0.2, 0.3, True),              # a float expected: 1e-9 + 1e-9 relative
    (1.001, 1.0, False),
    (10 ** 400, 1.5, False),             # no OverflowError
    ({"a": 1, "b": [1.0]}, {"b": [1.0], "a": 1}, True),  # key order does not matter to ==
    ({"a"}, ["a"], False),               # a set is not a list
    ("1", 1, False),
    (None, None, True),
])
def test_call_values_python(got, exp, ok):
    assert compare.python_equal(got, exp) is ok


@pytest.mark.parametrize("got,exp,ok", [
    ((1, [2, (3,)]), [1, [2, [3]]], True),   # json: tuples are lists
    ([1, 2], (1, 2), True),
    ({"a": (1,)}, {"a": [1]}, True),
    ([1, 2], [1, 2, 3], False),
])
def test_call_values_json(got, exp, ok):
    assert compare.python_equal(got, exp, seq_as_list=True) is ok


def test_call_atol():
    assert compare.python_equal(1.05, 1.0, atol=0.1) and not compare.python_equal(1.05, 1.0)


@pytest.mark.parametrize("out,exp,args,atol,oracle,ok", [
    ([1.0, 2.0000001], [1.0, 2.0], [], 0, None, True),      # floats: atol 1e-6 when the data says 0
    ((1.0, 2.0), [1.0, 2.0], [], 0, None, False),           # same type required for the allclose path
    ([1, 2], [1.0, 2.0], [], 0, None, True),                # but exact == holds first
    (3, 2, [], 0, "or_zero", False),
    (0, 2, [], 0, "or_zero", True),
    ([2, 1], [1, 2], [], 0, "set_eq", True),
    ("x", True, [], 0, "not_none", True),
    (None, True, [], 0, "not_none", False),
    (1.0, None, [[-1.0, 1.0]], 1e-6, "find_zero", True),   # x = 1 is a root of -1 + x
    (2.0, None, [[-1.0, 1.0]], 1e-6, "find_zero", False),
    (10 ** 400, 1.5, [], 0, None, False),
])
def test_evalplus_rule(out, exp, args, atol, oracle, ok):
    assert compare.evalplus_equal(out, exp, args, atol, oracle) is ok


# --------------------------------------------------------------------------- end to end, in the jail

@needs_jail
def test_stdin_kind_judges_output_and_records_rule():
    res = one("a, b = map(int, input().split())\nprint(a + b)\nprint(a / b)",
              {"kind": "stdin", "cases": [{"input": "1 3\n", "output": "4\n0.333333"},
                                          {"input": "2 2\n", "output": "5\n1.0"}]})
    assert statuses(res) == ["pass", "wrong_answer"] and res["n_passed"] == 1 and not res["passed"]
    assert res["judge_rule"] == compare.stdin_rule(1e-6, 0) and res["isolation"] == "firejail"
    assert all(c["rule"] == res["judge_rule"] for c in res["cases"])
    assert res["cases"][1]["stdout"] == "4\n1.0\n" and res["cases"][1]["expected"] == "5\n1.0"


@needs_jail
def test_call_kind_tuples_nan_nested_and_class_method():
    res = one("class S:\n    def f(self, x):\n        return (x, {'k': [float('nan'), (1, 2)]})",
              {"kind": "call", "entry_point": "S.f", "compare": "json",
               "cases": [{"args": [1], "expected": [1, {"k": [float("nan"), [1, 2]]}]},
                         {"args": [2], "expected": [1, {"k": [float("nan"), [1, 2]]}]}]})
    assert statuses(res) == ["pass", "wrong_answer"]
    tagged = {"$t": [1, {"k": [{"$f": "nan"}, {"$t": [1, 2]}]}]}  # the contract's tags: a tuple expected
    res = one("class S:\n    def f(self, x):\n        return (x, {'k': [float('nan'), (1, 2)]})",
              {"kind": "call", "entry_point": "S.f", "cases": [
                  {"args": [1], "expected": tagged},
                  {"args": [1], "expected": [1, {"k": [{"$f": "nan"}, [1, 2]]}]}]})
    assert statuses(res) == ["pass", "wrong_answer"]


@needs_jail
def test_call_args_keep_their_shape():
    res = one("def f(d, l):\n    return [type(d).__name__, type(l).__name__, d['a']]",
              {"kind": "call", "entry_point": "f", "cases": [{"args": [{"a": 1}, [1]], "expected": ["dict", "list", 1]}]})
    assert res["passed"], res


@needs_jail
def test_assert_kind_uses_python_semantics_outside():
    res = one("def f(x):\n    return (x, x)",
              {"kind": "assert", "setup": "import math", "cases": [
                  "assert f(1) == (1, 1)", "assert f(1) == [1, 1]", "assert f(2)", "assert not f(0)",
                  "assert math.isclose(f(0.5)[0], 0.5)", "y = f(3)\nassert y[0] == 3"]})
    assert statuses(res) == ["pass", "wrong_answer", "pass", "wrong_answer", "pass", "pass"]
    assert res["cases"][5]["rule"] == compare.JAIL_RULE and res["cases"][0]["rule"] == compare.EQ_RULE


@needs_jail
def test_program_kind_splits_humaneval_check_into_cases():
    test = ("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 4\n"
            "    assert True\n    assert abs(candidate(0.5) - 1.5) < 1e-6\n")
    res = one("def helper(x):\n    return x + 1\n\ndef inc(x):\n    return helper(x)\n",
              {"kind": "program", "entry_point": "inc", "test": test})
    assert statuses(res) == ["pass", "wrong_answer", "pass"] and res["n_cases"] == 3
    assert res["cases"][1]["input"] == "assert candidate(2) == 4" and res["cases"][1]["stdout"] == "3"


@needs_jail
def test_program_kind_unsplittable_check_runs_whole():
    test = "def check(candidate):\n    for i in range(5):\n        assert candidate(i) == i + 1\n"
    good = one("def inc(x):\n    return x + 1", {"kind": "program", "entry_point": "inc", "test": test})
    bad = one("def inc(x):\n    return x + (x != 3)", {"kind": "program", "entry_point": "inc", "test": test})
    assert statuses(good) == ["pass"] and statuses(bad) == ["wrong_answer"]
    assert good["judge_rule"].startswith("program: check(candidate) runs whole")


@needs_jail
@pytest.mark.parametrize("code,status,note", [
    ("def f(x) return x", "syntax_error", "SyntaxError"),
    ("", "syntax_error", "empty code"),
    ("x = 1" + " " * (1 << 20), "runtime_error", "over the limit"),
    ("def g(x):\n    return x", "runtime_error", "entry point 'f' is not defined"),
    ("def f(x):\n    return 1 // 0", "runtime_error", "ZeroDivisionError"),
    ("def f(x):\n    while True:\n        pass", "timeout", "wall-clock"),
    ("def f(x):\n    return len(bytearray(1 << 33))", "memory_limit", "MemoryError"),
    ("def f(x):\n    while True:\n        print('y' * 100000)", "output_limit", "output over"),
])
def test_failure_statuses(code, status, note):
    res = one(code, {"kind": "call", "entry_point": "f", "cases": [{"args": [1], "expected": 1}] * 2})
    assert statuses(res) == [status, status], res
    assert note in res["cases"][0]["stderr"]


@needs_jail
@pytest.mark.parametrize("code,status", [("import sys\nprint(7)\nsys.exit(0)", "pass"),
                                         ("import sys\nprint(7)\nsys.exit(3)", "runtime_error"),
                                         ("import os\nprint(7, flush=True)\nos._exit(0)", "pass")])
def test_stdin_exit_status(code, status):
    assert statuses(one(code, {"kind": "stdin", "cases": [{"input": "", "output": "7"}]})) == [status]


@needs_jail
def test_output_fields_are_truncated():
    res = one("print('z' * 100000)\nimport sys\nprint('e' * 100000, file=sys.stderr)",
              {"kind": "stdin", "cases": [{"input": "i" * 100000, "output": "o" * 100000}]})
    c = res["cases"][0]
    assert c["status"] == "wrong_answer"
    assert all(len(c[k]) < 2200 for k in ("stdout", "stderr", "input", "expected")), {k: len(c[k]) for k in c if k != "time_ms"}


BAD = [
    ("not a dict", "must be a JSON object"),
    ({"code": 1, "tests": {"kind": "stdin", "cases": []}}, "code must be a string"),
    ({"code": "x", "tests": [1]}, "tests must be an object"),
    ({"code": "x", "tests": {"kind": "shell"}}, "tests.kind must be one of"),
    ({"code": "x", "tests": {"kind": "stdin", "cases": "1 2"}}, "tests.cases must be a list"),
    ({"code": "x", "tests": {"kind": "stdin", "cases": [{"input": "1"}]}}, "output must be a string"),
    ({"code": "x", "tests": {"kind": "call", "cases": [{"args": [], "expected": 1}]}}, "entry_point"),
    ({"code": "x", "tests": {"kind": "call", "entry_point": "f", "cases": [{"args": 1, "expected": 1}]}}, "'args' (a list)"),
    ({"code": "x", "tests": {"kind": "assert", "cases": [3]}}, "must be a non-empty string"),
    ({"code": "x", "tests": {"kind": "assert", "cases": ["assert ("]}}, "does not parse"),
    ({"code": "x", "tests": {"kind": "program", "entry_point": "f", "test": "x = 1"}}, "must define check"),
    ({"code": "x", "time_limit_s": "fast", "tests": {"kind": "stdin", "cases": []}}, "time_limit_s must be"),
]


@needs_jail
def test_bad_items_are_sandbox_errors_and_never_stall_the_batch():
    good = {"id": "ok", "code": "print(input())", "tests": {"kind": "stdin", "cases": [{"input": "5", "output": "5"}]}}
    items = [good] + [b for b, _ in BAD] + [good]
    res = judge(items, workers=2)
    assert len(res) == len(items) and res[0]["passed"] and res[-1]["passed"]
    for (bad, msg), r in zip(BAD, res[1:-1]):
        assert statuses(r) == ["sandbox_error"] and not r["passed"], r
        assert msg in r["cases"][0]["stderr"], (msg, r["cases"][0]["stderr"])


@needs_jail
def test_order_and_ids_kept_across_workers():
    items = [{"id": f"i{k}", "code": f"def f():\n    return {k}",
              "tests": {"kind": "call", "entry_point": "f", "cases": [{"args": [], "expected": k if k % 3 else -1}]}}
             for k in range(12)]
    res = judge(items, workers=3)
    assert [r["id"] for r in res] == [f"i{k}" for k in range(12)]
    assert [r["passed"] for r in res] == [bool(k % 3) for k in range(12)]


def test_isolation_none_is_recorded_and_still_judges():
    res = judge([{"id": "n", "code": "print(6 * 7)", "tests": {"kind": "stdin", "cases": [{"input": "", "output": "42"}]}}],
                isolation="none")[0]
    assert res["passed"] and res["isolation"] == "none"


def test_unknown_isolation_is_refused():
    with pytest.raises(ValueError, match="isolation must be"):
        judge([], isolation="docker")


@needs_jail
def test_cli_judge_roundtrip(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "code": "print(int(input()) * 2)",
                               "tests": {"kind": "stdin", "cases": [{"input": "21", "output": "42"}]}}) + "\nnot json\n")
    out = tmp_path / "out.jsonl"
    r = subprocess.run([sys.executable, "-m", "sandbox", "judge", str(src), "-o", str(out), "--workers", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["passed"] and rows[0]["isolation"] == "firejail"
    assert rows[1]["cases"][0]["status"] == "sandbox_error" and "not JSON" in rows[1]["cases"][0]["stderr"]


@needs_jail
def test_doctor_proves_isolation():
    r = subprocess.run([sys.executable, "-m", "sandbox", "doctor"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for check in ("network off", "canary file unreadable", "environment clean", "process limit holds",
                  "runs as the slot user", "seccomp"):
        assert check in r.stdout
    assert "FAIL" not in r.stdout and math.isfinite(len(r.stdout))


@needs_jail
def test_stdin_exception_fails_only_its_case():
    res = one("x = int(input())\nprint(10 // x)",
              {"kind": "stdin", "cases": [{"input": "0", "output": "1"}, {"input": "5", "output": "2"}]})
    assert statuses(res) == ["runtime_error", "pass"]
    assert "ZeroDivisionError" in res["cases"][0]["stderr"]


@needs_jail
def test_hash_order_is_deterministic_across_slots():
    code = "print(list({'apple', 'banana', 'cherry', 'date', 'elder', 'fig'}))"
    items = [{"id": k, "code": code, "tests": {"kind": "stdin", "cases": [{"input": "", "output": ""}]}} for k in range(6)]
    outs = {r["cases"][0]["stdout"] for r in judge(items, workers=3)}
    assert len(outs) == 1, outs


@needs_jail
def test_fast_io_idioms_work_on_large_input():
    n = 200_000
    code = ("import sys\ninput = sys.stdin.buffer.readline\nn = int(input())\n"
            "sys.stdout.buffer.write(b'%d\\n' % sum(int(input()) for _ in range(n)))\nprint('ok')")
    inp = f"{n}\n" + "\n".join(map(str, range(n))) + "\n"
    res = one(code, {"kind": "stdin", "cases": [{"input": inp, "output": f"{sum(range(n))}\nok"}]}, time_limit_s=5)
    assert statuses(res) == ["pass"], res["cases"][0]["stderr"]


@needs_jail
def test_item_without_cases_is_returned_unrun_and_not_passed():
    good = {"id": "ok", "code": "print(input())", "tests": {"kind": "stdin", "cases": [{"input": "5", "output": "5"}]}}
    empty = [{"id": "s", "code": "print(1)", "tests": {"kind": "stdin", "cases": []}},
             {"id": "c", "code": "def f():\n    return 1", "tests": {"kind": "call", "entry_point": "f", "cases": []}},
             {"id": "a", "code": "def f():\n    return 1", "tests": {"kind": "assert", "cases": []}}]
    res = judge(empty + [good], workers=2)
    for r, item in zip(res, empty):
        assert r["id"] == item["id"] and r["cases"] == [] and r["n_cases"] == 0 and r["n_passed"] == 0, r
        assert r["passed"] is False and "no test cases" in r["judge_rule"] and r["isolation"] == "firejail"
    assert res[-1]["passed"]


@needs_jail
def test_worker_answers_a_job_without_cases_and_stays_up():
    from sandbox import judging
    from sandbox.plan import plan

    slot = judging._pool(1, judging.resolve_isolation("firejail"))[0]
    if not slot.alive:
        judging._start(slot)
    job = plan({"code": "print(1)", "tests": {"kind": "stdin", "cases": []}, "time_limit_s": 1}).job
    frames, end = slot.run(job, job["wall_s"])
    assert frames == {} and end.get("end") and slot.alive


LOOPS_ON_ONE = "def f(x):\n    while x == 1:\n        pass\n    return x"
THREE_CALLS = {"kind": "call", "entry_point": "f", "cases": [{"args": [k], "expected": k} for k in (1, 2, 3)]}


@needs_jail
def test_after_a_timeout_later_cases_are_timeout_without_running():
    res = one(LOOPS_ON_ONE, THREE_CALLS, time_limit_s=0.3)
    assert statuses(res) == ["timeout"] * 3 and res["n_passed"] == 0 and not res["passed"]
    assert "not run" not in res["cases"][0]["stderr"]
    for c in res["cases"][1:]:
        assert c["stderr"].endswith("[judge] not run: an earlier case timed out") and c["time_ms"] == 0.0, c


@needs_jail
def test_stdin_after_a_timeout_later_cases_are_not_run():
    code = "import sys\nif sys.stdin.read().strip() == 'loop':\n    while True:\n        pass\nprint('ok')"
    tests = {"kind": "stdin", "cases": [{"input": "x", "output": "ok"}, {"input": "loop", "output": "ok"},
                                        {"input": "y", "output": "ok"}]}
    res = one(code, tests, time_limit_s=0.3)
    assert statuses(res) == ["pass", "timeout", "timeout"]
    assert "[judge] not run: an earlier case timed out" in res["cases"][2]["stderr"]


@needs_jail
def test_stop_on_timeout_false_runs_every_case():
    res = one(LOOPS_ON_ONE, THREE_CALLS, time_limit_s=0.3, stop_on_timeout=False)
    assert statuses(res) == ["timeout", "pass", "pass"]
    assert all("not run" not in c["stderr"] for c in res["cases"])


@needs_jail
def test_stop_on_timeout_must_be_a_bool():
    res = one("def f(x):\n    return x", THREE_CALLS, stop_on_timeout="yes")
    assert statuses(res) == ["sandbox_error"] and "stop_on_timeout must be true or false" in res["cases"][0]["stderr"]


@needs_jail
def test_stdio_state_does_not_leak_into_the_next_run():
    # the worker builds the runs' text streams once; each run must still start from a clean copy
    first = {"id": "a", "code": "import sys\nsys.stdout.reconfigure(encoding='latin-1')\nsys.stdout.write('half')\n"
             "sys.stdin.read()\nprint('\\u00e9')",
             "tests": {"kind": "stdin", "cases": [{"input": "x" * 5000, "output": ""}]}}
    second = {"id": "b", "code": "import sys\nprint(sys.stdin.read().strip(), '\\u00e9', sys.stdout.encoding)",
              "tests": {"kind": "stdin", "cases": [{"input": "ok", "output": "ok \u00e9 utf-8"}]}}
    res = judge([first, second, second], workers=1)
    assert [r["passed"] for r in res[1:]] == [True, True], [r["cases"][0] for r in res]


@needs_jail
def test_broken_test_setup_fails_each_case_without_spoiling_the_next_sample():
    tests = {"kind": "assert", "setup": "x = (", "cases": ["assert f(1) == 1", "assert f(2) == 2"]}
    bad = one("def f(x):\n    return x", tests)  # broken test data: the judge's, never the candidate's failure
    assert statuses(bad) == ["sandbox_error"] and "SyntaxError" in bad["cases"][0]["stderr"]
    assert "bad item" in bad["cases"][0]["stderr"]
    tests = {"kind": "assert", "setup": "x = 1 / 0", "cases": ["assert f(1) == 1", "assert f(2) == 2"]}
    bad = one("def f(x):\n    return x", tests)  # a setup that raises: every case fails, visibly
    assert statuses(bad) == ["runtime_error", "runtime_error"] and "ZeroDivisionError" in bad["cases"][0]["stderr"]
    good = one("def f(x):\n    return x", dict(tests, setup="y = 1"))
    assert good["passed"], good


def test_kill_by_uid_never_hits_a_process_of_another_user():
    """Cleanup kills a slot user's processes by pid; a pid reused by another user's process in
    between (pid_max can be 32768) must not be hit: the uid is checked on a pinned pidfd."""
    import os

    from sandbox.jail import _kill_if_uid

    proc = subprocess.Popen(["sleep", "30"])
    try:
        _kill_if_uid(proc.pid, os.getuid() + 12345)  # as if the pid now belonged to someone else
        assert proc.poll() is None
        _kill_if_uid(proc.pid, os.getuid())
        assert proc.wait(timeout=5) == -9
    finally:
        proc.kill()
