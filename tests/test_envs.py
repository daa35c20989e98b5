"""Environments on the embedded default model and the real sandbox: revision and the
execution-feedback episode. The tiny model solves nothing, so the verdicts asserted here are the
ones the sandbox decides on code we give (known-good / known-wrong), next to real generations."""

from __future__ import annotations

import json

import pytest

from ctrl.envs.episode import run_episodes
from ctrl.envs.revision import Revision, RevisionCase, judge, revise_and_judge
from ctrl.generation import SamplingParams
from ctrl.models import ModelPool
from ctrl.prompts import FINALIZE_INSTRUCTION

CALL = {"kind": "call", "entry_point": "square",
        "cases": [{"args": [n], "expected": n * n} for n in (2, 3, 4)]}
GOOD = "def square(n):\n    return n * n\n"
WRONG = "def square(n):\n    return n + n\n"          # right on 2 only


def _problem(pid: str) -> dict:
    tests = json.dumps(CALL)
    return dict(problem_id=pid, source="unit", split="test", statement="Return n squared.",
                starter_code="", entry_point="square", test_kind="call", public_tests=tests,
                private_tests=tests, time_limit_s=2.0, memory_mb=256, canonical_solution=GOOD)


@pytest.fixture(scope="module")
def gen():
    return ModelPool().get("default")


def _fenced(code: str) -> str:
    return f"```python\n{code}```"


def test_revision_batch_generates_once_and_the_sandbox_decides(gen):
    probs = {p: _problem(p) for p in ("u/a", "u/b")}
    prompt = [{"role": "user", "content": "Write square(n)."}]
    cases = [RevisionCase(f"{p}/r1", p, prompt, _fenced(WRONG), "Wrong: 3 -> 6, expected 9.")
             for p in probs]
    revs = revise_and_judge(gen, cases, probs, SamplingParams(temperature=0, max_new_tokens=16),
                            test_set="private", workers=2)
    assert [r.case.revision_id for r in revs] == ["u/a/r1", "u/b/r1"]
    for r in revs:
        assert r.prompt[-2] == {"role": "assistant", "content": _fenced(WRONG)}
        assert r.prompt[-1]["content"].endswith(FINALIZE_INSTRUCTION)
        assert r.execution["n_cases"] == 3 and r.execution["status"] is not None
        assert r.passed is False  # the tiny model does not write a correct square
    # same batch, the code given: the sandbox's verdicts, full vs reward mode
    made = [Revision(RevisionCase(f"u/a/{k}", "u/a", prompt, "", ""), [], "", code, True)
            for k, code in (("good", GOOD), ("wrong", WRONG))]
    judge(made, probs, test_set="private", workers=2, mode="full")
    assert [m.passed for m in made] == [True, False]
    assert made[1].execution["n_passed"] == 1 and len(made[1].execution["cases"]) == 3
    judge(made, probs, test_set="private", workers=2, mode="reward")
    assert [m.passed for m in made] == [True, False]
    assert len(made[1].execution["cases"]) == 2   # stopped at the first failing case (n = 3)


def test_episode_feedback_turns_and_private_verdict(gen):
    probs = [_problem("u/wrong"), _problem("u/good"), _problem("u/model")]
    eps = run_episodes(gen, probs, SamplingParams(temperature=0, max_new_tokens=24), max_turns=2,
                       first=[_fenced(WRONG), _fenced(GOOD), None], workers=2)
    wrong, good, model = eps
    # a passing first attempt ends the episode at once, private verdict from the sandbox
    assert len(good.turns) == 1 and good.turns[0].passed_public is True
    assert good.turns[0].feedback is None and good.passed_private is True
    # a failing attempt gets the failing public cases as feedback, then a second turn
    t1 = wrong.turns[0]
    assert t1.passed_public is False and t1.public_statuses == ["pass", "wrong_answer",
                                                                "wrong_answer"]
    assert "failed 2 of 3" in t1.feedback and "9" in t1.feedback and "6" in t1.feedback
    assert len(wrong.turns) == 2 and wrong.turns[1].turn == 2
    assert wrong.messages[-1] == {"role": "user", "content": t1.feedback}
    assert wrong.messages[-2] == {"role": "assistant", "content": _fenced(WRONG)}
    assert wrong.turns[1].feedback is None and wrong.passed_private is False
    assert wrong.turns[0].passed_private is None       # only the final turn is judged privately
    # a generated first attempt: judged like any other (the tiny model never passes)
    assert model.turns[0].completion and model.passed_private is False
    assert len(model.turns) == 2
