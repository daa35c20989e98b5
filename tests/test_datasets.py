"""Dataset adapters on real data (HumanEval, MBPP) and real-schema fixtures (APPS, TACO,
CodeContests, LiveCodeBench), read through the real `datasets` library; no store needed."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pytest

from conftest import FIXTURES
from ctrl.datasets import BadRow, Options, adapter, normalize_all
from ctrl.datasets.livecodebench import decode_cases
from ctrl.datasets.loading import load_source

DATA = FIXTURES / "datasets"


def ingest_rows(fmt: str, source: str, opts: Options = Options()):
    """(problems by problem_id, BadRows by native id) for a fixture."""
    mod = adapter(fmt)
    raw = load_source(source, None)
    out = normalize_all(mod, raw.rows, opts)
    good = {r["problem_id"]: r for _, r in out if isinstance(r, dict)}
    bad = {mod.native_id(row, split, i): r for (split, i, row), (_, r) in zip(raw.rows, out)
           if isinstance(r, BadRow)}
    return good, bad


def split_tests(row: dict) -> tuple[dict, dict]:
    return json.loads(row["public_tests"]), json.loads(row["private_tests"])


def test_humaneval_all_164_with_program_tests_and_verified_examples():
    mod = adapter("humaneval")
    raw = mod.load(None)
    rows = [r for _, r in normalize_all(mod, raw.rows, Options())]
    assert len(rows) == 164 and all(isinstance(r, dict) for r in rows)
    assert {r["split"] for r in rows} == {"test"}
    first = rows[0]
    assert first["problem_id"] == "humaneval/0" and first["entry_point"] == "has_close_elements"
    pub, priv = split_tests(first)
    assert priv == {"kind": "program", "entry_point": "has_close_elements",
                    "test": raw.rows[0][2]["test"]}
    assert pub["kind"] == "assert"
    assert "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False" in pub["cases"]
    # public examples really pass the canonical solution, which is complete runnable code
    ns: dict = {}
    exec(first["canonical_solution"], ns)
    for case in pub["cases"]:
        exec(case, dict(ns))
    no_public = [r["problem_id"] for r in rows if not json.loads(r["public_tests"])["cases"]]
    assert no_public == ["humaneval/32", "humaneval/38", "humaneval/50"]  # check() loops only
    # no docstring example parses for car_race_collision: the first check() assert is public
    car = next(r for r in rows if r["problem_id"] == "humaneval/41")
    assert split_tests(car)[0]["cases"] == ["assert car_race_collision(2) == 4"]
    assert "first top-level assert of check" in car["test_split_rule"]
    # asserts that never call the candidate (`assert True, "..."`) pass any code: never public
    trivially_true = [r["problem_id"] for r in rows
                      if any(c.startswith("assert True") for c in split_tests(r)[0]["cases"])]
    assert trivially_true == []
    # a docstring example with ➞ arrows is parsed too
    will_it_fly = next(r for r in rows if r["entry_point"] == "will_it_fly")
    assert "assert will_it_fly([3], 5) == True" in split_tests(will_it_fly)[0]["cases"]


def test_mbpp_974_official_splits_and_shown_test_is_public():
    mod = adapter("mbpp")
    raw = mod.load(None)
    rows = [r for _, r in normalize_all(mod, raw.rows, Options())]
    assert len(rows) == 974 and all(isinstance(r, dict) for r in rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["split"]] = counts.get(r["split"], 0) + 1
    assert counts == {"prompt": 10, "test": 500, "validation": 90, "train": 374}
    by_id = {r["problem_id"]: r for r in rows}
    assert by_id["mbpp/10"]["split"] == "prompt" and by_id["mbpp/11"]["split"] == "test"
    assert by_id["mbpp/600"]["split"] == "validation" and by_id["mbpp/601"]["split"] == "train"
    p1 = by_id["mbpp/1"]
    pub, priv = split_tests(p1)
    native = raw.rows[0][2]
    assert pub == {"kind": "assert", "entry_point": p1["entry_point"], "cases": native["test_list"][:1], "setup": ""}
    assert priv["cases"] == native["test_list"] + native["challenge_test_list"]
    assert native["test_list"][0] in p1["statement"] and native["text"] in p1["statement"]
    assert p1["entry_point"] == "min_cost" and "\r" not in p1["canonical_solution"]
    assert "\r\n" in native["code"]
    ns: dict = {}
    exec(p1["canonical_solution"], ns)
    for case in priv["cases"]:
        exec(case, dict(ns))
    # challenge tests and setup code are carried over where MBPP has them
    with_setup = [r for r in rows if json.loads(r["private_tests"])["setup"]]
    assert with_setup and all(json.loads(r["public_tests"])["setup"] for r in with_setup)


def test_mbpp_split_filter():
    raw = adapter("mbpp").load("validation")
    assert len(raw.rows) == 90 and {s for s, _, _ in raw.rows} == {"validation"}


def test_apps_jsonl_stdin_and_call_rows():
    good, bad = ingest_rows("apps", str(DATA / "apps" / "test.jsonl"))
    assert sorted(good) == ["apps/test/4001", "apps/test/4002", "apps/test/4003",
                            "apps/test/4004"]
    assert set(bad) == {"test/4005", "test/4006"}
    assert "not valid JSON" in str(bad["test/4005"]) and "no tests" in str(bad["test/4006"])
    stdin = good["apps/test/4001"]
    pub, priv = split_tests(stdin)
    assert stdin["test_kind"] == "stdin" and stdin["entry_point"] == "" and stdin["split"] == "test"
    assert pub == {"kind": "stdin", "cases": [{"input": "1 2\n", "output": "3\n"}]}
    assert priv["cases"] == [{"input": "3 4\n", "output": "7\n"},
                             {"input": "10 20\n", "output": "30\n"}]
    assert "first 1 of 3" in stdin["test_split_rule"]
    assert stdin["canonical_solution"].startswith("a, b = map(int")
    # list-of-lines input/output joined with newlines, as the APPS harness does
    assert split_tests(good["apps/test/4002"])[0]["cases"][0] == {"input": "a\nb", "output": "b\na"}
    call = good["apps/test/4003"]
    pub, priv = split_tests(call)
    assert call["test_kind"] == "call" and call["entry_point"] == "total"
    assert pub == {"kind": "call", "entry_point": "total", "compare": "json",
                   "cases": [{"args": [[1, 2, 3]], "expected": 6}]}
    assert priv["cases"] == [{"args": [[]], "expected": 0}, {"args": [[5]], "expected": 5}]
    leet = good["apps/test/4004"]
    assert leet["entry_point"] == "Solution.twice"
    assert split_tests(leet)[0]["cases"] == [{"args": [1], "expected": [1, 1]}]


def test_taco_save_to_disk_with_limits_and_bad_rows():
    good, bad = ingest_rows("taco", str(DATA / "taco"))
    assert sorted(good) == ["taco/train/0", "taco/train/1", "taco/train/2"]
    assert "2 inputs but 1 outputs" in str(bad["train/3"]) and "fn_name" in str(bad["train/4"])
    stdin = good["taco/train/0"]
    assert (stdin["time_limit_s"], stdin["memory_mb"], stdin["difficulty"]) == (2.0, 256, "EASY")
    pub, priv = split_tests(stdin)
    assert pub["cases"] == [{"input": "2\n3\n4\n", "output": "9\n16\n"}]
    assert [c["output"] for c in priv["cases"]] == ["25\n", "0\n"]
    assert json.loads(stdin["meta"])["source"] == "codechef"
    call = good["taco/train/1"]
    assert call["test_kind"] == "call" and call["time_limit_s"] == 10.0  # default when absent
    assert split_tests(call)[1] == {"kind": "call", "entry_point": "bigger", "compare": "json",
                                 "cases": [{"args": [5, 3], "expected": 5}]}


def test_codecontests_parquet_public_private_generated_and_cap():
    good, bad = ingest_rows("codecontests", str(DATA / "code_contests-test.parquet"))
    assert sorted(good) == ["codecontests/1_A. Sum", "codecontests/2_B. Max",
                            "codecontests/3_C. Echo"]
    assert "no private_tests or generated_tests" in str(bad["4_D. Broken"])
    assert "2 inputs but 1 outputs" in str(bad["5_E. Mismatch"])
    s = good["codecontests/1_A. Sum"]
    pub, priv = split_tests(s)
    assert s["split"] == "test" and s["test_kind"] == "stdin" and s["difficulty"] == "A"
    assert pub["cases"] == [{"input": "1 2\n", "output": "3\n"}]
    assert [c["input"] for c in priv["cases"]] == ["5 5\n", "0 0\n", "7 8\n", "1 1\n", "2 2\n"]
    assert (s["time_limit_s"], s["memory_mb"]) == (2.5, 256)
    assert s["canonical_solution"].startswith("print(sum(")  # the Python 3 one, not C++
    assert json.loads(s["meta"])["source"] == "CODEFORCES"
    capped, _ = ingest_rows("codecontests", str(DATA / "code_contests-test.parquet"),
                            Options(max_private_cases=3))
    c = capped["codecontests/1_A. Sum"]
    assert [x["input"] for x in split_tests(c)[1]["cases"]] == ["5 5\n", "0 0\n", "7 8\n"]
    assert "capped to first 3 of 5" in c["test_split_rule"]


def test_livecodebench_compressed_private_tests_and_functional_rows():
    good, bad = ingest_rows("livecodebench", str(DATA / "livecodebench" / "test.jsonl"))
    assert sorted(good) == ["livecodebench/3001", "livecodebench/abc001_a"]
    atc = good["livecodebench/abc001_a"]
    pub, priv = split_tests(atc)
    assert atc["test_kind"] == "stdin" and pub["cases"] == [{"input": "1 2\n", "output": "3\n"}]
    assert priv["cases"] == [{"input": "5 6\n", "output": "11\n"},
                             {"input": "0 0\n", "output": "0\n"}]
    assert atc["statement"].startswith("Add A and B\n\n")
    leet = good["livecodebench/3001"]
    pub, priv = split_tests(leet)
    assert leet["test_kind"] == "call" and leet["entry_point"] == "Solution.maxPairSum"
    assert pub["cases"] == [{"args": [[1, 2, 3], 2], "expected": 5}]
    assert priv["cases"][1] == {"args": [["a"], 0], "expected": None}
    assert "refusing to load global" in str(bad["cf1000"])
    assert "neither JSON nor" in str(bad["cf999"])


def test_livecodebench_decoder_never_runs_pickled_code(capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(BadRow, match="refusing to load global"):
        decode_cases(blob, "private_test_cases")
    assert "pwned" not in capsys.readouterr().out
    plain = base64.b64encode(zlib.compress(pickle.dumps('[{"input": "1", "output": "2"}]')))
    assert decode_cases(plain.decode(), "f") == [{"input": "1", "output": "2"}]


def test_humaneval_checks_that_call_prompt_helpers_are_self_contained():
    mod = adapter("humaneval")
    rows = {r["problem_id"]: r for _, r in normalize_all(mod, mod.load(None).rows, Options())}
    poly = split_tests(rows["humaneval/32"])[1]["test"]
    assert poly.index("def poly(") < poly.index("def check(") and "import math" in poly
    assert "sort_third(" not in split_tests(rows["humaneval/33"])[1]["test"]
    # the test alone (apart from the candidate's namespace) now passes the canonical solution
    for pid in ("humaneval/32", "humaneval/33", "humaneval/38", "humaneval/50"):
        r = rows[pid]
        cand: dict = {}
        exec(r["canonical_solution"], cand)
        test_ns: dict = {}
        exec(split_tests(r)[1]["test"], test_ns)
        test_ns["check"](cand[r["entry_point"]])
        assert "self-contained" in r["test_split_rule"]
    untouched = mod.load(None).rows[0][2]["test"]
    assert split_tests(rows["humaneval/0"])[1]["test"] == untouched
