"""The execution-feedback episode (RLEF): problem -> code -> public tests -> feedback -> ... ->
private verdict.

    episodes = run_episodes(handle, problems, SamplingParams(temperature=1.0), max_turns=3)
    episodes[0].turns[-1].passed_private

Turn t of every still-running episode is generated in one backend call and judged on the public
tests in one ``sandbox.judge`` call. An episode ends when its code passes the public tests or
at ``max_turns``; otherwise the attempt's public results are rendered by
``ctrl.feedback.rlef_feedback`` and appended as the next user turn (after the attempt's completion as the assistant turn). The last
turn's code of every episode is then judged on the private tests in one call. ``first`` gives
turn-1 completions taken from elsewhere (e.g. existing rollouts) instead of generating them.
Nothing here writes a table: RLEF's trainer and n@k evaluation turn episodes into rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ctrl.envs.judging import judge_codes
from ctrl.generation import SamplingParams


@dataclass
class Turn:
    """One attempt: what was generated, its public results and the feedback shown after it."""

    turn: int
    completion: str
    code: str | None
    code_found: bool
    public_statuses: list[str]
    passed_public: bool | None
    feedback: str | None = None          # the user turn shown next (None on the last turn)
    passed_private: bool | None = None   # set on the last turn only
    public: dict | None = None           # the public executions-format row


@dataclass
class Episode:
    episode_id: str
    problem: dict
    messages: list[dict]                 # the conversation so far
    turns: list[Turn] = field(default_factory=list)
    done: bool = False

    @property
    def passed_private(self) -> bool | None:
        return self.turns[-1].passed_private if self.turns else None


def run_episodes(handle: Any, problems: Sequence[dict], params: SamplingParams, *,
                 max_turns: int = 3, first: Sequence[str | None] | None = None,
                 episode_ids: Sequence[str] | None = None, isolation: str = "auto",
                 workers: int | None = None, feedback_tokens: int = 1024) -> list[Episode]:
    """Run one episode per problem, batched across episodes per turn (see module docstring).

    Args:
        handle: the generator (``ctrl.models.Handle``); ``params.n`` must be 1.
        max_turns: attempts per episode (>= 1).
        first: optional turn-1 completion per problem (None entries are generated).
        episode_ids: ids (default ``<problem_id>/e0``); they name the sandbox items too.
    """
    from ctrl.extract import extract_code
    from ctrl.feedback import rlef_feedback
    from ctrl.models import generate_texts
    from ctrl.prompts import generator_prompt

    if max_turns < 1 or params.n != 1:
        raise ValueError("run_episodes: max_turns >= 1 and one sample per turn (params.n == 1)")
    ids = list(episode_ids or [f"{p['problem_id']}/e0" for p in problems])
    eps = [Episode(i, p, generator_prompt(p)) for i, p in zip(ids, problems)]
    by_pid = {p["problem_id"]: p for p in problems}
    for t in range(1, max_turns + 1):
        live = [e for e in eps if not e.done]
        if not live:
            break
        given = dict(enumerate(first)) if t == 1 and first else {}  # turn 1: live == eps
        gen = [k for k in range(len(live)) if given.get(k) is None]
        texts = dict(zip(gen, (s[0] for s in generate_texts(
            handle, [live[k].messages for k in gen], params))))
        items = []
        for k, e in enumerate(live):
            text = given.get(k) if given.get(k) is not None else texts[k]
            ex = extract_code(text, e.problem.get("entry_point") or "")
            e.turns.append(Turn(t, text, ex.code, ex.code_found, [], None))
            items.append(dict(rollout_id=f"{e.episode_id}/t{t}", problem_id=e.problem["problem_id"],
                              code=ex.code, code_found=ex.code_found, skip_reason=None))
        rows = judge_codes(items, by_pid, test_set="public", isolation=isolation,
                           workers=workers)
        for e, row in zip(live, rows):
            turn = e.turns[-1]
            turn.public, turn.passed_public = row, row["passed"]
            turn.public_statuses = [c["status"] for c in row.get("cases") or []]
            if row["passed"] or t == max_turns:
                e.done = True
                continue
            turn.feedback = rlef_feedback(row, max_tokens=feedback_tokens, code=turn.code)
            e.messages = e.messages + [{"role": "assistant", "content": turn.completion},
                                       {"role": "user", "content": turn.feedback}]
    finals = [dict(rollout_id=f"{e.episode_id}/final", problem_id=e.problem["problem_id"],
                   code=e.turns[-1].code, code_found=e.turns[-1].code_found, skip_reason=None)
              for e in eps]
    for e, row in zip(eps, judge_codes(finals, by_pid, test_set="private", isolation=isolation,
                                       workers=workers)):
        e.turns[-1].passed_private = row["passed"]
    return eps
