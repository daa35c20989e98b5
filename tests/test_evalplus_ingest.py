"""`ctrl ingest --source humaneval+|mbpp+` through the real sandbox: EvalPlus's base inputs become
the public tests and base + plus the private ones, arguments reach the function as EvalPlus passes
them, expected outputs are what the canonical solution returns, and each canonical solution passes
its own private tests."""

from __future__ import annotations

import copy
import gzip
import json

import pytest

from ctrl.cli import main as ctrl_main
from ctrl.datasets import evalplus
from ctrl.datasets.common import Options
from ctrl.ingest import IngestConfig, run
from sandbox import judge
from sandbox.codec import decode, encode
from storage import Store

# the first 33 HumanEval+ problems reach HumanEval/32 (find_zero); the first 8 MBPP+ ones hold
# the set-eq tasks Mbpp/2 and Mbpp/7 and tuple arguments
LIMITS = {"humaneval+": 33, "mbpp+": 8}


def native(source: str) -> dict[str, dict]:
    ds = {"humaneval+": evalplus.HUMANEVAL_PLUS, "mbpp+": evalplus.MBPP_PLUS}[source]
    with gzip.open(evalplus.data_path(ds), "rt", encoding="utf-8") as f:
        return {r["task_id"]: r for r in map(json.loads, f)}


def problems(store: Store, key: str) -> dict[str, dict]:
    rows = store.read_table("problems", key).to_pylist()
    for r in rows:
        r["public"], r["private"] = json.loads(r["public_tests"]), json.loads(r["private_tests"])
        r["meta"] = json.loads(r["meta"])
    return {r["problem_id"]: r for r in rows}


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """The first problems of both sources, ingested once for this module's fast tests."""
    store = Store(str(tmp_path_factory.mktemp("evalplus") / "home"))
    results = {s: run(store, IngestConfig(source=s, limit=n)) for s, n in LIMITS.items()}
    return store, results


def assert_rows_match_dataset(store: Store, key: str, source: str) -> dict[str, dict]:
    rows, nat = problems(store, key), native(source)
    prefix = {"humaneval+": "HumanEval", "mbpp+": "Mbpp"}[source]
    for pid, r in rows.items():
        raw = nat[f"{prefix}/{pid.split('/')[1]}"]
        meta, pub, priv = r["meta"], r["public"], r["private"]
        assert (r["source"], r["split"], r["test_kind"]) == (source, "test", "call")
        for tests in (pub, priv):
            assert tests["kind"] == "call" and tests["compare"] == "evalplus"
            assert tests["entry_point"] == raw["entry_point"]
            assert tests["atol"] == raw["atol"] and type(tests["atol"]) is type(raw["atol"])
        # public = the base inputs that survived, private = those followed by the plus inputs
        assert r["n_public"] == len(pub["cases"]) == meta["n_base"]
        assert r["n_private"] == len(priv["cases"]) == meta["n_base"] + meta["n_plus"]
        assert priv["cases"][: r["n_public"]] == pub["cases"]
        n_in = len(raw["base_input"]) + len(raw["plus_input"] or [])
        assert meta["n_base"] + meta["n_plus"] + sum(meta["dropped"].values()) == n_in
        assert r["canonical_solution"] == raw["prompt"] + raw["canonical_solution"]
        assert r["time_limit_s"] == evalplus.TIME_LIMIT_S and r["memory_mb"] == evalplus.MEMORY_MB
    return rows


