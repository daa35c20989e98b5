"""Ingested problems are judgeable as they are: every canonical solution passes its own public
and private tests in the real sandbox (catches a test object the sandbox cannot run, a wrong
public/private split, or a broken entry point)."""

from __future__ import annotations

import json

from conftest import FIXTURES
from ctrl.ingest import IngestConfig, run
from sandbox import judge

DATA = FIXTURES / "datasets"


def _items(store, key: str) -> list[dict]:
    rows = store.read_table("problems", key).to_pylist()
    items = []
    for r in rows:
        if not r["canonical_solution"]:
            continue
        for test_set in ("public_tests", "private_tests"):
            tests = json.loads(r[test_set])
            if tests.get("cases") == []:
                continue
            items.append({"id": f"{r['problem_id']}#{test_set}", "code": r["canonical_solution"],
                          "tests": tests, "time_limit_s": r["time_limit_s"],
                          "memory_mb": r["memory_mb"]})
    return items


def test_canonical_solutions_pass_their_tests_in_the_sandbox(store):
    keys = [
        run(store, IngestConfig(source="humaneval")).key,
        run(store, IngestConfig(source="mbpp", split="test")).key,  # mbpp/237: tuple keys
        run(store, IngestConfig(source=str(DATA / "apps" / "test.jsonl"), format="apps")).key,
        run(store, IngestConfig(source=str(DATA / "taco"), format="taco")).key,
        run(store, IngestConfig(source=str(DATA / "code_contests-test.parquet"),
                                format="codecontests")).key,
    ]
    items = [it for k in keys for it in _items(store, k)]
    # LiveCodeBench ships no solutions: judge hand-written ones (checks Solution.method calls
    # with JSON-line arguments, and decompressed private stdin tests)
    lcb = run(store, IngestConfig(source=str(DATA / "livecodebench" / "test.jsonl"),
                                  format="livecodebench")).key
    solutions = {
        "livecodebench/abc001_a": "a, b = map(int, input().split())\nprint(a + b)\n",
        "livecodebench/3001": ("class Solution:\n    def maxPairSum(self, nums, k):\n"
                               "        return None if k == 0 else sum(sorted(nums)[-2:])\n"),
    }
    for r in store.read_table("problems", lcb).to_pylist():
        for test_set in ("public_tests", "private_tests"):
            items.append({"id": f"{r['problem_id']}#{test_set}",
                          "code": solutions[r["problem_id"]], "tests": json.loads(r[test_set]),
                          "time_limit_s": r["time_limit_s"], "memory_mb": r["memory_mb"]})
    assert len(items) > 1300
    kinds = {it["tests"]["kind"] for it in items}
    assert kinds == {"assert", "program", "stdin", "call"}
    # canonical solutions are trusted code: rlimits only, so the test needs no firejail host
    results = judge(items, isolation="none", workers=2)
    failed = [(r["id"], r["cases"][:1]) for r in results if not r["passed"]]
    assert failed == []
    assert all(r["n_cases"] >= 1 for r in results)
    # and the tests do discriminate: a wrong program fails them
    wrong = [dict(it, code=it["code"].replace("return [n, n]", "return [n]"))
             for it in items if it["id"].startswith("apps/test/4004")]
    wrong += [dict(it, code="print(0)") for it in items if it["id"].startswith("codecontests/")]
    assert wrong and not any(r["passed"] for r in judge(wrong, isolation="none", workers=2))
