"""Critique synthesis: hints per kind, drop filters with reasons, balancing, keep-per limits."""

import pytest

from ctrl.config import ConfigError, from_dict
from ctrl.critic_prompts import critique_messages, leaks_hint, template_critique
from ctrl.critique import CritiqueConfig, _keep_limits, balance, drop_reason, run
from ctrl.judgment import parse_judgment
from test_critique_data import EXPECTED_KIND, stage1_inputs

GOOD = """**Analysis**
The function builds both sets and intersects them, which is exactly the shared elements.
It runs in linear time and handles empty tuples.

**Improvement suggestions**
- Return a sorted tuple if a stable order matters to the caller.

Overall judgment: Correct"""


def test_template_synthesis_builds_the_hint_of_every_kind(store):
    keys = stage1_inputs(store)
    res = run(store, CritiqueConfig(synthesizer="template", balance_correct=0), **keys)
    rows = store.read_table("critiques", res.key).to_pylist()
    assert len(rows) == 10 and not res.cached
    for r in rows:
        variant = r["rollout_id"].rsplit("/", 1)[1]
        assert r["hint_kind"] == EXPECTED_KIND[variant], r["rollout_id"]
        assert r["origin"] == "synthesized" and r["critic_model"] == "template"
        assert r["hint"] in r["prompt"][-1]["content"]          # the synthesizer saw the hint
        assert not r["dropped"], (r["rollout_id"], r["drop_reason"])
        assert r["judgment"] == ("correct" if variant == "pass" else "incorrect")
        assert not leaks_hint(r["critique"])
    partial = next(r for r in rows if r["rollout_id"] == "mbpp/3/partial")
    assert "is_not_prime(37)" in partial["hint"] and "is_not_prime(37)" in partial["critique"]
    assert "time limit" in next(r["hint"] for r in rows if r["rollout_id"] == "mbpp/3/slow")
    assert "syntax error" in next(r["hint"] for r in rows if r["rollout_id"] == "mbpp/2/crash")
    # same inputs and config: a cache hit by key, and SQL sees the table
    assert run(store, CritiqueConfig(synthesizer="template", balance_correct=0), **keys).cached
    n = store.sql("SELECT count(*) AS n FROM critiques WHERE NOT dropped").column("n")[0].as_py()
    assert n == 10


def test_balancing_drops_surplus_failures_and_records_it(store):
    keys = stage1_inputs(store)  # per problem 1 passing, 4 failing solutions
    res = run(store, CritiqueConfig(synthesizer="template", balance_correct=0.5), **keys)
    rows = store.read_table("critiques", res.key).to_pylist()
    kept = [r for r in rows if not r["dropped"]]
    assert sum(r["judgment"] == "correct" for r in kept) == 2
    assert sum(r["judgment"] == "incorrect" for r in kept) == 2
    assert sum(r["drop_reason"] == "balance" for r in rows) == 6
    assert all(r["critique"] is None for r in rows if r["drop_reason"] == "balance")


def test_drop_filters_on_model_like_critiques():
    leak = GOOD.replace("It runs", "As the hint says, it passes all 3 tests. It runs")
    assert drop_reason(leak, "correct", True) == "leaks_hint"
    assert drop_reason(GOOD.replace("execution results show", ""), "correct", True) is None
    assert drop_reason("The execution results show it works.\nOverall judgment: Correct",
                       "correct", True) == "leaks_hint"
    babble = "def f(x):\n    return x\nimport os\nos.path.join("
    assert drop_reason(babble, parse_judgment(babble), False) == "no_judgment"
    assert drop_reason(GOOD, parse_judgment(GOOD), False) == "contradicts_execution"
    assert drop_reason(GOOD, parse_judgment(GOOD), True) is None
    wrong = GOOD.replace("Overall judgment: Correct", "Overall judgment: Incorrect")
    assert drop_reason(wrong, parse_judgment(wrong), True) == "contradicts_execution"
    assert drop_reason(wrong, parse_judgment(wrong), False) is None


def test_template_critiques_pass_the_filters_and_never_leak():
    for kind, hint, passed in [
        ("all_pass", "The solution passes all 3 tests. It is correct: write a short...", True),
        ("all_fail", "The solution fails every one of the 4 tests. The approach is wrong", False),
        ("partial", "The solution passes 2 of 3 tests. One failing test:\nInput:\nf(1)\n"
                    "Expected output:\n2\nActual output:\n3", False),
        ("timeout", "The solution exceeds the time limit on 2 of 3 tests.", False),
        ("error", "The code does not compile: it has a syntax error, so no test can run.\n"
                  "SyntaxError: invalid syntax", False),
    ]:
        text = template_critique(kind, hint, passed)
        assert drop_reason(text, parse_judgment(text), passed) is None, kind
    with pytest.raises(ValueError, match="unknown hint kind"):
        template_critique("weird", "", True)