def test_subset_rows_keep_base_and_plus_inputs_atol_and_oracles(subset):
    store, results = subset
    he = assert_rows_match_dataset(store, results["humaneval+"].key, "humaneval+")
    mb = assert_rows_match_dataset(store, results["mbpp+"].key, "mbpp+")
    assert len(he) == 33 and len(mb) == 8
    assert he["humaneval+/0"]["statement"] == he["humaneval+/0"]["starter_code"]
    assert he["humaneval+/0"]["statement"].lstrip().startswith("from typing import List")
    assert mb["mbpp+/2"]["statement"].startswith("Write a function to find the shared elements")
    assert "Your code should pass this test:\n\nassert set(similar_elements(" in (
        mb["mbpp+/2"]["statement"])
    assert he["humaneval+/32"]["private"]["oracle"] == "find_zero"
    assert he["humaneval+/32"]["private"]["atol"] == 0.0001
    assert mb["mbpp+/2"]["private"]["oracle"] == mb["mbpp+/7"]["private"]["oracle"] == "set_eq"
    assert {r["private"]["oracle"] for p, r in he.items() if p != "humaneval+/32"} == {None}
    assert {r["private"]["oracle"] for p, r in mb.items()
            if p not in ("mbpp+/2", "mbpp+/7")} == {None}


def test_statements_for_decontamination_match_the_rows_without_a_sandbox_run(subset):
    from ctrl.datasets import adapter

    store, results = subset
    for source, res in results.items():
        mod = adapter(source)
        want = {pid: r["statement"] for pid, r in problems(store, res.key).items()}
        got = dict(mod.statements(mod.load("test").rows))
        assert len(got) == {"humaneval+": 164, "mbpp+": 378}[source]
        assert {pid: got[pid] for pid in want} == want


def test_arguments_are_what_evalplus_passes(subset):
    store, results = subset
    he = problems(store, results["humaneval+"].key)
    raw = native("humaneval+")["HumanEval/8"]
    # HumanEval+: json.loads values as they are (HumanEval/8 has a `{}` argument)
    assert he["humaneval+/8"]["private"]["cases"][600]["args"] == [{"$d": []}]
    assert [decode(c["args"]) for c in he["humaneval+/8"]["private"]["cases"]] == (
        raw["base_input"] + raw["plus_input"])
    # MBPP+: EvalPlus turns Mbpp/2's JSON lists back into tuples
    mb = problems(store, results["mbpp+"].key)
    first = mb["mbpp+/2"]["public"]["cases"][0]
    assert first["args"] == [{"$t": [3, 4, 5, 6]}, {"$t": [5, 7, 4, 10]}]
    assert set(decode(first["expected"])) == {4, 5}


def test_mbpp_inputs_deserialize_like_evalplus():
    args = evalplus.mbpp_deserialize_inputs("Mbpp/124", [["1", "(-0-1j)"]])
    assert args == [(1.0, complex(-0.0, -1.0))]
    assert encode(list(args[0])) == [1.0, {"$c": [-0.0, -1.0]}]
    row = native("mbpp+")["Mbpp/722"]
    (first, *_), = evalplus.mbpp_deserialize_inputs("Mbpp/722", row["base_input"][:1])
    assert isinstance(first, dict) and all(isinstance(v, tuple) for v in first.values())
    # Mbpp/793's plus_input is `{}`: EvalPlus iterates it and runs nothing
    assert evalplus._inputs(evalplus.MBPP_PLUS, native("mbpp+")["Mbpp/793"], "plus_input") == []


def test_expected_outputs_are_what_the_canonical_solution_returns(subset):
    store, results = subset
    rows = {**problems(store, results["humaneval+"].key), **problems(store, results["mbpp+"].key)}
    for pid in ("humaneval+/0", "humaneval+/8", "humaneval+/32", "mbpp+/2", "mbpp+/3"):
        r = rows[pid]
        ns: dict = {}
        exec(r["canonical_solution"], ns)  # trusted dataset code
        fn = ns[r["entry_point"]]
        for case in r["private"]["cases"]:
            got, want = fn(*copy.deepcopy(decode(case["args"]))), decode(case["expected"])
            if r["private"]["oracle"] == "set_eq":  # iteration order of a set of str varies
                got, want = set(got), set(want)
            assert got == want and type(got) is type(want), (pid, case["args"])


