"""The rollout stage on the real default model: rows, cache, skip_reason, determinism, and exact
resume after a real `ctrl rollout` subprocess is SIGKILLed mid-stage."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from ctrl.config import ConfigError, to_dict, from_dict
from ctrl.rollout import RolloutConfig, rollout_id, run

STATEMENTS = {
    "add": "Write a function to add two integers.",
    "rev": "Write a function to reverse a string.",
    "mx": "Write a python function to find the largest element of a list.",
    "cat": "Write a function to join a list of strings with commas.",
}


def _problem(pid: str, statement: str, entry: str, kind: str = "assert") -> dict:
    tests = {"kind": kind, "cases": [f"assert {entry}(1) is not None"], "setup": ""}
    if kind == "stdin":
        tests = {"kind": "stdin", "cases": [{"input": "3\n", "output": "9\n"}]}
        entry = ""
    return {"problem_id": f"unit/{pid}", "source": "unit", "split": "test", "difficulty": None,
            "statement": statement, "starter_code": "", "entry_point": entry, "test_kind": kind,
            "public_tests": json.dumps(tests), "private_tests": json.dumps(tests),
            "test_split_rule": "same", "time_limit_s": 2.0, "memory_mb": 256,
            "canonical_solution": None, "meta": "{}"}


def _write_problems(store, rows: list[dict]) -> str:
    w = store.open_writer("problems", "feedc0ffee000001", stage="ingest", config={}, inputs={},
                          code_version="test")
    w.write_shard(0, rows)
    w.commit()
    return "feedc0ffee000001"


def _problems(long_one: bool = False) -> list[dict]:
    rows = [_problem(k, v, k) for k, v in STATEMENTS.items()]
    rows.append(_problem("stdin", "Read n and print n squared.", "", kind="stdin"))
    if long_one:
        rows.append(_problem("zlong", "Write a function.\n" + "x = x + 1\n" * 1500, "f"))
    return rows


def _rows(store, key: str) -> list[dict]:
    return sorted(store.read_table("rollouts", key).to_pylist(), key=lambda r: r["rollout_id"])


def test_rollout_rows_cache_and_skip_reason(store):
    key = _write_problems(store, _problems(long_one=True))
    cfg = from_dict(RolloutConfig, {"samples": 2, "generation.max_new_tokens": 12, "shard_size": 4, "where": "source = 'unit'"})
    res = run(store, cfg, problems=key)
    assert not res.cached and res.rows == 6 * 2
    rows = store.read_table("rollouts", res.key).to_pylist()
    assert len({r["rollout_id"] for r in rows}) == 12
    for r in rows:
        assert r["rollout_id"] == rollout_id(r["problem_id"], "default", 0, r["sample_idx"], 0)
        assert r["prompt"][0]["role"] == "user" and r["temperature"] == 0.7
        assert (r["code"] is not None) == r["code_found"]
    long = [r for r in rows if r["problem_id"] == "unit/zlong"]
    assert [r["finish_reason"] for r in long] == ["prompt_too_long"] * 2
    assert all(r["skip_reason"].startswith("prompt_too_long") and not r["code_found"]
               for r in long)
    ok = [r for r in rows if r["problem_id"] != "unit/zlong"]
    assert all(r["skip_reason"] is None and 0 < r["n_tokens"] <= 12 for r in ok)
    stdin = [r for r in rows if r["problem_id"] == "unit/stdin"][0]
    assert "standard input" in stdin["prompt"][0]["content"]
    assert res.metrics["samples"] == 12 and res.metrics["skipped"] == 2
    again = run(store, cfg, problems=key)
    assert again.cached and again.key == res.key and again.rows == 12
    # limit selects the first problems by id; their rows are the same samples (seeded per prompt)
    part = run(store, from_dict(RolloutConfig, {"samples": 2, "generation.max_new_tokens": 12, "shard_size": 4,
                                              "limit": 2, "where": "source = 'unit'"}), problems=key)
    first = {(r["problem_id"], r["sample_idx"]): r["completion"] for r in rows}
    sub = store.read_table("rollouts", part.key).to_pylist()
    assert sorted({r["problem_id"] for r in sub}) == ["unit/add", "unit/cat"]
    assert all(first[(r["problem_id"], r["sample_idx"])] == r["completion"] for r in sub)


def test_config_rejects_bad_combinations():
    with pytest.raises(ConfigError, match="base_url"):
        from_dict(RolloutConfig, {"generation.backend": "openai"})
    with pytest.raises(ConfigError, match="--backend openai"):
        from_dict(RolloutConfig, {"generation.base_url": "http://x/v1"})
    with pytest.raises(ConfigError, match="top_p"):
        from_dict(RolloutConfig, {"generation.top_p": 1.5})


def test_bad_sql_filter_names_the_columns(store):
    key = _write_problems(store, _problems())
    with pytest.raises(ConfigError, match="columns are"):
        run(store, RolloutConfig(where="no_such_column = 1"), problems=key)


def _shards(root: pathlib.Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.glob("tables/rollouts/*/part-*.parquet")}


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, monkeypatch):
    from storage import Store

    args = ["--n", "2", "--max-new-tokens", "16", "--shard-size", "1", "--seed", "5"]
    problems = _problems()[:3]
    # Uninterrupted reference run, in-process.
    ref = Store(str(tmp_path / "ref"))
    key = _write_problems(ref, problems)
    cfg = from_dict(RolloutConfig, {"samples": 2, "generation.max_new_tokens": 16, "shard_size": 1, "generation.seed": 5})
    ref_rows = _rows(ref, run(ref, cfg, problems=key).key)
    # A real `ctrl rollout` process, killed with SIGKILL once its first shard is on disk.
    home = tmp_path / "killed"
    _write_problems(Store(str(home)), problems)
    env = {**os.environ, "CTRL_HOME": str(home), "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "ctrl", "rollout", "--problems", key, *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _shards(home) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _shards(home)
    assert before, "the first shard never landed"
    assert not list(home.glob("tables/rollouts/*/_manifest.json")), "killed before the end"
    assert len(before) < len(problems)
    # Re-run the same command: finished shards are kept as they are, the rest generated.
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    after = _shards(home)
    assert len(after) == len(problems)
    assert all(after[name] == before[name] for name in before), "a finished shard was rewritten"
    res_key = out.stdout.split()[1].rstrip(":")
    assert _rows(Store(str(home)), res_key) == ref_rows


def _write_problems_as(store, key: str, rows: list[dict]) -> str:
    w = store.open_writer("problems", key, stage="ingest", config={}, inputs={},
                          code_version="test")
    w.write_shard(0, rows)
    w.commit()
    return key


def test_new_problems_reuse_earlier_samples_and_match_a_fresh_rollout(store):
    from dataclasses import replace

    from ctrl.rollout import STAGE, TABLE, VERSION
    from ctrl.rollout_reuse import candidates

    # A scheduled retrain: the first run saw three problems; then one problem is new and one
    # ("rev") got another statement under the same id, so its old samples must not be reused.
    old = [_problem(k, STATEMENTS[k], k) for k in ("add", "cat", "rev")]
    new = [*old[:2], _problem("rev", "Write a function to reverse a list.", "rev"),
           _problem("mx", STATEMENTS["mx"], "mx")]
    cfg = from_dict(RolloutConfig, {"samples": 2, "generation.max_new_tokens": 8, "shard_size": 2})
    first = run(store, cfg, problems=_write_problems_as(store, "feedc0ffee00000a", old))
    assert first.metrics["problems_generated"] == 3 and first.metrics["problems_reused"] == 0
    # limit/shard_size/where do not change a problem's rows; sampling settings and model do
    assert [m["key"] for m in candidates(store, stage=STAGE, table=TABLE, version=VERSION,
            config=to_dict(replace(cfg, shard_size=5, limit=2)),
            fingerprint=first.manifest["inputs"]["model"])] == [first.key]
    for other, fp in [({"max_new_tokens": 9}, None), ({"seed": 1}, None), ({}, "sha256:other")]:
        assert candidates(store, stage=STAGE, table=TABLE, version=VERSION,
                          config=to_dict(replace(cfg, generation=replace(cfg.generation, **other))),
                          fingerprint=fp or first.manifest["inputs"]["model"]) == []

    second = run(store, cfg, problems=_write_problems_as(store, "feedc0ffee00000b", new))
    m = second.metrics
    assert (m["problems_reused"], m["problems_generated"], m["problems_resumed"]) == (2, 2, 0)
    assert second.manifest["reused_from"] == {first.key: 2}
    before = {r["rollout_id"]: r for r in _rows(store, first.key)}
    after = _rows(store, second.key)
    shared = [r for r in after if r["problem_id"] in ("unit/add", "unit/cat")]
    assert len(shared) == 4 and all(before[r["rollout_id"]] == r for r in shared)
    rev = [r for r in after if r["problem_id"] == "unit/rev"]
    assert all("reverse a list" in r["prompt"][0]["content"] for r in rev)

    # The same problems from scratch: the same table, every problem generated.
    scratch = run(store, replace(cfg, reuse=False), problems="feedc0ffee00000b")
    assert scratch.key != second.key and scratch.metrics["problems_generated"] == 4
    assert scratch.metrics["problems_reused"] == 0 and scratch.manifest["reused_from"] == {}
    assert _rows(store, scratch.key) == after
    # the counts are rows of the runs view
    got = store.sql("SELECT extra->>'$.metrics.problems_reused' AS n, "
                    "extra->>'$.reused_from' AS src FROM runs "
                    f"WHERE artifact = '{second.key}'").to_pylist()
    assert len(got) == 1 and got[0]["n"] == "2" and json.loads(got[0]["src"]) == {first.key: 2}
