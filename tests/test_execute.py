"""The executions stage through the real store and the real sandbox, on real MBPP problems."""

from __future__ import annotations

import json
import pathlib

import pytest

from ctrl import execute, reference
from ctrl.execute import ExecuteConfig, SandboxFailure
from ctrl.reference import ReferenceConfig
from storage import artifact_key

N_PROBLEMS = 4


def put_problems(store, rows: list[dict], name: str = "p") -> str:
    key = artifact_key("test-problems", "1", {"name": name}, {})
    w = store.open_writer("problems", key, stage="test-problems", config={"name": name},
                          inputs={}, code_version="1")
    w.write_shard(0, rows)
    w.commit()
    return key


def put_rollouts(store, rows: list[dict], problems: str) -> str:
    key = artifact_key("test-rollouts", "1", {"n": len(rows), "ids": [r["rollout_id"] for r in rows]},
                       {"problems": problems})
    w = store.open_writer("rollouts", key, stage="test-rollouts", config={},
                          inputs={"problems": problems}, code_version="1")
    w.write_shard(0, rows, schema=reference.ROLLOUT_SCHEMA)
    w.commit(schema=reference.ROLLOUT_SCHEMA)
    return key


@pytest.fixture
def problems(store):
    """The first MBPP test-split problems, through the real ingest stage."""
    from ctrl.ingest import IngestConfig, run

    return run(store, IngestConfig(source="mbpp", split="test", limit=N_PROBLEMS)).key


@pytest.fixture
def refs(store, problems):
    cfg = ReferenceConfig(n_broken=2, shard_size=2)
    return reference.run(store, cfg, problems=problems).key


def test_canonical_passes_and_broken_fails(store, problems, refs):
    res = execute.run(store, ExecuteConfig(shard_size=3), rollouts=refs)
    rows = store.read_table("executions", res.key).to_pylist()
    n_cases = {(p["problem_id"], ts): len(json.loads(p[f"{ts}_tests"])["cases"])
               for p in store.read_table("problems", problems).to_pylist()
               for ts in ("public", "private")}
    assert res.rows == len(rows) == 4 * 3 * 2  # problems x (canonical + 2 broken) x test sets
    for r in rows:
        assert r["passed"] is (r["model"] == "canonical"), r
        assert r["isolation"]  # recorded per row
        assert r["n_cases"] == n_cases[(r["problem_id"], r["test_set"])] > 0
    broken = [r for r in rows if r["model"] == "canonical-broken"]
    assert {r["status"] for r in broken} <= {"wrong_answer", "runtime_error"}
    assert all(r["n_passed"] == 0 for r in broken)
    m = res.metrics
    assert m["pass_rate"]["canonical/public"] == m["pass_rate"]["canonical/private"] == 1.0
    assert m["pass_rate"]["canonical-broken/private"] == 0.0
    assert m["sandbox_errors"] == 0
    view = store.sql(f"SELECT count(*) AS n FROM executions WHERE artifact = '{res.key}'")
    assert view.column("n")[0].as_py() == 24


def test_cache_hit_and_resume_recomputes_only_missing_shard(store, problems, refs):
    cfg = ExecuteConfig(test_sets=("public",), shard_size=4)
    first = execute.run(store, cfg, rollouts=refs)
    assert not first.cached
    again = execute.run(store, cfg, rollouts=refs)
    assert again.cached and again.key == first.key
    # Same config with other workers: same artifact (workers only change speed).
    assert execute.run(store, ExecuteConfig(test_sets=("public",), shard_size=4, workers=1),
                       rollouts=refs).key == first.key
    # Simulate a crash after shard 0: no manifest, shard 1 and 2 lost.
    d = pathlib.Path(store.root) / "tables" / "executions" / first.key
    parts = sorted(d.glob("part-*.parquet"))
    assert len(parts) == 3
    before = parts[0].stat().st_mtime_ns
    (d / "_manifest.json").unlink()
    for p in parts[1:]:
        p.unlink()
    resumed = execute.run(store, cfg, rollouts=refs)
    assert not resumed.cached and resumed.key == first.key
    assert parts[0].stat().st_mtime_ns == before  # the finished shard was reused, not redone
    assert all(p.exists() for p in parts)
    old = sorted((r["rollout_id"], r["passed"]) for r in first_rows(store, first.key))
    assert old == sorted((r["rollout_id"], r["passed"]) for r in first_rows(store, resumed.key))
    assert resumed.rows == 12


def first_rows(store, key):
    return store.read_table("executions", key).to_pylist()