def test_ingest_records_outputs_drops_and_time_and_is_cached(subset):
    store, results = subset
    m = results["humaneval+"].metrics
    assert m["problems"] == 33 and m["quarantined"] == 0 and m["seconds"] > 0
    assert m["expected_outputs_computed"] == m["inputs"] > 20_000
    assert m["cases_kept"] + m["inputs_dropped"] == m["inputs"]
    # HumanEval/14 and /15 return strings over 64 KB on their largest inputs
    assert m["inputs_dropped_by_reason"]["too_large"] >= 30
    manifest = store.read_manifest("problems", results["humaneval+"].key)
    assert manifest["metrics"] == m and manifest["inputs"]["adapter"] == evalplus.VERSION
    again = run(store, IngestConfig(source="humaneval+", limit=LIMITS["humaneval+"]))
    assert again.cached and again.key == results["humaneval+"].key


def test_problem_with_no_working_input_is_quarantined_with_counts():
    rows = [("test", 0, {"task_id": "HumanEval/900", "prompt": "def f(x):\n",
                         "canonical_solution": "    return 1 // 0 if x == 9 else 'x' * x\n",
                         "entry_point": "f", "base_input": [[1], [9]],
                         "plus_input": [[100_000]], "atol": 0}),
            ("test", 1, {"task_id": "HumanEval/901", "prompt": "def g(x):\n",
                         "canonical_solution": "    raise ValueError(x)\n", "entry_point": "g",
                         "base_input": [[1], [2]], "plus_input": [[3]], "atol": 0})]
    (_, kept), (_, bad) = evalplus.normalize_all(evalplus.HUMANEVAL_PLUS, rows, Options())
    assert json.loads(kept["private_tests"])["cases"] == [{"args": [1], "expected": "x"}]
    assert json.loads(kept["meta"])["dropped"] == {"runtime_error": 1, "too_large": 1}
    assert isinstance(bad, evalplus.BadRow)
    assert "all 3 inputs dropped" in str(bad) and "3 runtime_error" in str(bad)


def test_cli_ingest_of_mbpp_plus_again_is_a_cache_hit(subset, capsys, monkeypatch):
    store, _ = subset
    monkeypatch.setenv("CTRL_HOME", str(store.root))
    assert ctrl_main(["ingest", "--source", "mbpp+", "--limit", "8"]) == 0
    out = capsys.readouterr().out
    assert "ingest mbpp+" in out and "cache hit" in out and "8 problems" in out


def round_trip(store: Store, keys: list[str]) -> list[tuple]:
    """Each canonical solution judged against its own private tests (trusted code: rlimits only,
    as tests/test_ingest_sandbox.py does)."""
    items = [{"id": r["problem_id"], "code": r["canonical_solution"], "tests": r["private"],
              "time_limit_s": r["time_limit_s"], "memory_mb": r["memory_mb"]}
             for k in keys for r in problems(store, k).values()]
    results = judge(items, isolation="none", workers=2)
    first_fail = [(r["id"], next(c for c in r["cases"] if c["status"] != "pass"))
                  for r in results if not r["passed"]]
    return [(pid, c["status"], c["input"][:80], c["expected"][:80], c["stdout"][:80])
            for pid, c in first_fail]


def test_canonical_solutions_pass_their_private_tests(subset):
    store, results = subset
    assert round_trip(store, [r.key for r in results.values()]) == []


@pytest.mark.slow
def test_full_ingest_of_both_sources(store):
    he, mb = run(store, IngestConfig(source="humaneval+")), run(store,
                                                               IngestConfig(source="mbpp+"))
    assert (he.rows, he.metrics["quarantined"]) == (164, 0)
    assert (mb.rows, mb.metrics["quarantined"]) == (378, 0)
    assert_rows_match_dataset(store, he.key, "humaneval+")
    rows = assert_rows_match_dataset(store, mb.key, "mbpp+")
    oracles = {r["private"]["oracle"] for r in rows.values()}
    assert oracles == {None, "set_eq", "not_none", "surface_area", "digit_distance"}
    for m, n_in in ((he.metrics, 1570 + 122683), (mb.metrics, 41015)):
        assert m["inputs"] == n_in and m["cases_kept"] + m["inputs_dropped"] == n_in
        assert m["inputs_dropped"] < 0.002 * n_in
    assert round_trip(store, [he.key, mb.key]) == []
