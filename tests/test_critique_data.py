"""Hand-made stage-I inputs (problems, rollouts, executions) with one solution per hint kind.

Shared by the critique, revision, SFT and evaluation tests. Execution rows mirror what the
``executions`` stage writes from the sandbox's results (docs/internals.md), so every hint kind
(all_pass, all_fail, partial, timeout, error) appears once per problem.
"""

from __future__ import annotations

import json

PROBLEMS = [
    dict(problem_id="mbpp/2", entry_point="similar_elements",
         statement="Write a function to find the shared elements from the given two lists.",
         cases=["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))",
                "assert set(similar_elements((11, 12, 14, 13),(17, 15, 14, 13))) == set((13, 14))"],
         good="def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"),
    dict(problem_id="mbpp/3", entry_point="is_not_prime",
         statement="Write a python function to identify non-prime numbers.",
         cases=["assert is_not_prime(2) == False", "assert is_not_prime(10) == True",
                "assert is_not_prime(35) == True", "assert is_not_prime(37) == False"],
         good="def is_not_prime(n):\n    return n < 2 or any(n % d == 0 for d in range(2, int(n ** 0.5) + 1))\n"),
]

# (variant, code, per-case statuses, stderr of failing cases)
VARIANTS = {
    "pass": ("good", "pass"),
    "wrong": ("def {ep}(*a):\n    return None\n", "wrong_answer"),
    "partial": ("good", "partial"),
    "slow": ("def {ep}(*a):\n    while True:\n        pass\n", "timeout"),
    "crash": ("def {ep}(*a):\n    return a[0] +\n", "syntax_error"),
}
EXPECTED_KIND = {"pass": "all_pass", "wrong": "all_fail", "partial": "partial",
                 "slow": "timeout", "crash": "error"}


def problem_rows() -> list[dict]:
    rows = []
    for p in PROBLEMS:
        tests = json.dumps({"kind": "assert", "cases": p["cases"]})
        rows.append(dict(problem_id=p["problem_id"], source="mbpp", split="train", difficulty=None,
                         statement=p["statement"], starter_code="", entry_point=p["entry_point"],
                         test_kind="assert", public_tests=tests, private_tests=tests,
                         test_split_rule="same", time_limit_s=2.0, memory_mb=256,
                         canonical_solution=p["good"], meta="{}"))
    return rows


def _code(p: dict, variant: str) -> str:
    code, _ = VARIANTS[variant]
    if code == "good":
        code = p["good"]
        if variant == "partial":  # wrong on the last case only
            code = code.replace("return ", "if n == 37:\n        return True\n    return ") \
                if p["entry_point"] == "is_not_prime" else \
                "def similar_elements(a, b):\n    s = set(a) & set(b)\n    return tuple(s) if 14 not in s else (14,)\n"
    return code.format(ep=p["entry_point"])


def rollout_rows() -> list[dict]:
    rows = []
    for p in PROBLEMS:
        for i, v in enumerate(VARIANTS):
            code = _code(p, v)
            prompt = [{"role": "user", "content": p["statement"]}]
            rows.append(dict(rollout_id=f"{p['problem_id']}/{v}", problem_id=p["problem_id"],
                             model="hand", turn=0, sample_idx=i, prompt=prompt,
                             completion=f"```python\n{code}```", code=code, code_found=True,
                             finish_reason="stop", n_tokens=40, temperature=0.7, seed=0,
                             skip_reason=None))
    return rows


def _case(status: str, src: str, stderr: str = "") -> dict:
    return dict(status=status, time_ms=2000 if status == "timeout" else 3, stdout="",
                stderr=stderr, input=src, expected="True")


def execution_rows() -> list[dict]:
    rows = []
    for p in PROBLEMS:
        for v, (_, how) in VARIANTS.items():
            n = len(p["cases"])
            if how == "pass":
                cases = [_case("pass", c) for c in p["cases"]]
            elif how == "partial":
                cases = [_case("pass", c) for c in p["cases"][:-1]]
                cases.append(_case("wrong_answer", p["cases"][-1],
                                   'Traceback (most recent call last):\n  File "main.py", line 9, '
                                   f'in <module>\n    {p["cases"][-1]}\nAssertionError'))
            elif how == "syntax_error":
                cases = [_case("syntax_error", c, "SyntaxError: invalid syntax") for c in p["cases"]]
            else:
                cases = [_case(how, c, "AssertionError" if how == "wrong_answer" else "")
                         for c in p["cases"]]
            n_ok = sum(c["status"] == "pass" for c in cases)
            status = next((c["status"] for c in cases if c["status"] != "pass"), "pass")
            for test_set in ("public", "private"):
                rows.append(dict(rollout_id=f"{p['problem_id']}/{v}", problem_id=p["problem_id"],
                                 test_set=test_set, passed=n_ok == n, n_cases=n, n_passed=n_ok,
                                 status=status, cases=cases, isolation="none",
                                 judge_rule="assert"))
    return rows


def write(store, table: str, rows: list[dict], key: str) -> str:
    w = store.open_writer(table, key, stage="hand", config={}, inputs={}, code_version="0")
    w.write_shard(0, rows)
    w.commit()
    return key


def stage1_inputs(store) -> dict[str, str]:
    """Write the three tables; returns their keys (``problems``, ``rollouts``, ``executions``)."""
    return dict(problems=write(store, "problems", problem_rows(), "a" * 16),
                rollouts=write(store, "rollouts", rollout_rows(), "b" * 16),
                executions=write(store, "executions", execution_rows(), "c" * 16))
