"""Revision stage: CTRL's revision conversation on the default model, scored by the real sandbox."""

import pytest

from ctrl.config import from_dict
from ctrl.critique import CritiqueConfig
from ctrl.critique import run as synthesize
from ctrl.prompts import FINALIZE_INSTRUCTION
from ctrl.revise import ReviseConfig, judge_codes, run
from test_critique_data import PROBLEMS, problem_rows, stage1_inputs


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: torch's pool spins on an oversubscribed CI box; restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_revisions_follow_the_ctrl_conversation_and_are_judged(store):
    keys = stage1_inputs(store)
    crit = synthesize(store, CritiqueConfig(synthesizer="template", balance_correct=0.5), **keys)
    res = run(store, from_dict(ReviseConfig, {"generation.max_new_tokens": 8, "isolation": "none"}), critiques=crit.key,
              problems=keys["problems"], rollouts=keys["rollouts"])
    rows = store.read_table("revisions", res.key).to_pylist()
    kept = [c for c in store.read_table("critiques", crit.key).to_pylist() if not c["dropped"]]
    assert len(rows) == len(kept) == 4                     # dropped critiques are not revised
    rollouts = {r["rollout_id"]: r for r in store.read_table("rollouts", keys["rollouts"]).to_pylist()}
    by_crit = {c["critique_id"]: c for c in kept}
    for v in rows:
        roles = [m["role"] for m in v["prompt"]]
        assert roles[-3:] == ["user", "assistant", "user"] and v["round"] == 1
        assert v["prompt"][-2]["content"] == rollouts[v["rollout_id"]]["completion"]
        assert v["prompt"][-1]["content"].startswith(by_crit[v["critique_id"]]["critique"])
        assert v["prompt"][-1]["content"].endswith(FINALIZE_INSTRUCTION)
        assert v["status"] is not None and v["n_cases"] > 0
        if not v["code_found"]:
            assert v["passed"] is False                      # nothing to run is a failure
    assert run(store, from_dict(ReviseConfig, {"generation.max_new_tokens": 8, "isolation": "none"}), critiques=crit.key,
               problems=keys["problems"], rollouts=keys["rollouts"]).cached


def test_judge_codes_scores_revised_code_like_the_executions_stage():
    problems = {p["problem_id"]: p for p in problem_rows()}
    good, bad = PROBLEMS[1]["good"], "def is_not_prime(n):\n    return False\n"
    items = [dict(rollout_id=i, problem_id="mbpp/3", code=c, code_found=True, skip_reason=None)
             for i, c in (("good", good), ("bad", bad))]
    items.append(dict(rollout_id="none", problem_id="mbpp/3", code=None, code_found=False,
                      skip_reason=None))
    rows = judge_codes(items, problems, ReviseConfig(isolation="none"))
    assert [r["passed"] for r in rows] == [True, False, False]
    assert rows[1]["status"] == "wrong_answer" and rows[1]["n_passed"] == 2
