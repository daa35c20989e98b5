"""Reference rollouts: canonical solutions pass and every broken variant fails, in the real sandbox."""

from __future__ import annotations

import ast
import json

import pytest

from ctrl import reference
from ctrl.config import ConfigError
from ctrl.reference import GUARANTEED, ReferenceConfig, broken_code, canonical_code


@pytest.fixture
def problems(store):
    """3 HumanEval and 3 MBPP problems through the real ingest stage (one artifact each)."""
    from ctrl.ingest import IngestConfig, run

    keys = [run(store, IngestConfig(source=s, split="test", limit=3)).key
            for s in ("humaneval", "mbpp")]
    rows = [r for k in keys for r in store.read_table("problems", k).to_pylist()]
    return keys, rows


def _judge(items):
    from sandbox import judge

    return {r["id"]: r for r in judge(items, workers=2)}


def test_canonical_passes_and_each_guaranteed_mutation_fails(problems):
    _, rows = problems
    items, labels = [], {}
    for p in rows:
        code = canonical_code(p)
        assert code and p["entry_point"] in code
        variants = {"canonical": code}
        for m in GUARANTEED:
            variants[m] = broken_code(p, code, m)
        for name, src in variants.items():
            iid = f"{p['problem_id']}:{name}"
            labels[iid] = name == "canonical"
            items.append({"id": iid, "code": src, "tests": json.loads(p["private_tests"]),
                          # loops burn their whole limit: keep theirs short
                          "time_limit_s": 0.2 if name == "infinite_loop" else 2.0,
                          "memory_mb": 512})
    results = _judge(items)
    wrong = {i: (results[i]["passed"], [c["status"] for c in results[i]["cases"]])
             for i in labels if results[i]["passed"] is not labels[i]}
    assert not wrong, wrong
    loops = [results[i] for i in labels if i.endswith(":infinite_loop")]
    assert all(r["cases"][0]["status"] == "timeout" for r in loops)
    raises = [results[i] for i in labels if i.endswith(":raise")]
    assert all("deliberately broken" in r["cases"][0]["stderr"] for r in raises)


def test_ast_mutations_change_code_deterministically(problems):
    _, rows = problems
    for p in rows:
        code = canonical_code(p)
        for m in ("flip_comparison", "off_by_one"):
            a, b = broken_code(p, code, m), broken_code(p, code, m)
            assert a == b
            if a is not None:
                assert a != code
                ast.parse(a)


def test_stage_writes_rollouts_with_labels_and_is_cached(store, problems):
    keys, rows = problems
    cfg = ReferenceConfig(n_broken=2, mutations=GUARANTEED)
    res = reference.run(store, cfg, problems=keys[1])
    out = store.read_table("rollouts", res.key).to_pylist()
    assert res.rows == len(out) == 3 * 3
    assert {r["model"] for r in out} == {"canonical", "canonical-broken"}
    from ctrl.extract import extract_code

    assert all(r["code_found"] and extract_code(r["completion"]).code == r["code"] for r in out)
    assert all(r["mutation"] in GUARANTEED for r in out if r["model"] == "canonical-broken")
    assert len({r["rollout_id"] for r in out}) == len(out)
    assert reference.run(store, cfg, problems=keys[1]).cached
    other = reference.run(store, ReferenceConfig(n_broken=2, mutations=GUARANTEED, seed=7),
                          problems=keys[1])
    assert other.key != res.key
    summary = reference.summary(store, res.key)
    assert summary["canonical"] == 3 and sum(summary.values()) == 9


def test_problems_without_canonical_solution_are_skipped():
    p = {"problem_id": "apps/1", "statement": "x", "canonical_solution": None,
         "private_tests": json.dumps({"kind": "stdin", "cases": []})}
    assert reference.reference_rows(p, ReferenceConfig()) == []


def test_stdin_mutations_fail():
    p = {"problem_id": "toy/1", "statement": "sum", "entry_point": "", "test_kind": "stdin",
         "private_tests": json.dumps({"kind": "stdin", "cases": [{"input": "1 2\n",
                                                                  "output": "3\n"}]})}
    code = "print(sum(map(int, input().split())))\n"
    items = [{"id": m, "code": broken_code(p, code, m) if m != "ok" else code,
              "tests": json.loads(p["private_tests"]), "time_limit_s": 1.0, "memory_mb": 256}
             for m in (*GUARANTEED, "ok")]
    res = _judge(items)
    assert res["ok"]["passed"] is True
    assert [m for m in GUARANTEED if res[m]["passed"]] == []


def test_config_rejects_unknown_mutation():
    with pytest.raises(ConfigError, match="unknown"):
        ReferenceConfig(mutations=("delete_everything",))