def test_rollouts_without_code_get_rows_not_dropped(store, problems, refs):
    base = store.read_table("rollouts", refs).to_pylist()[0]
    rows = [dict(base, rollout_id="nocode-1", code=None, code_found=False),
            dict(base, rollout_id="nocode-2", code="", code_found=True),
            dict(base, rollout_id="skipped", skip_reason="prompt too long"),
            dict(base, rollout_id="ok")]
    key = put_rollouts(store, rows, problems)
    res = execute.run(store, ExecuteConfig(), rollouts=key)
    out = {(r["rollout_id"], r["test_set"]): r for r in first_rows(store, res.key)}
    assert len(out) == 8
    for rid in ("nocode-1", "nocode-2", "skipped"):
        r = out[(rid, "private")]
        assert r["status"] == "syntax_error" and r["judge_rule"] == "no_code"
        assert r["passed"] is False and r["n_passed"] == 0 and r["n_cases"] >= 3
    assert out[("skipped", "public")]["cases"][0]["stderr"] == "prompt too long"
    assert out[("ok", "public")]["passed"] is (base["model"] == "canonical")


def test_sandbox_errors_are_counted_apart_and_fail_loudly(store, problems, refs):
    probs = store.read_table("problems", problems).to_pylist()
    probs[0]["private_tests"] = "{not json"  # our data is broken, not the candidate
    probs[1]["private_tests"] = json.dumps({"kind": "bogus", "cases": ["x"]})  # sandbox refuses
    bad = put_problems(store, probs, name="broken-tests")
    rolls = [dict(r) for r in store.read_table("rollouts", refs).to_pylist()]
    key = put_rollouts(store, rolls, bad)
    with pytest.raises(SandboxFailure, match="sandbox errors"):
        execute.run(store, ExecuteConfig(), rollouts=key)
    assert store.latest_key("executions") is None  # nothing committed
    res = execute.run(store, ExecuteConfig(max_sandbox_error_frac=0.5), rollouts=key)
    rows = first_rows(store, res.key)
    assert len(rows) == 24  # nothing dropped
    errs = [r for r in rows if r["status"] == "sandbox_error"]
    # canonical + 2 broken of each of the 2 problems with broken tests, private set only
    assert len(errs) == 6 and {r["test_set"] for r in errs} == {"private"}
    assert {r["problem_id"] for r in errs} == {probs[0]["problem_id"], probs[1]["problem_id"]}
    assert all(r["passed"] is None for r in errs)  # unknown, never scored as a failure
    assert any("bogus" in r["cases"][0]["stderr"] for r in errs)  # the sandbox's own reason
    assert res.metrics["sandbox_errors"] == 6
    # pass rates exclude them: canonical/private is still 100% over the 2 judged problems
    assert res.metrics["pass_rate"]["canonical/private"] == 1.0
    assert res.metrics["status_counts"]["sandbox_error"] == 6


def test_cli_reference_then_execute(store, problems, capsys):
    from ctrl.cli import main

    assert main(["execute", "--problems", problems, "--reference", "--test-sets", "public"]) == 0
    out = capsys.readouterr().out
    assert "reference rollouts" in out and "canonical-broken" in out
    assert "pass rate canonical/public" in out and "100.0%" in out
    assert "pass rate canonical-broken/public" in out and "0.0%" in out
    assert main(["execute", "--problems", problems, "--reference",
                 "--test-sets", "public,nonsense"]) == 2
    assert "public,private" in capsys.readouterr().err


def test_test_set_without_cases_is_no_tests_not_a_failure(store, problems, refs):
    probs = store.read_table("problems", problems).to_pylist()
    probs[0]["public_tests"] = json.dumps({"kind": "assert", "cases": []})
    key = put_rollouts(store, store.read_table("rollouts", refs).to_pylist(),
                       put_problems(store, probs, name="no-public"))
    res = execute.run(store, ExecuteConfig(), rollouts=key)
    rows = [r for r in first_rows(store, res.key) if r["problem_id"] == probs[0]["problem_id"]]
    public = [r for r in rows if r["test_set"] == "public"]
    assert len(public) == 3 and all(r["status"] == "no_tests" and r["passed"] is None
                                    and r["isolation"] is None for r in public)
    assert res.metrics["pass_rate"]["canonical/public"] == 1.0  # left out, not counted as 0
    from ctrl.feedback import merge_executions

    canon = sorted((r for r in rows if r["model"] == "canonical"), key=lambda r: r["test_set"])
    assert merge_executions(canon)["passed"] is True  # the empty public set does not sink it


def test_cli_fails_loudly_on_sandbox_errors(store, problems, refs, capsys):
    from ctrl.cli import main

    probs = store.read_table("problems", problems).to_pylist()
    for p in probs:
        p["public_tests"] = json.dumps({"kind": "bogus", "cases": ["x"]})
    bad = put_problems(store, probs, name="all-bogus")
    code = main(["execute", "--rollouts", refs, "--problems", bad, "--test-sets", "public"])
    err = capsys.readouterr().err
    assert code == 3
    assert "sandbox errors" in err and "re-run" in err  # says what happened and what to do
    assert store.latest_key("executions") is None
