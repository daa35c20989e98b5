"""Statement n-gram decontamination on real HumanEval/MBPP statements."""

from __future__ import annotations

from ctrl.datasets import Options, adapter, normalize_all
from ctrl.decontam import NgramIndex, decontaminate, tokens


def _statements(name: str, split: str | None = None) -> list[tuple[str, str]]:
    mod = adapter(name)
    rows = [r for _, r in normalize_all(mod, mod.load(split).rows, Options())]
    return [(r["problem_id"], r["statement"]) for r in rows]


def test_planted_copy_dropped_with_match_and_clean_problem_kept():
    index = NgramIndex(_statements("mbpp", "test"), n=10)
    mbpp_12 = dict(_statements("mbpp", "test"))["mbpp/12"]
    planted = {"problem_id": "train/planted", "statement": "Please solve this. " + mbpp_12}
    clean = {"problem_id": "train/clean", "statement": (
        "Given a weighted directed graph with n vertices and m edges, print the length of the "
        "shortest path from vertex 1 to vertex n, or -1 if it is unreachable.")}
    kept, dropped = decontaminate([planted, clean], index, threshold=0.5)
    assert kept == [clean]
    (row, pid, score), = dropped
    assert row is planted and pid == "mbpp/12" and 0.5 < score <= 1.0


def test_threshold_and_ngram_size_decide():
    index = NgramIndex([("eval/1", "one two three four five six seven eight nine ten")], n=5)
    half = {"problem_id": "t", "statement": "one two three four five six x y z w v u"}
    pid, score = index.best_match(half["statement"])
    assert pid == "eval/1" and abs(score - 2 / 8) < 1e-9  # 2 of 8 five-grams shared
    assert decontaminate([half], index, threshold=0.2)[1]
    assert not decontaminate([half], index, threshold=0.25)[1]  # strictly above


def test_short_statements_compare_whole():
    index = NgramIndex([("eval/a", "Reverse a string.")], n=10)
    assert index.best_match("reverse A string") == ("eval/a", 1.0)
    assert index.best_match("reverse a list") == (None, 0.0)
    assert tokens("Hello, World_2!") == ["hello", "world", "2"]