def test_hint_free_prompt_is_the_synthesis_prompt_minus_the_hint():
    problem = {"statement": "Add two numbers.", "starter_code": ""}
    rollout = {"code": "def add(a, b):\n    return a - b\n"}
    with_hint = critique_messages(problem, rollout, "The solution fails every one of the 3 tests.")
    without = critique_messages(problem, rollout)
    assert "fails every one" in with_hint[-1]["content"]
    assert "fails every one" not in without[-1]["content"]
    assert "<information>" not in without[-1]["content"]
    assert without[-1]["content"].split("# Solution")[0] == with_hint[-1]["content"].split("# Solution")[0]
    assert "Overall judgment: Correct" in without[-1]["content"]


def test_balance_and_keep_limits_units():
    rows = [{"rollout_id": f"r{i}"} for i in range(6)]
    passed = {f"r{i}": i < 5 for i in range(6)}
    out = balance(rows, passed, 0.5, seed=1)
    assert len(out) == 4 and all(passed[r] for r in out)
    assert balance(rows, passed, 0.5, seed=1) == out          # seeded
    assert balance(rows, passed, 0, seed=1) == set()
    crit = [dict(rollout_id="a", problem_id="p", dropped=False, drop_reason=None),
            dict(rollout_id="a", problem_id="p", dropped=False, drop_reason=None),
            dict(rollout_id="b", problem_id="p", dropped=False, drop_reason=None)]
    _keep_limits(crit, "solution")
    assert [c["drop_reason"] for c in crit] == [None, "extra", None]


@pytest.mark.parametrize("bad, fix", [
    (dict(synthesizer="gpt"), "'model' or 'template'"),
    (dict(balance_correct=1.0), "share in"),
    (dict(keep_per="row"), "solution"),
    (dict(synthesizer="template", samples_per_solution=2), "samples_per_solution=1"),
])
def test_config_rejects_bad_values_naming_the_fix(bad, fix):
    with pytest.raises(ConfigError, match=fix):
        CritiqueConfig(**bad)


def test_model_synthesis_with_the_default_model_records_every_drop(store):
    keys = stage1_inputs(store)
    cfg = from_dict(CritiqueConfig, {"generation.max_new_tokens": 24, "balance_correct": 0,
                                         "max_solutions": 3, "samples_per_solution": 2})
    rows = store.read_table("critiques", run(store, cfg, **keys).key).to_pylist()
    assert len(rows) == 6 and {r["critic_model"] for r in rows} == {"default"}
    for r in rows:
        assert r["critique"] and r["hint"] in r["prompt"][-1]["content"]
        expect = drop_reason(r["critique"], parse_judgment(r["critique"]), r["passed"])
        if expect is None and r["dropped"]:
            expect = "extra"  # a second survivor for the same solution
        assert r["drop_reason"] == expect and r["dropped"] == (expect is not None)


def test_ctrl_synthesize_command_uses_the_newest_inputs(store, capsys):
    from ctrl.cli import main

    stage1_inputs(store)
    assert main(["--home", store.root, "synthesize", "--synthesizer", "template",
                 "--set", "balance_correct=0"]) == 0
    assert "critiques" in capsys.readouterr().out
    n = store.sql("SELECT count(*) AS n FROM critiques WHERE critic_model = 'template'")
    assert n.column("n")[0].as_py() == 10
    assert main(["--home", store.root, "synthesize", "--set", "synthesizer=oops"]) == 2


def test_hints_from_real_sandbox_executions_of_every_kind(store):
    from ctrl.execute import ExecuteConfig
    from ctrl.execute import run as execute
    from test_critique_data import problem_rows, rollout_rows, write

    problems = write(store, "problems", problem_rows(), "a" * 16)
    rollouts = write(store, "rollouts", [r for r in rollout_rows()
                                         if r["problem_id"] == "mbpp/3"], "b" * 16)
    ex = execute(store, ExecuteConfig(test_sets=("private",), isolation="none", time_limit_s=0.5),
                 rollouts=rollouts, problems=problems)
    res = run(store, CritiqueConfig(synthesizer="template", balance_correct=0),
              rollouts=rollouts, executions=ex.key, problems=problems)
    rows = store.read_table("critiques", res.key).to_pylist()
    kinds = {r["rollout_id"].rsplit("/", 1)[1]: r["hint_kind"] for r in rows}
    assert kinds == EXPECTED_KIND
    assert all(not r["dropped"] for r in rows)
    partial = next(r for r in rows if r["hint_kind"] == "partial")
    assert "is_not_prime(37)" in partial["hint"]
