"""Critique -> revision evaluation on real executions, the real default model and the sandbox."""

import os
import shutil

import pytest

from ctrl.config import ConfigError, from_dict
from ctrl.default_model import default_model_path
from ctrl.evaluate import EvalConfig, revision_rollouts, run
from ctrl.execute import ExecuteConfig
from ctrl.execute import run as execute
from test_critique_data import problem_rows, rollout_rows, write

FAST = dict(generation=from_dict(EvalConfig, {"generation.max_new_tokens": 8}).generation,
            n_resamples=200, isolation="none")
VARIANTS = ("/pass", "/wrong", "/partial")  # quick to judge; 1 of 3 passes


def _bench(store, only: str = "") -> dict:
    """Problems + hand-written solutions, executed for real by the executions stage."""
    problems = write(store, "problems", problem_rows(), "a" * 16)
    solutions = [r for r in rollout_rows() if r["rollout_id"].endswith(VARIANTS)
                 and r["rollout_id"].startswith(only)]
    rollouts = write(store, "rollouts", solutions, "b" * 16)
    ex = execute(store, ExecuteConfig(test_sets=("private",), isolation="none"),
                 rollouts=rollouts, problems=problems)
    return dict(problems=problems, rollouts=rollouts, executions=ex.key)


@pytest.fixture
def bench(store):
    return _bench(store)


def _metrics(store, key):
    rows = store.sql(f"SELECT * FROM eval_results WHERE artifact = '{key}'").to_pylist()
    return {r["metric"]: r for r in rows}


def test_self_critic_eval_delta_identity_cis_and_report(store, bench):
    none = run(store, EvalConfig(**FAST), critic=None, **bench)
    m0 = _metrics(store, none.key)
    assert set(m0) == {"pass1_before"}
    assert m0["pass1_before"]["value"] == pytest.approx(1 / 3)  # 'pass' variants of 2 problems
    assert m0["pass1_before"]["n"] == 6

    res = run(store, EvalConfig(**FAST), critic="self", **bench)
    m = _metrics(store, res.key)
    # revisions the sandbox could not judge (sandbox_error) are excluded, never scored as 0
    out = set(res.manifest["excluded_ids"])
    n = 6 - len(out)
    assert len(out) == res.manifest["excluded"]
    assert m["pass1_before"]["value"] == pytest.approx(
        sum(r.endswith("/pass") for r in out ^ {p + v for p in ("mbpp/2", "mbpp/3")
                                                 for v in VARIANTS}) / n)
    after, before = m["pass1_after"]["value"], m["pass1_before"]["value"]
    assert after == pytest.approx(before + m["delta_up"]["value"] - m["delta_down"]["value"],
                                  abs=1e-12)
    for name, r in m.items():
        assert r["ci_low"] <= r["value"] <= r["ci_high"], name
        assert r["critic"] == "self" and r["n"] == n
    revs = store.read_table("revisions", res.manifest["revisions"][0]).to_pylist()
    assert len(revs) == 6
    assert {v["rollout_id"] for v in revs if v["passed"] is None} == out
    assert sum(bool(v["passed"]) for v in revs) == round(after * n)
    crit = store.read_table("critiques", res.manifest["critiques"][0]).to_pylist()
    assert {c["origin"] for c in crit} == {"critic"} and len(crit) == 6
    assert all("<information>" not in c["prompt"][-1]["content"] for c in crit)

    report = os.path.join(store.table_dir("eval_results", res.key), "report")
    md = open(os.path.join(report, "report.md")).read()
    assert f"| self | {n} |" in md and "| none | 6 |" in md           # compares with the earlier run
    assert os.path.getsize(os.path.join(report, "pass1.png")) > 1000
    assert run(store, EvalConfig(**FAST), critic="self", **bench).cached


def test_store_model_key_as_critic_and_two_rounds(store, tmp_path):
    bench = _bench(store, only="mbpp/3/")
    # a model artifact in the store (a copy of the default model) named by its key
    src = tmp_path / "critic"
    shutil.copytree(default_model_path(), src)
    store.commit_model("d" * 16, str(src), stage="sft", config={}, inputs={}, code_version="0")
    res = run(store, EvalConfig(rounds=2, **FAST), critic="d" * 16, **bench)
    m = _metrics(store, res.key)
    assert {"pass1_round1", "pass1_round2"} <= set(m)
    assert m["pass1_after"]["value"] == m["pass1_round2"]["value"]
    assert m["pass1_after"]["value"] == pytest.approx(
        m["pass1_before"]["value"] + m["delta_up"]["value"] - m["delta_down"]["value"])
    assert len(res.manifest["critiques"]) == 2
    second = store.read_table("critiques", res.manifest["critiques"][1]).to_pylist()
    assert {c["critic_model"] for c in second} == {"d" * 16}
    turns = store.sql("SELECT DISTINCT turn FROM rollouts WHERE artifact <> 'bbbbbbbbbbbbbbbb'")
    assert turns.column("turn").to_pylist() == [1]


def test_stop_on_correct_keeps_solutions_judged_correct(store):
    rollouts = write(store, "rollouts", rollout_rows()[:2], "b" * 16)
    crit = [dict(critique_id="c0", rollout_id=r["rollout_id"], judgment=j)
            for r, j in zip(rollout_rows()[:2], ["correct", "incorrect"])]
    critiques = write(store, "critiques", crit, "c" * 16)
    revs = [dict(rollout_id=r["rollout_id"], completion="revised", code="x = 1",
                 code_found=True) for r in rollout_rows()[:2]]
    revisions = write(store, "revisions", revs, "e" * 16)
    for stop, kept_code in ((True, [False, True]), (False, [True, True])):
        key = revision_rollouts(store, rollouts=rollouts, critiques=critiques,
                                revisions=revisions, round_=1, stop_on_correct=stop)
        rows = store.read_table("rollouts", key).to_pylist()
        assert [r["code"] == "x = 1" for r in rows] == kept_code
        assert {r["turn"] for r in rows} == {1}


def test_eval_config_rejects_zero_rounds():
    with pytest.raises(ConfigError, match="at least 1"):
        EvalConfig(rounds=0)


def test_ctrl_eval_command_without_critic(store, bench, capsys):
    from ctrl.cli import main

    assert main(["--home", store.root, "eval", "--problems", bench["problems"],
                 "--rollouts", bench["rollouts"], "--executions", bench["executions"],
                 "--critic", "none", "--n-resamples", "10", "--benchmark", "hand"]) == 0
    out = capsys.readouterr().out
    assert "eval_results" in out and "report.md" in out
    rows = store.sql("SELECT metric, value FROM eval_results WHERE benchmark = 'hand'").to_pylist()
    assert rows == [{"metric": "pass1_before", "value": pytest.approx(1 / 3)}]
