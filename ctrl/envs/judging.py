"""One batched ``sandbox.judge`` call for many codes, as executions-stage rows.

Rows have the executions format (``ctrl.execute.result_row``: passed, status, n_passed, n_cases,
cases ...). ``mode="reward"`` stops each item at its first failing case (binary rewards; ``cases``
then holds only the cases that ran); ``mode="full"`` runs every case, as the executions stage does.
"""

from __future__ import annotations

import json


def judge_codes(items: list[dict], problems: dict[str, dict], *, test_set: str = "private",
                isolation: str = "auto", workers: int | None = None,
                mode: str = "full") -> list[dict]:
    """Execution rows, in order, for ``items`` (dicts with rollout_id, problem_id, code,
    code_found and optionally skip_reason) on ``test_set`` of their problems."""
    from ctrl.execute import (_count_cases, _has_code, no_code_row, no_tests_row, result_row,
                              sandbox_error_row)
    from sandbox import judge

    if mode not in ("full", "reward"):
        raise ValueError(f"mode={mode!r}: use 'full' or 'reward'")
    rows: list[dict | None] = [None] * len(items)
    todo, kinds, jobs = [], [], []
    for k, r in enumerate(items):
        p = problems[r["problem_id"]]
        try:
            tests = json.loads(p[f"{test_set}_tests"])
        except (TypeError, json.JSONDecodeError) as e:
            rows[k] = sandbox_error_row(r, test_set, f"problem {p['problem_id']}: {test_set}_tests"
                                        f" is not valid JSON ({e}); re-ingest the problem")
            continue
        n_cases = _count_cases(tests)
        if not n_cases:
            rows[k] = no_tests_row(r, test_set)
        elif not _has_code(r):
            rows[k] = no_code_row(r, test_set, n_cases)
        else:
            todo.append(k)
            kinds.append(tests.get("kind"))
            jobs.append({"id": str(k), "code": r["code"], "tests": tests, "mode": mode,
                         "time_limit_s": p.get("time_limit_s") or 10.0,
                         "memory_mb": p.get("memory_mb") or 1024})
    if jobs:
        got = {res["id"]: res for res in judge(jobs, workers=workers, isolation=isolation)}
        for k, kind in zip(todo, kinds):
            res = got.get(str(k))
            rows[k] = result_row(items[k], test_set, res, kind) if res is not None else \
                sandbox_error_row(items[k], test_set, "the sandbox returned no result")
    return rows  # type: ignore[return-value]
